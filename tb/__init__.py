# SPDX-License-Identifier: MIT
"""Testbench, arranged by role (docs/architecture.md, "Testbench layout"): the command-line
programs are this package's own modules (``python -m tb.sim``, ``python -m tb.bench``, with
tb.cli and tb.sim_scenarios), cocotb libraries are in tb.lib, cocotb test modules in
tb.benches, build code in tb.runner."""

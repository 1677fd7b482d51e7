# SPDX-License-Identifier: MIT
"""Build code: the Verilator toolchain check, cached builds and simulator runs (build.py) and
pytest's grouping of cocotb tests into one simulator process (groups.py).

It runs outside the simulator and imports nothing else from tb/ (docs/architecture.md,
"Testbench layout")."""

# SPDX-License-Identifier: MIT
"""cocotb libraries: the pieces a cocotb test module puts together (PCIe host, XGMII sources,
the system rig, the DMA-level harness, the scoreboard and its reference parser, traffic).

They run inside the simulator and import model/, sw/ and each other, never tb.runner, the
programs or the test modules (docs/architecture.md, "Testbench layout";
tests/test_layout.py checks it)."""

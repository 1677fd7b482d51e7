# SPDX-License-Identifier: MIT
"""cocotb test modules the programs hand to cocotb's runner by name (``tb.benches.sim_tb``
for `make sim`, ``tb.benches.bench_tb`` for `make bench`).

They import tb.lib, model/, sw/ and the job definitions of the program that runs them
(tb.sim_scenarios, tb.bench), never tb.runner (docs/architecture.md, "Testbench layout")."""

# SPDX-License-Identifier: MIT
"""`make bench` (``python -m tb.bench``, tb.bench.cli): plan -> run -> collect -> report and
plots. tb.bench.plan imports nothing of the simulator, so the cocotb side
(tb/benches/bench_tb.py) takes its constants from there; docs/bench.md defines the figures."""

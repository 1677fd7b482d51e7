# SPDX-License-Identifier: MIT
"""`make sim`: build the RTL once, run a scenario in Verilator, print a report.

Usage: python -m tb.sim [--frames N] [--seed S]   (make sim SIM_ARGS='--frames 64')
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import NoReturn

from tb.build import BUILD_ROOT, ToolchainError, build, run, top_sources


class OneLineParser(argparse.ArgumentParser):
    """Bad options end in one readable line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"splitrx sim: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="make sim", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=positive, default=16, help="DMA writes to issue (16)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (1)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        b = build("splitrx_top", top_sources("splitrx_top"))
    except ToolchainError as exc:
        print(f"splitrx sim: toolchain: {exc}", file=sys.stderr)
        return 1
    t_build = time.perf_counter() - t0
    report_path = BUILD_ROOT / "last-sim-report.json"
    report_path.unlink(missing_ok=True)
    try:
        run(
            b,
            "tb.sim_tb",
            seed=args.seed,
            extra_env={"SPLITRX_REPORT": str(report_path), "SPLITRX_FRAMES": str(args.frames)},
            test_dir=BUILD_ROOT / "last-sim",
            log_file=BUILD_ROOT / "last-sim" / "sim.log",
        )
    except (AssertionError, SystemExit) as exc:
        print(
            f"splitrx sim: FAILED: {exc} (log: {BUILD_ROOT / 'last-sim' / 'sim.log'})",
            file=sys.stderr,
        )
        return 1
    r = json.loads(report_path.read_text())
    rate = r["user_clk_cycles"] / r["wall_s"] if r["wall_s"] else 0.0
    print(f"splitrx sim — scenario {r['scenario']} (seed {args.seed})")
    print(f"  device     ID {r['id']} version {r['version']}, {r['rx_queues']} RX queues")
    print(f"  DMA        {r['dma_writes']} writes landed, {r['dma_faults']} faults")
    print(f"  checks     {'all passed' if r['checks_passed'] else 'FAILED'}")
    print(
        f"  simulated  {r['sim_ns'] / 1000:.1f} us = {r['user_clk_cycles']} user-clock cycles "
        f"in {r['wall_s']:.2f} s wall ({rate:,.0f} cycles/s); build {t_build:.1f} s"
    )
    return 0 if r["checks_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

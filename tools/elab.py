# SPDX-License-Identifier: MIT
"""Strict SystemVerilog elaboration with slang (PyPI pyslang): `python -m tools.elab TOP...`.

Verilator accepts code that the standard does not, such as an identifier used before its
declaration; slang, the front end yosys's read_slang shares, refuses it. Each named top is
elaborated from the same file list as its Verilator build, with slang's default warnings and
no relaxing option; any error or warning fails. Waivers, if one is ever needed (generated
code), live in synth/slang_waivers.txt, one `-Wno-<name>` per line with its reason beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WAIVERS = REPO / "synth" / "slang_waivers.txt"
# The tops make lint and make synth elaborate strictly.
STRICT_TOPS = ("splitrx_top", "splitrx_core")


def waiver_args() -> list[str]:
    """`-Wno-...` options from the waiver file (text after '#' is the reason)."""
    if not WAIVERS.exists():
        return []
    out = []
    for line in WAIVERS.read_text().splitlines():
        opt = line.split("#", 1)[0].strip()
        if opt:
            if not opt.startswith("-Wno-"):
                raise SystemExit(f"{WAIVERS.relative_to(REPO)}: not a -Wno- waiver: {opt}")
            out.append(opt)
    return out


def elaborate(top: str, files: list[Path]) -> tuple[int, int]:
    """Elaborate ``top``; prints slang's diagnostics and returns (errors, warnings)."""
    from pyslang.driver import CommandLineOptions, Driver

    d = Driver()
    d.addStandardArgs()
    args = ["slang", "--top", top, *waiver_args(), *map(str, files)]
    if not d.parseCommandLine(" ".join(args), CommandLineOptions()) or not d.processOptions():
        return 1, 0
    if not d.parseAllSources():
        return max(1, d.diagEngine.numErrors), d.diagEngine.numWarnings
    comp = d.createCompilation()
    d.reportCompilation(comp, True)
    d.runAnalysis(comp)
    d.reportDiagnostics(True)
    return d.diagEngine.numErrors, d.diagEngine.numWarnings


def main(argv: list[str] | None = None) -> int:
    from tb.runner.build import top_sources

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tops", nargs="+", help="design tops (e.g. splitrx_top splitrx_core)")
    args = ap.parse_args(argv)
    bad = 0
    for top in args.tops:
        errors, warnings = elaborate(top, top_sources(top))
        print(f"slang: {top}: {errors} errors, {warnings} warnings")
        bad += errors + warnings
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: MIT
"""`make lint`: verilator --lint-only -Wall on every RTL module (rtl/, the simulation-only
tops in tb/rtl/ and the test tops in tests/rtl/) as its own top (waivers only in rtl/lint.vlt),
strict slang elaboration of the design tops (tools.elab), generated files current, ruff on the
Python, mypy on model/ and sw/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tb.runner.build import RTL, RTL_PACKAGES, ToolchainError, ensure_toolchain
from tools.elab import STRICT_TOPS
from tools.gen import stale

REPO = Path(__file__).resolve().parent.parent


def rtl_modules() -> list[Path]:
    pkgs = {p.resolve() for p in RTL_PACKAGES}
    files = sorted(RTL.glob("*.sv")) + sorted((RTL / "generated").glob("*.sv"))
    files += sorted((REPO / "tb" / "rtl").glob("*.sv"))  # simulation-only tops
    return [f for f in files if f.resolve() not in pkgs and not f.name.endswith("_pkg.sv")]


def lint_sim_models() -> list[str]:
    """Each simulation model (tb/rtl/sim/) on its own: it has the name of an RTL module."""
    failures = []
    for mod in sorted((REPO / "tb" / "rtl" / "sim").glob("*.sv")):
        cmd = ["verilator", "--lint-only", "-Wall", str(RTL / "lint.vlt"), str(mod),
               "--top-module", mod.stem]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            failures.append(f"sim model {mod.stem}")
            print(f"verilator lint: sim model {mod.stem}\n{res.stderr}", file=sys.stderr)
        else:
            print(f"verilator lint: sim model {mod.stem} clean")
    return failures


def lint_test_tops() -> list[str]:
    """Each test top (tests/rtl/) on its own, with the design and the assertion checkers
    (tb/rtl/assert/, its package first; the bind files stay out: they bind into whole designs)."""
    checkers = sorted((REPO / "tb" / "rtl" / "assert").glob("*.sv"))
    checkers = [f for f in checkers if f.name.endswith("_pkg.sv")] + [
        f for f in checkers if not f.name.endswith("_pkg.sv") and not f.name.startswith("bind_")
    ]
    failures = []
    for top in sorted((REPO / "tests" / "rtl").glob("*.sv")):
        cmd = [
            "verilator", "--lint-only", "-Wall", "--assert", str(RTL / "lint.vlt"),
            *map(str, RTL_PACKAGES), *map(str, rtl_modules()), *map(str, checkers), str(top),
            "--top-module", top.stem,
        ]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            failures.append(f"test top {top.stem}")
            print(f"verilator lint: test top {top.stem}\n{res.stderr}", file=sys.stderr)
        else:
            print(f"verilator lint: test top {top.stem} clean")
    return failures


def lint_rtl() -> list[str]:
    failures = lint_sim_models() + lint_test_tops()
    modules = rtl_modules()
    for mod in modules:
        top = mod.stem
        cmd = [
            "verilator", "--lint-only", "-Wall", str(RTL / "lint.vlt"),
            *map(str, RTL_PACKAGES), *map(str, modules), "--top-module", top,
        ]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            failures.append(top)
            print(f"verilator lint: {top}\n{res.stderr}", file=sys.stderr)
        else:
            print(f"verilator lint: {top} clean")
    return failures


def main() -> int:
    try:
        print(ensure_toolchain())
    except ToolchainError as exc:
        print(f"splitrx: toolchain: {exc}", file=sys.stderr)
        return 1
    failures = lint_rtl()
    strict = subprocess.run([sys.executable, "-m", "tools.elab", *STRICT_TOPS], cwd=REPO)
    if strict.returncode != 0:
        failures.append("slang elaboration")
    bad = stale()
    for p in bad:
        print(f"stale generated file: {p.relative_to(REPO)} (run 'make regs')", file=sys.stderr)
    py = [sys.executable, "-m"]
    for name, cmd in (
        ("ruff check", [*py, "ruff", "check", "."]),
        ("ruff format", [*py, "ruff", "format", "--check", "."]),
        ("mypy", [*py, "mypy"]),
    ):
        if subprocess.run(cmd, cwd=REPO).returncode != 0:
            failures.append(name)
    if failures or bad:
        print(f"lint failed: {', '.join(failures + ['generated'] * bool(bad))}", file=sys.stderr)
        return 1
    print("lint clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: MIT
"""tb/ is arranged by role (docs/architecture.md, "Testbench layout"); each role may import
only what the table there allows. This reads every import statement (function-local ones
too) of every Python file under model/, sw/ and tb/ and fails on the first one out of place."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# role -> tb modules it may import (a name matches itself and its submodules)
ALLOWED_TB = {
    "core": (),  # model/, sw/: the host model and software know nothing of the testbench
    "runner": ("tb.runner",),
    "lib": ("tb.lib",),
    "benches": ("tb.lib", "tb.sim_scenarios", "tb.bench"),
    # tb.lib.specs: the owners a scenario sets up, plain data (no cocotb)
    "programs": ("tb.runner", "tb.cli", "tb.sim_scenarios", "tb.bench", "tb.lib.specs"),
}
# The programs run outside the simulator: cocotb itself is only for code cocotb loads.
FORBIDDEN_TOP = {"programs": ("cocotb", "cocotbext"), "runner": ("cocotb", "cocotbext")}


def role_of(rel: Path) -> str:
    parts = rel.parts
    if parts[0] in ("model", "sw"):
        return "core"
    assert parts[0] == "tb", rel
    if len(parts) > 2 and parts[1] in ("runner", "lib", "benches"):
        return parts[1]
    return "programs"  # tb/*.py and the tb/bench package


def module_of(rel: Path) -> str:
    mod = ".".join(rel.with_suffix("").parts)
    return mod.removesuffix(".__init__")


def imported(tree: ast.AST, mod: str, is_pkg: bool) -> list[tuple[int, str]]:
    """(line, module) for every import; ``from tb import x`` counts as ``tb.x``."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            if base == "tb":
                out += [(node.lineno, f"tb.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, base))
    return out


def violations(rel: Path, source: str) -> list[str]:
    role = role_of(rel)
    mod = module_of(rel)
    bad = []
    for line, name in imported(ast.parse(source), mod, rel.name == "__init__.py"):
        top = name.split(".")[0]
        if top == "tb":
            ok = any(name == a or name.startswith(a + ".") for a in ALLOWED_TB[role])
            if not ok:
                bad.append(f"{rel}:{line}: {role} module imports {name}")
        elif top in FORBIDDEN_TOP.get(role, ()):
            bad.append(f"{rel}:{line}: {role} module imports {name}")
    return bad


def python_files() -> list[Path]:
    files = [p for d in ("model", "sw", "tb") for p in sorted((REPO / d).rglob("*.py"))]
    return [p.relative_to(REPO) for p in files]


@pytest.mark.parametrize("program", ["tb.sim", "tb.bench.cli", "tb.sim_scenarios"])
def test_a_program_loads_no_cocotb(program: str) -> None:
    code = f"import sys, {program}; print(sorted(m for m in sys.modules if 'cocotb' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out


def test_tb_has_the_four_roles() -> None:
    roles = {role_of(p) for p in python_files()}
    assert roles == set(ALLOWED_TB), roles
    for pkg in ("runner", "lib", "benches"):
        assert (REPO / "tb" / pkg / "__init__.py").exists()


@pytest.mark.parametrize("rel", python_files(), ids=str)
def test_imports_follow_the_layout(rel: Path) -> None:
    assert violations(rel, (REPO / rel).read_text()) == []


@pytest.mark.parametrize(
    ("rel", "source"),
    [
        ("tb/lib/x.py", "from tb.runner.build import build"),
        ("tb/lib/x.py", "def f():\n    from tb import sim\n"),
        ("tb/runner/x.py", "from tb.lib.common import deadline"),
        ("tb/runner/x.py", "import cocotb"),
        ("tb/benches/x.py", "from tb.runner import groups"),
        ("tb/sim.py", "from tb.lib.system import SystemRig"),
        ("tb/sim_scenarios.py", "from tb.lib.traffic import scapy_frame"),
        ("tb/sim.py", "from cocotb.triggers import Timer"),
        ("tb/bench/run.py", "from tb.benches.bench_tb import Host"),
        ("tb/bench/run.py", "from ..lib import pcie"),
        ("model/x.py", "from tb.lib import parse_ref"),
    ],
)
def test_checker_flags_an_import_out_of_place(rel: str, source: str) -> None:
    assert len(violations(Path(rel), source)) == 1

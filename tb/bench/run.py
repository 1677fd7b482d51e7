# SPDX-License-Identifier: MIT
"""Running `make bench`'s jobs: each in a worker process, one simulator process per job
(cocotb's runner on tb.benches.bench_tb, or `python -m tb.sim` as a user runs it), with
the CPU time it used and, for profiled jobs, the profile summed by package. A job's raw
result is the JSON the cocotb side wrote (its points), read by tb.bench.collect."""

from __future__ import annotations

import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from tb.bench.plan import SYSTEM_TOP


def job_dir(name: str) -> Path:
    from tb.runner.build import BUILD_ROOT

    return BUILD_ROOT / "bench" / name


def build_top(top: str) -> float:
    from tb.runner.build import build, top_sources

    t0 = time.perf_counter()
    build(top, top_sources(top))
    return time.perf_counter() - t0


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job (in a worker process); never raises: a failure is in ``error``."""
    d = job_dir(job["name"])
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"name": job["name"], "type": job["type"], "error": None}
    try:
        if job["type"] == "tbsim":
            out.update(run_tbsim(job, d))
        else:
            out.update(run_cocotb(job, d))
    except Exception as exc:  # noqa: BLE001 - reported, the other jobs go on
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    out["wall_s"] = time.perf_counter() - t0
    return out


def run_cocotb(job: dict[str, Any], d: Path) -> dict[str, Any]:
    from tb.runner.build import build, run, top_sources

    top = {"core": "splitrx_core", "system": SYSTEM_TOP}.get(job["type"], "splitrx_top")
    b = build(top, top_sources(top))
    (d / "job.json").write_text(json.dumps(job))
    result = d / "points.jsonl"
    env = {
        "SPLITRX_BENCH_JOB": str(d / "job.json"),
        "SPLITRX_BENCH_RESULT": str(result),
        "SPLITRX_PROGRESS_FILE": str(d / "progress"),
    }
    if job.get("profile"):
        env["COCOTB_ENABLE_PROFILING"] = "1"
    test = {"system": "system_points", "pinned": "pinned_points"}.get(job["type"], "core_points")
    names = [f"{test}/point={i}" for i in range(len(job["tasks"]))]  # cocotb.parametrize's
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    err = None
    try:
        run(
            b,
            "tb.benches.bench_tb",
            names,
            extra_env=env,
            test_dir=d / "run",
            log_file=d / "sim.log",
        )
    except (AssertionError, SystemExit, RuntimeError) as exc:
        err = f"simulation failed: {exc} (log: {d / 'sim.log'})"
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: dict[str, Any] = {
        "run_wall_s": wall,
        "cpu_s": ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime,
        "log": str(d / "sim.log"),
    }
    points = []
    if result.exists():
        points = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
    out["result"] = {"points": points}
    if len(points) < len(job["tasks"]) and not err:
        err = f"{len(job['tasks']) - len(points)} points did not report (log: {d / 'sim.log'})"
    if err:
        out["error"] = err
    pstat = d / "run" / "cocotb.pstat"
    if job.get("profile") and pstat.exists():
        out["profile"] = profile_groups(pstat, wall)
    return out


def run_tbsim(job: dict[str, Any], d: Path) -> dict[str, Any]:
    """`python -m tb.sim --frames N --seed S` as a user runs it, then once more with
    COCOTB_ENABLE_PROFILING=1 for the profile (the two share build/sim/last-sim, so they run
    one after the other)."""
    from tb.runner.build import BUILD_ROOT, REPO

    out: dict[str, Any] = {}
    cmd = [
        sys.executable,
        "-m",
        "tb.sim",
        "--frames",
        str(job["frames"]),
        "--seed",
        str(job["seed"]),
    ]
    runs: list[tuple[str, dict[str, str]]] = [("plain", {})]
    if job["profile"]:
        runs.append(("profiled", {"COCOTB_ENABLE_PROFILING": "1"}))
    for label, extra in runs:
        env = dict(os.environ, **extra)
        t0 = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - t0
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        (d / f"tb-sim-{label}.out").write_text(p.stdout + p.stderr)
        rep = BUILD_ROOT / "last-sim-report.json"
        run: dict[str, Any] = {
            "command": " ".join(["python", "-m", "tb.sim", *cmd[3:]]),
            "returncode": p.returncode,
            "process_wall_s": wall,
            "process_cpu_s": cpu,  # tb.sim and the simulator it starts, start-up included
            "stdout": p.stdout,
        }
        if rep.exists():
            run["report"] = json.loads(rep.read_text())
        pstat = BUILD_ROOT / "last-sim" / "cocotb.pstat"
        if label == "profiled" and pstat.exists():
            shutil.copy(pstat, d / "tb-sim.pstat")
            pstat.unlink()
            run["profile"] = profile_groups(d / "tb-sim.pstat", wall)
        out[label] = run
    out["cpu_s"] = sum(r["process_cpu_s"] for r in out.values())
    return out


# -- profile ----------------------------------------------------------------------------------

GROUPS = (
    "our code (model/, sw/, tb/)",
    "cocotb",
    "cocotbext-pcie",
    "cocotbext-eth/axi",
    "scapy",
    "Python, not attributed",
)


def file_group(path: str) -> str | None:
    """The group of a profiled function's file; None for the standard library and built-ins
    (charged to whoever called them)."""
    from tb.runner.build import REPO

    p = path.replace("\\", "/")
    if "/cocotbext/pcie/" in p:
        return "cocotbext-pcie"
    if "/cocotbext/eth/" in p or "/cocotbext/axi/" in p:
        return "cocotbext-eth/axi"
    if "/cocotb/" in p or "/cocotb_tools/" in p or "/cocotb_bus/" in p:
        return "cocotb"
    if "/scapy/" in p:
        return "scapy"
    for sub in ("model", "sw", "tb", "tests"):
        if p.startswith(f"{REPO}/{sub}/"):
            return GROUPS[0]
    return None


def profile_groups(path: Path, wall_s: float) -> dict[str, Any]:
    """Self time of every profiled function summed by group; standard-library and built-in
    functions are charged to their callers' groups (in proportion to the time each caller
    spent in them)."""
    st = pstats.Stats(str(path))
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[str, float]] = {}

    def shares(key: Any, seen: frozenset[Any]) -> dict[str, float]:
        if key in memo:
            return memo[key]
        g = file_group(key[0])
        if g is not None:
            res = {g: 1.0}
        else:
            callers = raw[key][4] if key in raw else {}
            tot = sum(v[2] for v in callers.values())
            res = {}
            if tot > 0 and key not in seen:
                for ck, v in callers.items():
                    for grp, f in shares(ck, seen | {key}).items():
                        res[grp] = res.get(grp, 0.0) + f * v[2] / tot
            if not res:
                res = {GROUPS[-1]: 1.0}
        memo[key] = res
        return res

    groups = dict.fromkeys(GROUPS, 0.0)
    for key, (_, _, tt, _, _) in raw.items():
        for grp, f in shares(key, frozenset()).items():
            groups[grp] += tt * f
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:12]
    python_s = sum(groups.values())
    return {
        "wall_s": wall_s,
        "python_s": python_s,
        "groups_s": groups,
        "top_functions": [
            {"function": f"{Path(k[0]).name}:{k[1]}({k[2]})", "self_s": v[2], "calls": v[1]}
            for k, v in top
        ],
    }


# -- collecting the results -------------------------------------------------------------------


def progress_line(jobs: list[dict[str, Any]], done: set[str], t0: float) -> str:
    total = sum(len(j.get("tasks", [1])) for j in jobs)
    got = 0
    for j in jobs:
        n = len(j.get("tasks", [1]))
        if j["name"] in done:
            got += n
            continue
        try:
            got += int((job_dir(j["name"]) / "progress").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    fill = 30 * got // max(total, 1)
    bar = "#" * fill + "." * (30 - fill)
    return f"  [{bar}] {got}/{total} points, {time.perf_counter() - t0:.0f} s"


class BuildFailed(Exception):
    """A Verilator build failed; the message is one line (the log is under build/sim)."""


def run_all(
    jobs: list[dict[str, Any]], workers: int, say: Callable[[str], None], load: list[float]
) -> tuple[list[dict[str, Any]], float]:
    """Build both tops, then run the jobs ``workers`` at a time; ``load`` collects the
    1-minute load average every 2 s (other work on the machine slows the simulator)."""
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    tty = sys.stderr.isatty()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        builds = [pool.submit(build_top, t) for t in ("splitrx_core", "splitrx_top", SYSTEM_TOP)]
        try:
            build_s = max(f.result() for f in builds)
        except Exception as exc:  # noqa: BLE001 - one line, then stop
            raise BuildFailed(str(exc).splitlines()[0] if str(exc) else repr(exc)) from None
        say(f"builds ready in {build_s:.0f} s; {len(jobs)} simulator jobs on {workers} workers")
        # speed measurements ("alone") wait until every other job is done, then run one at a time
        later = [j for j in jobs if j.get("alone")]
        pending = {pool.submit(run_job, j) for j in jobs if not j.get("alone")}
        done: set[str] = set()
        while pending or later:
            if not pending:
                pending = {pool.submit(run_job, later.pop(0))}
            fin, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
            load.append(os.getloadavg()[0])
            for f in fin:
                r = f.result()
                results.append(r)
                done.add(r["name"])
                if tty:
                    print("\r\033[K", end="", file=sys.stderr)
                status = f"FAILED: {r['error']}" if r.get("error") else "done"
                say(f"job {r['name']} {status} in {r['wall_s']:.0f} s ({len(done)}/{len(jobs)})")
            if tty and pending:
                print(f"\r\033[K{progress_line(jobs, done, t0)}", end="", file=sys.stderr,
                      flush=True)  # fmt: skip
    return results, build_s

# SPDX-License-Identifier: MIT
"""`make bench` without a simulator: the 10 GbE and IMIX arithmetic, the statistics, how a
point's figures are derived, the plan's coverage and budget, the report (JSON schema,
markdown, plots), the profile grouping, the committed example report and the command
line's handling of bad options."""

from __future__ import annotations

import cProfile
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tb.bench import cli, collect, plan, records, report, run
from tb.runner.build import REPO

# -- arithmetic -------------------------------------------------------------------------------


def test_64_byte_frames_at_10gbe_are_14_88_mpps_one_every_16_8_user_clocks() -> None:
    assert plan.frame_period_ns(64) == pytest.approx(67.2)
    assert plan.frame_period_clk(64) == pytest.approx(16.8)
    assert plan.line_rate_pps(64) / 1e6 == pytest.approx(14.881, abs=5e-4)
    assert plan.line_rate_pps(1518) == pytest.approx(812_743.8, rel=1e-6)
    assert plan.line_rate_pps(9018) == pytest.approx(138_304.9, rel=1e-6)
    # the MAC-side stream: 60 bytes (64 B frame without FCS) are 8 beats, 61 too, 65 are 9
    assert [plan.beats(n) for n in (60, 61, 64, 65, 1514)] == [8, 8, 8, 9, 190]


def test_imix_is_7_4_1_of_64_594_and_1518_in_every_block_of_12() -> None:
    sizes = plan.imix_sizes(1200, random.Random(3))
    assert Counter(sizes) == {64: 700, 594: 400, 1518: 100}
    for k in range(0, 1200, 12):
        assert Counter(sizes[k : k + 12]) == {64: 7, 594: 4, 1518: 1}
    assert sizes != plan.imix_sizes(1200, random.Random(4))  # shuffled per seed
    assert plan.imix_mean() == pytest.approx(4342 / 12)
    assert plan.line_rate_pps(plan.imix_mean()) / 1e6 == pytest.approx(3.2737, abs=1e-4)


def test_percentiles_are_nearest_rank() -> None:
    v = [float(x) for x in range(100, 0, -1)]  # 100..1, unsorted on purpose
    assert plan.percentile(v, 50) == 50.0
    assert plan.percentile(v, 99) == 99.0
    assert plan.percentile(v, 100) == 100.0
    assert plan.percentile([7.0], 99) == 7.0
    s = plan.summarize(v)
    assert (s["n"], s["min"], s["p50"], s["p99"], s["max"]) == (100, 1.0, 50.0, 99.0, 100.0)
    assert plan.summarize([])["p50"] is None


# -- plan -------------------------------------------------------------------------------------


def core_tasks(jobs: list[dict[str, Any]], mps: int = 256) -> list[dict[str, Any]]:
    return [t for j in jobs if j["type"] == "core" and j["mps"] == mps for t in j["tasks"]]


def test_full_plan_measures_every_size_mode_and_read_latency_once() -> None:
    jobs = plan.plan(quick=False, seed=1)
    grid = Counter(
        (t["size"], t["mode"], t["read_latency_ns"])
        for t in core_tasks(jobs)
        if t["kind"] == "load" and t["queues"] == 1 and not t.get("purpose")
    )
    want = {
        (s, m, lat) for s in (*plan.SIZES, "imix") for m in plan.MODES for lat in (500.0, 1000.0)
    }
    assert set(grid) == want and set(grid.values()) == {1}
    for t in core_tasks(jobs):
        if t["kind"] == "load":
            assert 32 <= t["frames"] <= 1000 and t["warmup"] >= 4, t
    # requests: one queue and 8 queues at 64 B, MPS 256 and 128
    for mps in (256, 128):
        qs = {t["queues"] for t in core_tasks(jobs, mps) if t["size"] == 64}
        assert {1, 8} <= qs, (mps, qs)
    # the budget proxy: simulated time (about 100 us per point) that fits 20 minutes
    assert sum(j["est_sim_ns"] for j in jobs) < 13e6


def test_quick_plan_is_a_smaller_subset() -> None:
    quick, full = plan.plan(quick=True, seed=1), plan.plan(quick=False, seed=1)
    q = {(t["size"], t["mode"], t["read_latency_ns"]) for t in core_tasks(quick)}
    f = {(t["size"], t["mode"], t["read_latency_ns"]) for t in core_tasks(full)}
    assert q < f
    assert sum(j["est_sim_ns"] for j in quick) < sum(j["est_sim_ns"] for j in full) / 4


# -- derived figures --------------------------------------------------------------------------


def point(task: dict[str, Any], **over: Any) -> dict[str, Any]:
    """A core point as tb/benches/bench_tb.py records it: all frames delivered at line rate."""
    n, warm = task["frames"], task["warmup"]
    size = plan.mean_size(task["size"])
    p: dict[str, Any] = {
        "task": task,
        "mps": 256,
        "mrrs": 512,
        "dma_cpl_flush_clocks": 64,
        "dma_desc_wait_clocks": 0,
        "error": None,
        "frames_total": n + warm,
        "frames_delivered": n,
        "frames_late": 0,
        "frames_missing": 0,
        "cpl_span_ns": n * 32.0,
        "wire_bytes_offered": n * (size + 20),
        "wire_bytes_delivered": n * (size + 20),
        "input_span_ns": n * plan.frame_period_ns(size),
        "offered_span_ns": n * plan.frame_period_ns(size),
        "input_stall_clocks": 0,
        "latency_ns": plan.summarize([300.0, 380.0]),
        "latencies_ns": [300.0, 380.0],
        "drain_ns": 400.0,
        "counters": {"packets": n + warm, "drops": 0, "drop_reasons": {}, "rx_frames": n + warm},
        "requests": {
            "rq_data_write": {"tlps": n + warm, "payload_bytes": 0, "link_bytes": 0},
            "rq_cpl_write": {"tlps": (n + warm) // 5, "payload_bytes": 0, "link_bytes": 0},
            "rq_desc_read": {"tlps": (n + warm) // 8, "payload_bytes": 0, "link_bytes": 0},
        },
        "msix": 0,
        "hdr_len_mean": 42.0 if task["mode"] != "FULL" else 0.0,
        "desc_per_frame": 1.0,
        "mergeable": False,
        "wall_s": 2.0,
        "cpu_s": 1.5,
        "sim_ns": 20_000.0,
    }
    p.update(over)
    return p


def t(kind: str = "load", size: int | str = 64, mode: str = "FULL", **kw: Any) -> dict[str, Any]:
    return plan.task(kind, size, mode, 1000.0, True, **kw)


def test_back_pressure_lowers_the_rate_and_drops_lower_delivered() -> None:
    ok = collect.throughput_row(point(t())).m
    assert ok is not None
    assert ok.line_rate_pct == pytest.approx(100.0) and ok.delivered_pct == 100.0
    n = t()["frames"]
    slow = point(t(), input_span_ns=2 * n * 67.2, input_stall_clocks=n * 17)
    row = collect.throughput_row(slow).m
    assert row is not None
    assert row.line_rate_pct == pytest.approx(50.0) and row.delivered_pct == 100.0
    assert "input back-pressure" in collect.why(row)
    lost = point(
        t(), frames_delivered=n - 3, frames_missing=3, wire_bytes_delivered=(n - 3) * 84,
        counters={"packets": 0, "drops": 3, "drop_reasons": {"no_buffer": 3}, "rx_frames": 0},
    )  # fmt: skip
    row = collect.throughput_row(lost).m
    assert row is not None
    assert row.delivered_pct == pytest.approx(100.0 * (n - 3) / n)
    assert "no_buffer 3" in collect.why(row)


def test_host_copy_follows_the_placement_modes() -> None:
    rows = [collect.throughput_row(point(t(mode=m))) for m in plan.MODES]
    copy = {r.mode: r for r in collect.host_copy_rows(rows)}
    assert (copy["FULL"].total, copy["SPLIT_HOLE"].total, copy["SPLIT"].total) == (
        12, 12 + 42, 0,
    )  # fmt: skip
    assert copy["FULL"].full_copy == 12 + 60


# -- the report -------------------------------------------------------------------------------


def fake_results() -> list[dict[str, Any]]:
    n = t()["frames"]
    pts = [
        point(t()),
        point(t(mode="SPLIT_HOLE")),
        point(t(mode="SPLIT"), input_span_ns=2 * n * 67.2, input_stall_clocks=99),
        point(t(size="imix")),
        point(t(size=1518)),
        point(t(queues=8, purpose="requests")),
        point(t(kind="idle", warmup=2, frames=10, spacing_ns=2000.0)),
        point(t(kind="overdrive")),
    ]
    sysp = {
        "task": {"kind": "system", "size": 64, "frames": 100, "read_latency_ns": 1000.0},
        "frames_sent": 100, "frames_delivered": 100, "drops": 0, "wall_s": 2.0,
        "cpu_s": 1.0, "sim_ns": 8000.0, "latency_ns": plan.summarize([330.0]),
        "latencies_ns": [330.0], "mps": 256, "mrrs": 512, "error": None,
    }  # fmt: skip
    tbsim = {
        "command": "python -m tb.sim --frames 30 --seed 1",
        "returncode": 0,
        "process_wall_s": 12.0,
        "process_cpu_s": 10.0,
        "report": {"scenario": "s", "sent": 30, "delivered": {"g": 28}, "checks_passed": True,
                   "wall_s": 9.0, "sim_ns": 30_000.0},
    }  # fmt: skip
    return [
        {"name": "core-0", "type": "core", "error": None, "wall_s": 30.0,
         "result": {"points": pts}},
        {"name": "system", "type": "system", "error": None, "wall_s": 9.0,
         "result": {"points": [sysp]}},
        {"name": "tb-sim", "type": "tbsim", "error": None, "wall_s": 12.0, "plain": tbsim},
        {"name": "pinned", "type": "pinned", "error": None, "wall_s": 5.0,
         "result": {"points": [pinned_point()]}},
    ]  # fmt: skip


def pinned_point() -> dict[str, Any]:
    """A pinned-pages point as tb/benches/bench_tb.py records it: samples every 500 ns, the wire
    busy until 2000 ns; guest2 stalled at its quota of 8 pages and torn down at 1600 ns."""
    task = next(j for j in plan.plan(quick=True, seed=1) if j["type"] == "pinned")["tasks"][0]
    sent = {"guest0": 40, "guest1": 40, "guest2": 20}
    taken = {"guest0": 40, "guest1": 40, "guest2": 0}
    return {
        "task": task,
        "owners": [
            {**o, "frames_sent": sent[o["name"]], "frames_received": taken[o["name"]],
             "refusals": 12 if o.get("stalled") else 0,
             "teardown_ns": 1600.0 if o.get("teardown") else None}
            for o in task["owners"]
        ],
        "t_ns": [0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0],
        "pinned_pages": {"guest0": [16, 17, 18, 17, 16, 16], "guest1": [16, 16, 16, 17, 17, 3],
                         "guest2": [8, 8, 8, 8, 0, 0]},
        "buffers_held": {"guest0": [32] * 6, "guest1": [32] * 6, "guest2": [16, 16, 16, 16, 0, 0]},
        "wire_ns": 2000.0,
        "frames": 100,
        "error": None,
        "wall_s": 3.0,
        "cpu_s": 3.0,
    }  # fmt: skip


def test_report_has_the_documented_shape_and_renders(tmp_path: Path) -> None:
    rep = collect.collect(fake_results(), quick=True, seed=5, wall_s=100.0, build_s=1.0)
    rep2 = json.loads(report.dump(rep))  # what bench.json holds
    assert records.validate_report(rep2) == []
    back, _ = records.check_report(rep2)
    assert back == rep and back.to_json() == rep2  # read back as the same records
    tp = {(r.size, r.mode): r.m for r in rep.throughput}
    assert tp[(64, "SPLIT")] is not None and tp[(64, "FULL")] is not None
    assert tp[(64, "SPLIT")].line_rate_pct == pytest.approx(50.0)
    assert tp[(64, "FULL")].line_rate_pct == pytest.approx(100.0)
    assert len(rep.throughput) == 5  # the 8-queue point is a requests point, not here
    assert any("64 B SPLIT 1 us: 50.0 %" in s for s in rep.shortfalls)
    q8 = next(q for q in rep.requests if q.queues == 8)
    assert q8.non_data_per_frame == pytest.approx((q8.frames // 5 + q8.frames // 8) / q8.frames)
    files = report.write_report(rep, tmp_path)
    names = {f.name for f in files}
    assert {"bench.json", "report.md", "throughput.png", "latency_cdf.png", "requests.png",
            "pinned_pages.png"} <= names  # fmt: skip
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 10_000
    md = (tmp_path / "report.md").read_text()
    for heading in ("## Throughput", "## Latency", "## PCIe requests", "## Host copy",
                    "## Headroom", "## Pinned pages per owner over time",
                    "## Simulator speed"):  # fmt: skip
        assert heading in md, heading
    assert "## Not measured yet" not in md
    assert "| 64 B | 14.881 | 100.0 | 100.0 | 50.0 |" in md
    assert "](pinned_pages.png)" in md


def test_pinned_pages_per_owner_peak_mean_while_busy_and_at_the_end(tmp_path: Path) -> None:
    rep = collect.collect(fake_results(), quick=True, seed=5, wall_s=100.0, build_s=1.0)
    pin = rep.pinned_pages
    assert pin is not None
    o = {x.name: x for x in pin.owners}
    # samples at 0..2000 ns are while the wire is busy; the one at 2500 ns is not
    assert o["guest0"].peak_pinned_pages == 18 and o["guest0"].final_pinned_pages == 16
    assert o["guest0"].mean_pinned_pages == pytest.approx((16 + 17 + 18 + 17 + 16) / 5)
    assert o["guest1"].mean_pinned_pages == pytest.approx(16.4)
    assert o["guest1"].final_pinned_pages == 3
    assert (o["guest2"].peak_pinned_pages, o["guest2"].final_pinned_pages) == (8, 0)
    assert o["guest2"].peak_buffers_held == 16 and o["guest2"].quota_pages == 8
    md = report.markdown(rep)
    assert (
        "| guest2 (stalled) | FULL | 64 | 8 | 20 % | 20 | 0 | 8 | 6.4 | 0 | 16 | 12 | 1.6 us |"
        in md
    )
    # a report without the run says so, and still renders
    rep2 = collect.collect(fake_results()[:-1], quick=True, seed=5, wall_s=1.0, build_s=1.0)
    assert rep2.pinned_pages is None and records.validate_report(rep2.to_json()) == []
    md2 = report.markdown(rep2)
    assert "## Not measured yet" in md2 and "## Pinned pages" not in md2
    files = report.write_report(rep2, tmp_path)
    assert "pinned_pages.png" not in {f.name for f in files}


def test_a_pinned_owner_above_its_quota_or_a_missing_sample_is_rejected() -> None:
    rep = json.loads(
        report.dump(collect.collect(fake_results(), quick=True, seed=5, wall_s=1.0, build_s=1.0))
    )
    assert records.validate_report(rep) == []
    rep["pinned_pages"]["owners"][2]["peak_pinned_pages"] = 9  # quota 8
    rep["pinned_pages"]["pinned_pages"]["guest0"].pop()
    problems = records.validate_report(rep)
    assert any("guest2 above its quota" in p for p in problems), problems
    assert any("guest0 has not one sample per time" in p for p in problems), problems


def test_plan_runs_the_page_constructor_with_a_stalled_owner_over_its_quota() -> None:
    for quick in (False, True):
        jobs = [j for j in plan.plan(quick=quick, seed=1) if j["type"] == "pinned"]
        assert len(jobs) == 1 and len(jobs[0]["tasks"]) == 1
        t = jobs[0]["tasks"][0]
        assert t["frames"] == plan.PINNED_FRAMES[quick] and t["sample_ns"] > 0
        owners = t["owners"]
        assert sum(o["share"] for o in owners) == pytest.approx(1.0)
        stalled = [o for o in owners if o.get("stalled")]
        # it posts more buffers (2 KiB, two per page) than its quota can pin
        assert stalled and all(o["posts"] > 2 * o["quota_pages"] for o in stalled)
        assert len({o["name"] for o in owners}) == len(owners)


def test_speed_only_runs_the_system_points_repeatedly_and_reports_best_and_median() -> None:
    job = plan.speed_job(seed=3, repeats=3)
    full = next(j for j in plan.plan(quick=False, seed=3) if j["type"] == "system")
    assert job["type"] == "system" and job["seed"] == 3
    # the full run's points, each size once, then repeated as asked
    sizes = list(dict.fromkeys(t["size"] for t in full["tasks"]))
    assert len(full["tasks"]) == plan.SYSTEM_REPEATS[False] * len(sizes)
    first = {s: next(t for t in full["tasks"] if t["size"] == s) for s in sizes}
    assert job["tasks"] == [first[s] for s in sizes for _ in range(3)]
    pts = []
    for size, walls in ((64, (1.0, 0.5, 0.75)), (1518, (2.0, 3.0, 4.0))):
        for w in walls:
            n = 300 if size == 64 else 60
            pts.append({"task": {"size": size}, "frames_sent": n, "frames_delivered": n,
                        "drops": 0, "latency_ns": plan.summarize([1.0]), "wall_s": w,
                        "cpu_s": w, "sim_ns": 1.0, "error": None})  # fmt: skip
    pts.append({"task": {"size": 64}, "error": "RuntimeError: x"})
    runs = [collect.system_run(p) for p in pts if not p.get("error")]
    rows = {r.size: r for r in collect.speed_rows(runs)}
    assert rows[64].runs == 3 and rows[64].best_frames_per_s == pytest.approx(600.0)
    assert rows[64].median_frames_per_s == pytest.approx(400.0)
    assert rows[1518].best_frames_per_s == pytest.approx(30.0)
    assert rows[1518].median_frames_per_s == pytest.approx(20.0)
    assert rows[1518].target_frames_per_s == plan.TARGET_SYSTEM_FPS[1518]


def test_a_broken_report_is_rejected() -> None:
    rep = collect.collect(fake_results(), quick=True, seed=5, wall_s=100.0, build_s=1.0)
    bad = json.loads(report.dump(rep))
    bad["throughput"][0]["delivered"] += 1  # no longer delivered + dropped + late == frames
    del bad["settings"]["host_poll_ns"]
    problems = records.validate_report(bad)
    assert any("delivered + dropped + late" in p for p in problems)
    assert any("host_poll_ns" in p for p in problems)


def test_a_figure_of_the_wrong_type_is_named_with_its_place() -> None:
    rep = json.loads(
        report.dump(collect.collect(fake_results(), quick=True, seed=5, wall_s=1.0, build_s=1.0))
    )
    rep["throughput"][1]["line_rate_pct"] = "fast"
    rep["simulator"]["system"][0]["latency_ns"]["n"] = None
    rep["latency"]["idle"] = {}
    problems = records.validate_report(rep)
    assert "throughput[1].line_rate_pct: 'fast' is not float" in problems, problems
    assert "simulator.system[0].latency_ns.n: None is not int" in problems, problems
    assert "latency.idle: not a list" in problems, problems
    assert records.check_report(rep)[0] is None


def test_profile_charges_builtins_to_the_calling_package(tmp_path: Path) -> None:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(300):
        plan.summarize([float(x) for x in range(300)])  # sorted/min/max: built-ins
    prof.disable()
    path = tmp_path / "p.pstat"
    prof.dump_stats(path)
    g = run.profile_groups(path, wall_s=1.0)
    ours = g["groups_s"]["our code (model/, sw/, tb/)"]
    assert ours > 0.9 * g["python_s"] > 0
    assert sum(g["groups_s"].values()) == pytest.approx(g["python_s"])


def test_the_committed_example_report_is_valid_and_linked() -> None:
    d = REPO / "docs" / "bench"
    rep = json.loads((d / "bench.json").read_text())
    assert records.validate_report(rep) == []
    assert not rep["quick"] and not rep["errors"]
    md = (d / "report.md").read_text()
    for png in ("throughput.png", "latency_cdf.png", "requests.png"):
        assert f"]({png})" in md and (d / png).stat().st_size > 10_000
    assert "docs/bench/report.md" in (REPO / "README.md").read_text()


# -- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--frobnicate"],
        ["--seed", "x"],
        ["extra"],
        ["--report-from", "/nonexistent/bench.json"],
        ["--speed", "--repeat", "0"],
    ],
)
def test_bad_option_is_one_line_on_stderr_and_exit_2(args: list[str]) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "tb.bench", *args], cwd=REPO, capture_output=True, text=True
    )
    assert p.returncode == 2, p
    assert p.stdout == "" and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert p.stderr.startswith("splitrx bench: ")


def test_out_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "f"
    f.write_text("")
    assert cli.main(["--out", str(f)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_simulator_target_is_judged_on_the_median_of_the_system_runs() -> None:
    def results(walls: tuple[float, ...]) -> list[dict[str, Any]]:
        res = fake_results()
        sysp = res[1]["result"]["points"][0]
        # 100 frames of 64 B in each wall time: 100 / wall frames per second
        res[1]["result"]["points"] = [{**sysp, "wall_s": w, "cpu_s": w} for w in walls]
        return res

    ok = collect.collect(results((0.2, 0.5, 0.24)), quick=True, seed=5, wall_s=1.0, build_s=1.0)
    assert not [s for s in ok.shortfalls if s.startswith("simulator, full system")]
    assert [m.median_frames_per_s for m in collect.speed_rows(ok.simulator.system)] == [
        pytest.approx(100 / 0.24)
    ]
    assert "64 B **416.7** frames/s over 3 run(s)" in report.markdown(ok)
    # the best run alone would pass: the median does not
    bad = collect.collect(results((0.2, 0.5, 0.3)), quick=True, seed=5, wall_s=1.0, build_s=1.0)
    short = [s for s in bad.shortfalls if s.startswith("simulator, full system")]
    assert len(short) == 1 and "333 frames per wall-second" in short[0], short
    assert "median of 3 runs" in short[0]


def _fake_run_job(job: dict[str, Any]) -> dict[str, Any]:
    import time

    t0 = time.monotonic()
    time.sleep(0.3 if job["name"] == "slow" else 0.05)
    return {"name": job["name"], "type": "core", "error": None, "wall_s": 0.0,
            "t0": t0, "t1": time.monotonic()}  # fmt: skip


def _no_build(top: str) -> float:
    return 0.0


def test_speed_jobs_run_alone_after_every_other_job(monkeypatch: pytest.MonkeyPatch) -> None:
    # the pool forks its workers, so they see these stand-ins
    monkeypatch.setattr(run, "run_job", _fake_run_job)
    monkeypatch.setattr(run, "build_top", _no_build)
    jobs = [{"name": "slow"}, {"name": "speed", "alone": True}, {"name": "fast"},
            {"name": "fast2"}]  # fmt: skip
    results, _ = run.run_all(jobs, 2, lambda _s: None, [])
    t = {r["name"]: r for r in results}
    assert set(t) == {"slow", "fast", "fast2", "speed"}
    others_end = max(t[n]["t1"] for n in ("slow", "fast", "fast2"))
    assert t["speed"]["t0"] >= others_end


def test_requests_over_the_target_on_8_queues_are_a_comparison_not_a_shortfall() -> None:
    rep = collect.collect(fake_results(), quick=True, seed=5, wall_s=1.0, build_s=1.0)
    for q in rep.requests:  # both over the one-queue target of 0.5
        q.non_data_per_frame = 1.4 if q.queues == 8 else 0.6
    short = collect.shortfalls(rep)
    comp = collect.request_lines(rep, one_queue=False)
    assert any(s.startswith("64 B line rate over 1 queue: 0.60") for s in short), short
    assert not any("over 8 queues" in s for s in short), short
    assert len(comp) == 1 and comp[0].startswith("64 B line rate over 8 queues: 1.40"), comp
    rep.comparisons = comp
    md = report.markdown(rep)
    assert "shown for comparison:\n\n- 64 B line rate over 8 queues" in md

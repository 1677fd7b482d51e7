# SPDX-License-Identifier: MIT
"""The report of `make bench` (bench.json) as typed records.

tb.bench.collect builds a ``Report`` from the jobs' raw results; tb.bench.report and
tb.bench.plots read it; ``Report.to_json`` writes bench.json and ``check_report`` reads one
back (`--report-from`). The JSON keeps its documented shape (docs/bench.md): a record's
fields are its keys, in order; a field made with ``optional()`` is left out while it is
None, a field made with ``flattened()`` (a record or None) puts its own keys into its
parent's object and is there when its first key is.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from typing import Any, Self, Union, get_args, get_origin, get_type_hints

SCHEMA = "splitrx-bench/1"

_OMIT: dict[str, Any] = {"omit_none": True}


def optional() -> Any:
    """A field left out of the JSON while it is None (and None when the JSON lacks it)."""
    return field(default=None, metadata=_OMIT)


def flattened() -> Any:
    """A record field whose keys sit in the parent's object (None: none of them there)."""
    return field(default=None, metadata={"flatten": True})


class Record:
    """Base of the report's records (dataclasses): to and from bench.json's objects."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.metadata.get("flatten"):
                if v is not None:
                    out.update(v.to_json())
            elif v is not None or not f.metadata.get("omit_none"):
                out[f.name] = _dump(v)
        return out

    @classmethod
    def from_json(cls, obj: Any, where: str, errors: list[str]) -> Self | None:
        """The record from a JSON object; every problem is appended to ``errors`` (a field
        that is missing or of the wrong type is None in the result)."""
        if not isinstance(obj, dict):
            errors.append(f"{where or 'report'}: not an object")
            return None
        hints = get_type_hints(cls)
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            t = hints[f.name]
            if f.metadata.get("flatten"):
                sub = next(a for a in get_args(t) if a is not type(None))
                first = dataclasses.fields(sub)[0].name
                kw[f.name] = sub.from_json(obj, where, errors) if first in obj else None
                continue
            at = f"{where}.{f.name}" if where else f.name
            if f.name not in obj:
                if f.default is dataclasses.MISSING:
                    errors.append(f"{at} missing")
                kw[f.name] = None
                continue
            kw[f.name] = _load(t, obj[f.name], at, errors)
        return cls(**kw)


def _dump(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_json()
    if isinstance(v, list):
        return [_dump(x) for x in v]
    if isinstance(v, dict):
        return {k: _dump(x) for k, x in v.items()}
    return v


def _is(t: Any, v: Any) -> bool:
    """Whether a JSON scalar ``v`` is of type ``t`` (an int counts as a float)."""
    if t is float:
        return isinstance(v, int | float) and not isinstance(v, bool)
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, t)


def _load(t: Any, v: Any, where: str, errors: list[str]) -> Any:
    if t is Any:
        return v
    origin = get_origin(t)
    if origin in (Union, types.UnionType):
        args = get_args(t)
        if v is None:
            if type(None) in args:
                return None
            errors.append(f"{where} is null")
            return None
        for a in args:
            if a is type(None):
                continue
            trial: list[str] = []
            got = _load(a, v, where, trial)
            if not trial:
                return got
        errors.append(f"{where}: {v!r:.40} is not {t}")
        return None
    if origin is list:
        if not isinstance(v, list):
            errors.append(f"{where}: not a list")
            return None
        (item,) = get_args(t)
        return [_load(item, x, f"{where}[{i}]", errors) for i, x in enumerate(v)]
    if origin is dict:
        if not isinstance(v, dict):
            errors.append(f"{where}: not an object")
            return None
        _, val = get_args(t)
        return {k: _load(val, x, f"{where}.{k}", errors) for k, x in v.items()}
    if isinstance(t, type) and issubclass(t, Record):
        return t.from_json(v, where, errors)
    if not _is(t, v):
        errors.append(f"{where}: {v!r:.40} is not {getattr(t, '__name__', t)}")
        return None
    return v


# -- the records, in bench.json's order -------------------------------------------------------


@dataclass(kw_only=True)
class Latency(Record):
    """Nearest-rank summary of a point's latencies, ns (None: no frames)."""

    n: int
    min: float | None
    p50: float | None
    p99: float | None
    max: float | None


@dataclass(kw_only=True)
class Machine(Record):
    cpus: int | None
    workers: int | None = optional()
    load_avg_1min_mean: float | None = optional()
    load_avg_1min_max: float | None = optional()


@dataclass(kw_only=True)
class Settings(Record):
    line_rate_gbps: float
    user_clock_mhz: float
    read_latencies_ns: list[float]
    host_poll_ns: int
    host_poll_budget: int
    host_refill_batch: int
    ring_entries: int
    data_buffer_bytes: int
    header_buffer_bytes: int
    data_offset: int
    split_level: str
    mergeable_above_bytes: int
    moderation_packets: int
    moderation_cycles: int
    drain_ns: float
    idle_spacing_ns: float
    frames: str
    # as the core points report them (register defaults)
    dma_cpl_flush_clocks: int | None = optional()
    dma_desc_wait_clocks: int | None = optional()
    mrrs_by_mps: dict[str, int] | None = optional()


@dataclass(kw_only=True)
class ThroughputFigures(Record):
    """What a throughput point measured (absent when it failed)."""

    line_rate_pps: float
    delivered: int
    late: int
    dropped: int
    delivered_pct: float
    line_rate_pct: float
    input_stall_clocks: int
    drop_reasons: dict[str, int]
    latency_ns: Latency
    drain_ns: float
    hdr_len_mean: float
    desc_per_frame: float
    mergeable: bool


@dataclass(kw_only=True)
class ThroughputRow(Record):
    size: int | str
    mode: str
    read_latency_ns: float
    queues: int
    mps: int | None
    mrrs: int | None
    frames: int
    warmup: int
    error: str | None
    m: ThroughputFigures | None = flattened()


@dataclass(kw_only=True)
class LatencyPoint(Record):
    mode: str
    read_latency_ns: float
    frames: int
    spacing_ns: float | None = optional()  # idle points only
    latency_ns: Latency
    latencies_ns: list[float]


@dataclass(kw_only=True)
class Latencies(Record):
    idle: list[LatencyPoint]
    load: list[LatencyPoint]


@dataclass(kw_only=True)
class RequestRow(Record):
    size: int | str
    mode: str
    queues: int
    read_latency_ns: float
    mps: int
    mrrs: int
    frames: int
    tlps_per_frame: dict[str, float]
    link_bytes_per_frame: dict[str, float]
    non_data_per_frame: float
    rq_link_bytes_per_frame: float
    rc_link_bytes_per_frame: float


@dataclass(kw_only=True)
class HostCopyRow(Record):
    size: int | str
    mode: str
    net_header: int
    header_copy: float
    payload_copy: int
    total: float
    full_copy: float


@dataclass(kw_only=True)
class OverdriveRow(Record):
    size: int
    mode: str
    read_latency_ns: float
    frames: int
    offered_pps: float
    sustained_pps: float | None
    x_line_rate: float | None
    dropped: int
    drop_reasons: dict[str, int]
    input_stall_clocks: int
    latency_ns: Latency


@dataclass(kw_only=True)
class CoreSpeed(Record):
    """All core-level load points of one frame size together."""

    size: int | str
    frames: int
    wall_s: float
    sim_ns: float
    cpu_s: float
    frames_per_s: float
    frames_per_cpu_s: float
    clocks_per_s: float


@dataclass(kw_only=True)
class SystemRun(Record):
    """One full-system speed run (splitrx_feed_top from the wire)."""

    size: int
    frames: int
    delivered: int
    drops: int
    wall_s: float
    cpu_s: float
    sim_ns: float
    frames_per_s: float
    frames_per_cpu_s: float
    clocks_per_s: float
    target_frames_per_s: float | None
    latency_ns: Latency
    latencies_ns: list[float]
    mps: int | None
    mrrs: int | None


@dataclass(kw_only=True)
class SpeedRow(Record):
    """Per frame size, over its system runs: each run's rate, the best and the median."""

    size: int
    frames: int
    sim_ns: float
    runs: int
    frames_per_s: list[float]
    frames_per_cpu_s: list[float]
    best_frames_per_s: float
    median_frames_per_s: float
    best_frames_per_cpu_s: float
    median_frames_per_cpu_s: float
    target_frames_per_s: float | None


@dataclass(kw_only=True)
class TbSimFigures(Record):
    """What `python -m tb.sim` reported about its run (absent when it wrote no report)."""

    scenario: str | None
    sent: int | None
    delivered: int
    checks_passed: bool | None
    wall_s: float
    sim_ns: float
    frames_per_s: float
    frames_per_cpu_s: float | None
    clocks_per_s: float


@dataclass(kw_only=True)
class TbSimRun(Record):
    command: str
    returncode: int
    process_wall_s: float
    process_cpu_s: float | None
    m: TbSimFigures | None = flattened()


@dataclass(kw_only=True)
class TopFunction(Record):
    function: str
    self_s: float
    calls: int


@dataclass(kw_only=True)
class Profile(Record):
    """Self time under cProfile summed by package (tb.bench.run.profile_groups)."""

    wall_s: float
    python_s: float
    groups_s: dict[str, float]
    top_functions: list[TopFunction]
    run: str
    cpu_s: float | None
    frames: int | None = optional()
    sim_ns: float | None = optional()


@dataclass(kw_only=True)
class Simulator(Record):
    core: list[CoreSpeed]
    system: list[SystemRun]
    tb_sim: dict[str, TbSimRun]
    profiles: list[Profile]
    targets_frames_per_s: dict[str, float]


@dataclass(kw_only=True)
class JobSummary(Record):
    name: str
    wall_s: float
    cpu_s: float | None
    points: int
    error: str | None


@dataclass(kw_only=True)
class PinnedOwner(Record):
    """An owner of the pinned-pages run: as planned, as it ran, and its pinned pages."""

    name: str
    mode: str
    share: float
    guest_num: int
    nic_entries: int
    quota_pages: int
    posts: int | None = optional()
    stalled: bool | None = optional()
    teardown: bool | None = optional()
    frames_sent: int
    frames_received: int
    refusals: int
    teardown_ns: float | None
    peak_pinned_pages: int
    mean_pinned_pages: float
    final_pinned_pages: int
    peak_buffers_held: int


@dataclass(kw_only=True)
class PinnedSummary(Record):
    frames: int
    sample_ns: int
    read_latency_ns: float
    wire_ns: float
    owners: list[PinnedOwner]
    t_ns: list[float]
    pinned_pages: dict[str, list[int]]
    buffers_held: dict[str, list[int]]


@dataclass(kw_only=True)
class Report(Record):
    schema: str
    generated: str
    commit: str
    quick: bool
    seed: int
    wall_s: float
    build_s: float
    machine: Machine
    settings: Settings
    throughput: list[ThroughputRow]
    latency: Latencies
    requests: list[RequestRow]
    host_copy: list[HostCopyRow]
    overdrive: list[OverdriveRow]
    simulator: Simulator
    jobs: list[JobSummary]
    pinned_pages: PinnedSummary | None  # None: not measured (reports before it was)
    errors: list[str]
    shortfalls: list[str]
    comparisons: list[str] = field(default_factory=list)


def _required_fields(cls: type) -> None:
    """A flattened record's first field is required: its key marks the group present."""
    for f in dataclasses.fields(cls):
        if f.metadata.get("flatten"):
            sub = next(a for a in get_args(get_type_hints(cls)[f.name]) if a is not type(None))
            assert dataclasses.fields(sub)[0].default is dataclasses.MISSING, sub


for _cls in (ThroughputRow, TbSimRun):
    _required_fields(_cls)


def check_report(obj: Any) -> tuple[Report | None, list[str]]:
    """A bench.json object read as a ``Report``, and what is wrong with it (empty when it
    has the documented shape and its figures agree with each other)."""
    errors: list[str] = []
    rep = Report.from_json(obj, "", errors)
    if rep is None:
        return None, errors
    if rep.schema is not None and rep.schema != SCHEMA:
        errors.append(f"schema {rep.schema!r}, expected {SCHEMA!r}")
    for i, r in enumerate(rep.throughput or []):
        m = r.m if r is not None else None
        if m is None or None in (m.delivered, m.dropped, m.late, r.frames, m.delivered_pct):
            continue
        if m.delivered + m.dropped + m.late != r.frames:
            errors.append(f"throughput[{i}]: delivered + dropped + late != frames")
        if not 0 <= m.delivered_pct <= 100.0 + 1e-9:
            errors.append(f"throughput[{i}]: delivered_pct {m.delivered_pct}")
    pin = rep.pinned_pages
    if pin is not None:
        n = len(pin.t_ns or [])
        for o in pin.owners or []:
            if o is None:
                continue
            if len((pin.pinned_pages or {}).get(o.name) or []) != n:
                errors.append(f"pinned_pages: {o.name} has not one sample per time")
            elif (o.peak_pinned_pages or 0) > (o.quota_pages or 0):
                errors.append(f"pinned_pages: {o.name} above its quota")
        if not n or not pin.owners:
            errors.append("pinned_pages: no samples or no owners")
    return (None if errors else rep), errors


def validate_report(obj: Any) -> list[str]:
    """What is wrong with a bench.json object (empty when it has the documented shape)."""
    return check_report(obj)[1]


@dataclass(kw_only=True)
class SpeedReport(Record):
    """speed.json of `--speed`: the full-system runs alone."""

    schema: str
    generated: str
    commit: str
    seed: int
    machine: Machine
    system: list[SpeedRow]

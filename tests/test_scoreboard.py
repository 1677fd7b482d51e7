# SPDX-License-Identifier: MIT
"""The system scoreboard without a simulator: frames routed to owners, completions checked
against the reference model, deliveries byte for byte and in order, writes landing in
order, accounting. Each test feeds it what a wrong NIC would produce and expects the
mismatch it must report."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from model.nic_model import QueueConfig, QueueState, predict_frame
from model.parse_meta import Meta
from model.records import DescFlags, DropReason, PlacementMode, RxDescriptor
from sw.nic_driver import RxDone
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference
from tb.lib.scoreboard import (
    CompletionMismatch,
    Scoreboard,
    ScoreboardMismatch,
    match_completion,
)
from tb.lib.traffic import scapy_frame

CFG = QueueConfig(
    desc_base=0x10000, desc_size_log2=4, cpl_base=0x20000, cpl_size_log2=4, data_offset=12
)
SPLIT_CFG = replace(CFG, data_offset=0, mode=PlacementMode.SPLIT)


class Memory:
    def __init__(self) -> None:
        self.bytes: dict[int, int] = {}

    def write(self, addr: int, data: bytes) -> None:
        for i, b in enumerate(data):
            self.bytes[addr + i] = b

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.bytes.get(addr + i, 0xA5) for i in range(n))


def rig(route_to: str | None = "g0") -> tuple[Scoreboard, Memory]:
    mem = Memory()

    def route(frame: bytes, meta: Meta) -> tuple[str | None, DropReason | None]:
        return (route_to, None) if route_to else (None, DropReason.FILTERED)

    sb = Scoreboard(mem.read, lambda: 1234.0, route)
    sb.add_owner("g0", 1)
    return sb, mem


def nic_does(mem: Memory, frame: bytes, cfg: QueueConfig = CFG, k: int = 0) -> RxDone:
    """What a correct NIC writes for ``frame`` into a fresh buffer; returns the poll result."""
    d = RxDescriptor(0x100000 + k * 0x1000, 0x200000 + k * 0x100, 7 + k, 2048, 256, DescFlags.EOG)
    meta = reference(frame, MAX_HDR_BYTES, MAX_EXT_HDRS)
    p = predict_frame(cfg, QueueState(desc_tail=1), [d], frame, meta)
    for addr, data in p.data_writes:
        mem.write(addr, data)
    assert p.completion is not None
    return RxDone(p.completion, (d,))


def frames(n: int) -> list[bytes]:
    rng = random.Random(5)
    return [scapy_frame(rng, rng.randint(60, 600), i) for i in range(n)]


def test_correct_nic_passes_and_accounts() -> None:
    sb, mem = rig()
    fs = frames(3)
    for k, f in enumerate(fs):
        sb.wire(f)
        sb.completion(1, CFG, nic_does(mem, f, k=k))
        sb.delivered("g0", f)
    sb.wire(fs[0], DropReason.BAD_FCS)
    assert sb.finish({DropReason.BAD_FCS: 1}, {1: 0}) == []
    assert sb.checks == 6


def test_corrupted_byte_is_reported_with_frame_number_and_hexdiff() -> None:
    sb, mem = rig()
    f = frames(1)[0]
    sb.wire(f)
    done = nic_does(mem, f)
    mem.write(done.descs[0].data_addr + 12 + 40, bytes([f[40] ^ 0x10]))
    with pytest.raises(ScoreboardMismatch) as exc:
        sb.completion(1, CFG, done)
    msg = str(exc.value)
    assert "frame 0" in msg and "owner g0" in msg and "first difference at byte 40" in msg
    assert "waves: open" in msg


def test_wrong_completion_field_is_reported() -> None:
    sb, mem = rig()
    f = frames(1)[0]
    sb.wire(f)
    done = nic_does(mem, f)
    bad = RxDone(done.cpl.__class__(**{**done.cpl.__dict__, "csum": done.cpl.csum ^ 1}), done.descs)
    with pytest.raises(ScoreboardMismatch, match="completion differs"):
        sb.completion(1, CFG, bad)


def test_frames_out_of_order_are_reported() -> None:
    sb, mem = rig()
    a, b = frames(2)
    sb.wire(a)
    sb.wire(b)
    with pytest.raises(ScoreboardMismatch, match="completion differs"):
        sb.completion(1, CFG, nic_does(mem, b))


def test_delivery_must_equal_the_frame_sent() -> None:
    sb, mem = rig()
    f = frames(1)[0]
    sb.wire(f)
    sb.completion(1, CFG, nic_does(mem, f))
    with pytest.raises(ScoreboardMismatch, match="differs from the one sent"):
        sb.delivered("g0", f[:-1] + bytes([f[-1] ^ 1]))


def test_split_frame_checked_in_both_buffers() -> None:
    sb, mem = rig()
    f = frames(1)[0]
    sb.wire(f)
    done = nic_does(mem, f, SPLIT_CFG)
    assert done.cpl.hdr_len > 0
    mem.write(done.descs[0].hdr_addr + 3, bytes([f[3] ^ 0xFF]))
    with pytest.raises(ScoreboardMismatch, match="differ from the model's placement"):
        sb.completion(1, SPLIT_CFG, done)


def test_completion_landing_before_its_data_is_reported() -> None:
    sb, _ = rig()
    f = frames(1)[0]
    sb.wire(f)
    done = nic_does(Memory(), f)
    d = list(done.descs)
    with pytest.raises(ScoreboardMismatch, match="before its data"):
        sb.record_landed(1, done.cpl, d, 12, lambda a, n: bytes(n))  # nothing written yet
    sb.record_landed(1, done.cpl, d, 12, lambda a, n: b"\x01" * n)


def test_msi_without_a_new_record_is_reported() -> None:
    sb, _ = rig()
    with pytest.raises(ScoreboardMismatch, match="MSI-X before"):
        sb.msi_landed(1)


def test_accounting_finds_lost_and_miscounted_frames() -> None:
    sb, mem = rig()
    a, b = frames(2)
    sb.wire(a)
    sb.wire(b)
    sb.completion(1, CFG, nic_does(mem, a))
    sb.delivered("g0", a)
    problems = sb.finish({}, {1: 0})
    assert any("1 frames without completion" in p for p in problems), problems
    assert any("frames on the wire 2 != delivered 1 + drops 0" in p for p in problems)


def test_filtered_frames_must_be_counted_as_filtered() -> None:
    sb, _ = rig(route_to=None)
    sb.wire(frames(1)[0])
    assert sb.finish({DropReason.FILTERED: 1}, {}) == []
    assert any("FILTERED" in p for p in sb.finish({DropReason.NO_BUFFER: 1}, {}))


# -- the one completion matcher (Scoreboard.completion and tb.lib.coredma.check_delivery) ----


def test_matcher_skips_frames_dropped_at_the_queue_only_when_they_may_drop() -> None:
    mem = Memory()
    fs = frames(4)
    cands = [(f, reference(f, MAX_HDR_BYTES, MAX_EXT_HDRS)) for f in fs]
    done = nic_does(mem, fs[2])  # frames 0 and 1 were dropped at the queue
    m = match_completion(CFG, done, cands, mem.read, may_drop=True)
    assert m.skipped == 2 and m.want.completion == done.cpl
    with pytest.raises(CompletionMismatch) as exc:
        match_completion(CFG, done, cands, mem.read, may_drop=False)
    assert exc.value.index == 0 and exc.value.what == "completion differs from the model"
    with pytest.raises(CompletionMismatch, match="completion for no frame"):
        match_completion(CFG, done, [], mem.read, may_drop=True)
    with pytest.raises(CompletionMismatch, match="matches none of the 2 frames"):
        match_completion(CFG, done, cands[:2], mem.read, may_drop=True)


def test_matcher_names_the_frame_whose_completion_fits_but_bytes_do_not() -> None:
    # a frame that may have been dropped is not skipped silently when its completion is
    # the one written and only its bytes are wrong: that is the frame, misplaced
    mem = Memory()
    fs = frames(3)
    cands = [(f, reference(f, MAX_HDR_BYTES, MAX_EXT_HDRS)) for f in fs]
    done = nic_does(mem, fs[1])
    mem.write(done.descs[0].data_addr + 12 + 20, bytes([fs[1][20] ^ 1]))
    with pytest.raises(CompletionMismatch) as exc:
        match_completion(CFG, done, cands, mem.read, may_drop=True)
    assert exc.value.index == 1 and "differ from the model's placement" in exc.value.what

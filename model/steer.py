# SPDX-License-Identifier: MIT
"""Reference model of rx_steer: destination MAC (+ VLAN) table, group traffic and
promiscuous mode -> queue or drop. The predictor and the RTL tests share it.

``steer_frame`` is the whole choice for one frame as splitrx_core makes it: the frame's RSS
queue (``model.rss``, from the parser's tuple) goes with the lookup, so broadcast, multicast
and promiscuous unicast land on ``indirection[hash % 128]``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.parse_meta import Meta
from model.records import DropReason, SteerRule
from model.rss import RSS_RESET, RssConfig

BROADCAST = (1 << 48) - 1
IG_BIT = 1 << 40  # I/G bit: least significant bit of the first byte on the wire


@dataclass(frozen=True)
class Entry:
    valid: bool
    mac: int  # 48-bit, first wire byte most significant
    vlan_en: bool
    vlan_id: int
    queue: int


EMPTY = Entry(False, 0, False, 0, 0)


@dataclass(frozen=True)
class Lookup:
    """One lookup request and the promisc level driven with it."""

    mac: int
    vlan: int | None  # VLAN ID, None when untagged
    rss_queue: int
    promisc: bool


@dataclass(frozen=True)
class Verdict:
    rule: SteerRule
    queue: int
    drop: bool
    reason: int
    entry: int


def steer(table: Sequence[Entry], req: Lookup) -> Verdict:
    """Reference verdict: group traffic first, then the lowest matching entry, then promisc."""
    if req.mac == BROADCAST:
        return Verdict(SteerRule.BROADCAST, req.rss_queue, False, 0, 0)
    if req.mac & IG_BIT:
        return Verdict(SteerRule.MULTICAST, req.rss_queue, False, 0, 0)
    for i, e in enumerate(table):
        if e.valid and e.mac == req.mac and (not e.vlan_en or req.vlan == e.vlan_id):
            return Verdict(SteerRule.MATCH, e.queue, False, 0, i)
    if req.promisc:
        return Verdict(SteerRule.PROMISC, req.rss_queue, False, 0, 0)
    return Verdict(SteerRule.FILTERED, 0, True, int(DropReason.FILTERED), 0)


def lookup_of(frame: bytes, meta: Meta, rss_queue: int, promisc: bool) -> Lookup:
    """The lookup rx_place makes for ``frame``: its destination MAC (the first 6 bytes), the
    parser's outermost VLAN ID, the frame's RSS queue."""
    if len(frame) < 6:
        raise ValueError(f"a {len(frame)}-byte frame has no destination MAC")
    vlan = meta.vlan_tci & 0xFFF if meta.vlan else None
    return Lookup(int.from_bytes(frame[:6], "big"), vlan, rss_queue, promisc)


def steer_frame(
    table: Sequence[Entry],
    frame: bytes,
    meta: Meta,
    promisc: bool,
    rss: RssConfig = RSS_RESET,
) -> Verdict:
    """Where ``frame`` (parsed as ``meta``) goes: the steering verdict with the frame's RSS
    queue under ``rss`` for the rules that use it."""
    return steer(table, lookup_of(frame, meta, rss.result(meta.flow()).queue, promisc))

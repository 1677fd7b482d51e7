# SPDX-License-Identifier: MIT
"""The owners a system run sets up (tb.lib.system.SystemRig), as plain data: no cocotb, so
the scenario table (tb/sim_scenarios.py) that `make sim`'s command line reads can hold
them."""

from __future__ import annotations

from dataclasses import dataclass

from model.records import PlacementMode, SplitLevel
from sw.vhost import DEFAULT_FEATURES, DEFAULT_HDR_BUF_SIZE
from sw.xsk_owner import DEFAULT_CHUNK_SIZE
from tb.lib.traffic import GUEST_MAC

HOST_MAC = "02:00:00:00:00:fe"  # the host's own queues


@dataclass(frozen=True)
class GuestSpec:
    """One virtio guest: its MAC, the NIC queue its backend drives, ring and buffers (each
    one segment of ``buf_size``, or a chain of ``chain_buffers`` segments: big packets)."""

    name: str = "guest0"
    mac: str = GUEST_MAC
    queue: int = 0
    guest_num: int = 16
    nic_entries: int = 16
    buf_size: int | tuple[int, ...] = 2048  # several: fresh buffers cycle through them
    chain_buffers: int | tuple[int, ...] = 1  # segments per buffer (big-packet chains)
    quota_pages: int = 1024
    ram_size: int = 1 << 20
    reuse: bool = True  # repost a buffer once its frame is read (else a fresh one)
    refill: bool = True  # post more buffers as frames are read (off: each posted once)
    features: int = DEFAULT_FEATURES
    mode: PlacementMode = PlacementMode.FULL  # or SPLIT_HOLE
    split_level: SplitLevel = SplitLevel.L4
    may_drop: bool = False  # its queue may drop frames (e.g. it stops posting buffers)
    stalled: bool = False  # hostile: never polls its used ring, so never reposts buffers
    posts: int | None = None  # buffers the guest posts at start (None: fill its ring)


@dataclass(frozen=True)
class XskSpec:
    """One user-space ring owner: its MAC, NIC queue, UMEM and rings. SPLIT by default at
    DATA_OFFSET 256: the payload at 256 in each chunk, the headers in a kernel header buffer
    of as many bytes (the parser's depth), copied in front of the payload by the glue."""

    name: str = "xsk0"
    mac: str = "02:00:00:00:00:0a"
    queue: int = 1
    chunks: int = 64
    chunk_size: int = DEFAULT_CHUNK_SIZE
    ring_size: int = 64
    nic_entries: int = 32
    data_offset: int = DEFAULT_HDR_BUF_SIZE
    mode: PlacementMode = PlacementMode.SPLIT
    split_level: SplitLevel = SplitLevel.L4
    quota_pages: int = 1024

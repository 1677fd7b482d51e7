# SPDX-License-Identifier: MIT
"""Page constructor: lazy pinning, shared pages, quota refusals, returns, teardown."""

from __future__ import annotations

import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from model.hostmem import PAGE_SIZE, GuestRam, HostMemory
from model.iommu import Iommu, IommuFault
from model.tracker import DmaWriteTracker
from sw.page_pool import (
    DEFAULT_IOVA_OFFSET,
    BufferOutOfRange,
    BufferStateError,
    PagePool,
    PoolError,
    PostQueueFull,
    QuotaExceeded,
    UnknownOwner,
)

NIC = 0x0100
P = PAGE_SIZE


def setup(
    quota: int = 4, guests: int = 1, tracker: DmaWriteTracker | None = None
) -> tuple[HostMemory, Iommu, PagePool, list[GuestRam]]:
    mem, io = HostMemory(), Iommu()
    pool = PagePool(io, NIC, tracker=tracker)
    rams = []
    for g in range(guests):
        ram = GuestRam(mem, 64 * P, name=f"g{g}")
        pool.register(f"g{g}", ram, quota)
        rams.append(ram)
    return mem, io, pool, rams


def test_posting_pins_nothing_and_taking_maps_the_pages_for_the_nic() -> None:
    mem, io, pool, (ram,) = setup()
    pool.post("g0", [(0x3F00, 0x200)])  # spans guest pages 3 and 4
    assert pool.pinned_pages == 0 and io.domain(NIC).mapped_pages == 0
    buf = pool.take("g0")
    assert buf is not None and buf.length == 0x200
    seg = buf.segments[0]
    assert seg.host_addr == ram.to_host(0x3F00) and seg.iova == seg.host_addr + DEFAULT_IOVA_OFFSET
    assert pool.stats("g0").pinned_pages == 2 and io.domain(NIC).mapped_pages == 2
    io.dma_write(NIC, mem, seg.iova, b"frame!" * 50)  # the NIC writes through its IOVA
    assert ram.read(0x3F00, 300) == b"frame!" * 50
    with pytest.raises(IommuFault):  # host-physical addresses are not IOVAs
        io.dma_write(NIC, mem, seg.host_addr, b"x")
    assert pool.take("g0") is None


def test_two_buffers_in_one_page_pin_it_once() -> None:
    _, io, pool, _ = setup(quota=1)
    pool.post("g0", [(0x1000, 0x800)])
    pool.post("g0", [(0x1800, 0x800)])
    a, b = pool.take("g0"), pool.take("g0")
    assert a is not None and b is not None
    assert pool.stats("g0").pinned_pages == 1 and io.domain(NIC).mapped_pages == 1
    pool.return_buffer("g0", a.buffer_id)
    assert pool.is_pinned(a.segments[0].host_addr)  # b still holds the page
    pool.return_buffer("g0", b.buffer_id)
    assert not pool.is_pinned(a.segments[0].host_addr)
    assert io.domain(NIC).mapped_pages == 0


def test_quota_refusal_pins_nothing_and_is_counted() -> None:
    _, io, pool, _ = setup(quota=3)
    pool.post("g0", [(0x1000, 2 * P)])  # pages 1, 2
    pool.post("g0", [(0x2800, 2 * P)])  # pages 2, 3, 4: two new, one over quota
    first = pool.take("g0")
    assert first is not None
    with pytest.raises(QuotaExceeded) as exc:
        pool.take("g0")
    e = exc.value
    assert (e.owner, e.pinned, e.quota, e.requested) == ("g0", 2, 3, 2)
    assert "'g0'" in str(e) and "2 of 3 pages pinned" in str(e) and "needs 2 more" in str(e)
    st_ = pool.stats("g0")
    assert (st_.pinned_pages, st_.refusals, st_.posted, st_.in_flight) == (2, 1, 1, 1)
    assert io.domain(NIC).mapped_pages == 2
    pool.return_buffer("g0", first.buffer_id)  # room again: the refused buffer goes next
    second = pool.take("g0")
    assert second is not None and second.segments[0].addr == 0x2800
    assert pool.stats("g0").peak_pinned_pages == 3


def test_buffer_bigger_than_the_whole_quota_is_refused_at_post() -> None:
    _, _, pool, _ = setup(quota=2)
    with pytest.raises(QuotaExceeded) as exc:
        pool.post("g0", [(0x1000, 3 * P)])
    assert exc.value.requested == 3
    assert pool.stats("g0").refusals == 1 and pool.stats("g0").posted == 0


def test_buffer_outside_the_owners_memory_is_refused() -> None:
    _, _, pool, (ram,) = setup()
    with pytest.raises(BufferOutOfRange):
        pool.post("g0", [(ram.size - 16, 32)])
    with pytest.raises(BufferOutOfRange):
        pool.post("g0", [(0x1000, 0)])
    with pytest.raises(BufferOutOfRange):
        pool.post("g0", [])
    assert pool.stats("g0").rejected_posts == 3 and pool.stats("g0").posted == 0


def test_double_return_and_return_before_hand_over_are_errors() -> None:
    _, _, pool, _ = setup()
    bid = pool.post("g0", [(0x1000, 100)])
    with pytest.raises(BufferStateError, match="never handed"):
        pool.return_buffer("g0", bid)
    pool.take("g0")
    pool.return_buffer("g0", bid)
    with pytest.raises(BufferStateError, match="double return"):
        pool.return_buffer("g0", bid)
    assert pool.stats("g0").returned == 1


def test_buffer_id_still_in_use_cannot_be_posted_again() -> None:
    _, _, pool, _ = setup()
    pool.post("g0", [(0x1000, 100)], buffer_id=5)
    with pytest.raises(BufferStateError):
        pool.post("g0", [(0x2000, 100)], buffer_id=5)
    pool.take("g0")
    with pytest.raises(BufferStateError):
        pool.post("g0", [(0x2000, 100)], buffer_id=5)
    pool.return_buffer("g0", 5)
    assert pool.post("g0", [(0x2000, 100)], buffer_id=5) == 5


def test_one_owner_at_quota_does_not_affect_another() -> None:
    _, _, pool, _ = setup(quota=1, guests=2)
    pool.post("g0", [(0x1000, 100)])
    pool.post("g0", [(0x5000, 100)])
    pool.take("g0")
    with pytest.raises(QuotaExceeded):
        pool.take("g0")
    pool.post("g1", [(0x1000, 100)])
    assert pool.take("g1") is not None
    assert pool.stats("g1").refusals == 0 and pool.stats("g0").refusals == 1


def test_hand_over_refused_for_quota_leaves_nothing_posted() -> None:
    _, _, pool, _ = setup(quota=1)
    pool.hand_over("g0", [(0x1000, 64)])
    with pytest.raises(QuotaExceeded):
        pool.hand_over("g0", [(0x2000, 64)])
    assert pool.stats("g0").posted == 0 and pool.stats("g0").in_flight == 1
    assert pool.take("g0") is None


def test_post_queue_bound() -> None:
    _, _, pool, (ram,) = setup()
    pool.register("app", ram, 4, max_posted=2)  # e.g. a user ring of 2 entries
    pool.post("app", [(0x1000, 64)])
    pool.post("app", [(0x1100, 64)])
    with pytest.raises(PostQueueFull):
        pool.post("app", [(0x1200, 64)])
    assert pool.stats("app").rejected_posts == 1


def test_teardown_unpins_everything_and_later_dma_faults() -> None:
    mem, io, pool, _ = setup(quota=8, guests=2)
    for k in range(4):
        pool.post("g0", [(0x1000 * (k + 1) + 0x100, 0x1000)])
    bufs = [pool.take("g0") for _ in range(3)]
    pool.post("g1", [(0x1000, 64)])
    pool.take("g1")
    assert pool.stats("g0").pinned_pages == 4
    final = pool.teardown("g0")
    assert (final.pinned_pages, final.in_flight, final.posted) == (0, 0, 0)
    assert final.peak_pinned_pages == 4
    assert pool.pinned_pages == 1 and io.domain(NIC).mapped_pages == 1  # only g1's page
    assert bufs[0] is not None
    with pytest.raises(IommuFault):
        io.dma_write(NIC, mem, bufs[0].segments[0].iova, b"stale")
    with pytest.raises(UnknownOwner):
        pool.take("g0")
    with pytest.raises(PoolError):
        pool.register("g1", GuestRam(mem, P), 1)  # still registered


def test_tracker_sees_hand_over_and_return() -> None:
    tracker = DmaWriteTracker()
    _, _, pool, _ = setup(tracker=tracker, guests=2)
    pool.post("g0", [(0x1000, 256)])
    pool.post("g1", [(0x1000, 256)])
    a, b = pool.take("g0"), pool.take("g1")
    assert a is not None and b is not None
    assert tracker.record_write(a.segments[0].iova, b"ok") is None
    pool.return_buffer("g1", b.buffer_id)
    v = tracker.record_write(b.segments[0].iova, b"misdirected")
    assert v is not None and (v.owner, v.buffer_id, v.state) == ("g1", b.buffer_id, "returned")
    pool.teardown("g0")
    assert tracker.posted_buffers() == []


OPS = st.lists(
    st.tuples(
        st.sampled_from(["post", "post", "take", "take", "return", "teardown", "register"]),
        st.integers(0, 2),  # owner
        st.integers(0, 12),  # guest page / pick
        st.integers(1, 2 * P),  # length
    ),
    min_size=20,
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(OPS, st.integers(0, 4))
def test_pinned_pages_never_exceed_quota_and_nothing_stays_pinned(
    ops: list[tuple[str, int, int, int]], quota: int
) -> None:
    note(f"quota={quota}")
    mem, io = HostMemory(), Iommu()
    pool = PagePool(io, NIC)
    rams = [GuestRam(mem, 48 * P, name=f"o{k}") for k in range(3)]
    live: dict[str, dict[int, frozenset[int]]] = {}  # owner -> NIC-held buffer id -> pages
    refusals: dict[str, int] = {}
    for k, ram in enumerate(rams):
        pool.register(f"o{k}", ram, quota)
        live[f"o{k}"], refusals[f"o{k}"] = {}, 0
    for op, k, pick, length in ops:
        owner = f"o{k}"
        if op == "register" or owner not in live:
            if owner not in live:
                pool.register(owner, rams[k], quota)
                live[owner], refusals[owner] = {}, 0
            continue
        if op == "post":
            try:
                pool.post(owner, [(pick * P + (length * 7) % P, length)])
            except QuotaExceeded:
                refusals[owner] += 1
            except BufferOutOfRange:
                pass
        elif op == "take":
            try:
                buf = pool.take(owner)
            except QuotaExceeded:
                refusals[owner] += 1
                event("refused at take")
            else:
                if buf is not None:
                    live[owner][buf.buffer_id] = buf.pages
        elif op == "return" and live[owner]:
            bid = sorted(live[owner])[pick % len(live[owner])]
            del live[owner][bid]
            pool.return_buffer(owner, bid)
        elif op == "teardown":
            if live[owner]:
                event("teardown with buffers in flight")
            assert pool.teardown(owner).pinned_pages == 0
            del live[owner]
            continue
        # invariants after every step
        stats = pool.stats(owner)
        assert stats.pinned_pages <= quota
        assert stats.refusals == refusals[owner]
        assert stats.in_flight == len(live[owner])
        assert stats.pinned_pages == len(set().union(*live[owner].values()))
        all_pages = set().union(*(p for bufs in live.values() for p in bufs.values()))
        assert pool.pinned_pages == io.domain(NIC).mapped_pages == len(all_pages)
    for owner in list(live):
        pool.teardown(owner)
    assert pool.pinned_pages == 0 and io.domain(NIC).mapped_pages == 0

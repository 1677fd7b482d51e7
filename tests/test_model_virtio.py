# SPDX-License-Identifier: MIT
"""virtio split ring and virtio_net_hdr: layouts against the kernel header, the event-index
rule, 16-bit wrap, driver <-> device round trips, malicious chains."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import virtio as v
from model.hostmem import PAGE_SIZE, GuestRam, HostMemory
from model.virtio import (
    Chain,
    ChainError,
    ChainErrorReason,
    ChainSegment,
    RingError,
    RingFull,
    SplitRing,
    SplitRingLayout,
    VirtioNetHdr,
    VringDesc,
    VringUsedElem,
    vring_need_event,
    vring_size,
)

HEADERS = [Path(f"/usr/include/linux/{h}") for h in ("virtio_ring.h", "virtio_net.h")]
NUMS = (1, 2, 4, 8, 64, 256, 1024, 32768)

# (event_idx, new_idx, old) triples: hand-picked edges, then seeded random ones.
EDGE_CASES = [
    (0, 1, 0), (0, 0, 0), (1, 1, 0), (5, 10, 5), (9, 10, 5), (10, 10, 5), (4, 10, 5),
    (65535, 0, 65535), (65535, 1, 65534), (65534, 1, 65535), (0, 1, 65535), (1, 1, 65535),
    (65535, 2, 65530), (2, 2, 65530), (65529, 2, 65530), (32768, 0, 32768), (7, 7, 7),
]  # fmt: skip
NEED_EVENT_SEED = 7
_rng = random.Random(NEED_EVENT_SEED)
NEED_EVENT_CASES = EDGE_CASES + [
    (_rng.randrange(65536), n, (n - _rng.randrange(300)) & 0xFFFF)
    for n in (_rng.randrange(65536) for _ in range(300))
]

C_PROGRAM = r"""
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_net.h>
#include <linux/virtio_config.h>
#define P(name, value) printf("%s %lu\n", name, (unsigned long)(value))
static const unsigned short cases[][3] = { CASES };
int main(void) {
    P("sizeof_desc", sizeof(struct vring_desc));
    P("desc.addr", offsetof(struct vring_desc, addr));
    P("desc.len", offsetof(struct vring_desc, len));
    P("desc.flags", offsetof(struct vring_desc, flags));
    P("desc.next", offsetof(struct vring_desc, next));
    P("avail.flags", offsetof(struct vring_avail, flags));
    P("avail.idx", offsetof(struct vring_avail, idx));
    P("avail.ring", offsetof(struct vring_avail, ring));
    P("sizeof_used_elem", sizeof(struct vring_used_elem));
    P("used_elem.id", offsetof(struct vring_used_elem, id));
    P("used_elem.len", offsetof(struct vring_used_elem, len));
    P("used.flags", offsetof(struct vring_used, flags));
    P("used.idx", offsetof(struct vring_used, idx));
    P("used.ring", offsetof(struct vring_used, ring));
    P("sizeof_net_hdr", sizeof(struct virtio_net_hdr_v1));
    P("net_hdr.flags", offsetof(struct virtio_net_hdr_v1, flags));
    P("net_hdr.gso_type", offsetof(struct virtio_net_hdr_v1, gso_type));
    P("net_hdr.hdr_len", offsetof(struct virtio_net_hdr_v1, hdr_len));
    P("net_hdr.gso_size", offsetof(struct virtio_net_hdr_v1, gso_size));
    P("net_hdr.csum_start", offsetof(struct virtio_net_hdr_v1, csum_start));
    P("net_hdr.csum_offset", offsetof(struct virtio_net_hdr_v1, csum_offset));
    P("net_hdr.num_buffers", offsetof(struct virtio_net_hdr_v1, num_buffers));
    P("VRING_DESC_F_NEXT", VRING_DESC_F_NEXT);
    P("VRING_DESC_F_WRITE", VRING_DESC_F_WRITE);
    P("VRING_DESC_F_INDIRECT", VRING_DESC_F_INDIRECT);
    P("VRING_USED_F_NO_NOTIFY", VRING_USED_F_NO_NOTIFY);
    P("VRING_AVAIL_F_NO_INTERRUPT", VRING_AVAIL_F_NO_INTERRUPT);
    P("VRING_DESC_ALIGN_SIZE", VRING_DESC_ALIGN_SIZE);
    P("VRING_AVAIL_ALIGN_SIZE", VRING_AVAIL_ALIGN_SIZE);
    P("VRING_USED_ALIGN_SIZE", VRING_USED_ALIGN_SIZE);
    P("VIRTIO_RING_F_INDIRECT_DESC", VIRTIO_RING_F_INDIRECT_DESC);
    P("VIRTIO_RING_F_EVENT_IDX", VIRTIO_RING_F_EVENT_IDX);
    P("VIRTIO_F_VERSION_1", VIRTIO_F_VERSION_1);
    P("VIRTIO_NET_F_MRG_RXBUF", VIRTIO_NET_F_MRG_RXBUF);
    P("VIRTIO_NET_F_GUEST_CSUM", VIRTIO_NET_F_GUEST_CSUM);
    P("VIRTIO_NET_HDR_F_NEEDS_CSUM", VIRTIO_NET_HDR_F_NEEDS_CSUM);
    P("VIRTIO_NET_HDR_F_DATA_VALID", VIRTIO_NET_HDR_F_DATA_VALID);
    P("VIRTIO_NET_HDR_GSO_NONE", VIRTIO_NET_HDR_GSO_NONE);
    static const unsigned nums[] = { NUMS };
    for (unsigned k = 0; k < sizeof nums / sizeof nums[0]; k++) {
        unsigned num = nums[k];
        unsigned long size = vring_size(num, 4096);
        char *p = aligned_alloc(4096, (size + 4095) & ~4095UL);
        struct vring vr;
        vring_init(&vr, num, p, 4096);
        printf("ring %u %lu %ld %ld %ld %ld\n", num, size, (long)((char *)vr.avail - p),
               (long)((char *)vr.used - p), (long)((char *)&vring_used_event(&vr) - p),
               (long)((char *)&vring_avail_event(&vr) - p));
        free(p);
    }
    for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++)
        printf("need_event %u %u %u %d\n", cases[k][0], cases[k][1], cases[k][2],
               vring_need_event(cases[k][0], cases[k][1], cases[k][2]));
    return 0;
}
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Lines printed by a C program built against the installed kernel UAPI headers."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found: cannot check layouts against the kernel header")
    missing = [str(h) for h in HEADERS if not h.exists()]
    if missing:
        pytest.skip(f"kernel UAPI header(s) {missing} absent (install linux-libc-dev)")
    d = tmp_path_factory.mktemp("vring")
    cases = ", ".join(f"{{{e}, {n}, {o}}}" for e, n, o in NEED_EVENT_CASES)
    src = C_PROGRAM.replace("CASES", cases).replace("NUMS", ", ".join(map(str, NUMS)))
    (d / "vring.c").write_text(src)
    subprocess.run([gcc, "-O1", "-Wall", "-o", str(d / "vring"), str(d / "vring.c")], check=True)
    out = subprocess.run([str(d / "vring")], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def _values(lines: list[str]) -> dict[str, int]:
    return {k: int(val) for k, val in (ln.split() for ln in lines if len(ln.split()) == 2)}


def test_struct_layouts_match_the_kernel_header(kernel: list[str]) -> None:
    c = _values(kernel)
    assert VringDesc.size() == c["sizeof_desc"] == 16
    assert VringUsedElem.size() == c["sizeof_used_elem"] == 8
    assert VirtioNetHdr.size() == v.VIRTIO_NET_HDR_V1_SIZE == c["sizeof_net_hdr"] == 12
    for rec, prefix in (
        (VringDesc, "desc"),
        (VringUsedElem, "used_elem"),
        (VirtioNetHdr, "net_hdr"),
    ):
        for f in rec.field_layouts():
            assert f.offset == c[f"{prefix}.{f.name}"], f"{rec.__name__}.{f.name}"
    for hdr, prefix in ((v.VringAvailHeader, "avail"), (v.VringUsedHeader, "used")):
        got = {f.name: f.offset for f in hdr.field_layouts()}
        assert got == {"flags": c[f"{prefix}.flags"], "idx": c[f"{prefix}.idx"]}
        assert hdr.size() == c[f"{prefix}.ring"]


def test_constants_match_the_kernel_header(kernel: list[str]) -> None:
    c = _values(kernel)
    names = [k for k in c if k.isupper()]
    assert len(names) == 16
    for name in names:
        assert getattr(v, name) == c[name], name
    for name, bit in v.FEATURE_BITS.items():
        assert c[name] == bit


def test_ring_offsets_and_vring_size_match_vring_init(kernel: list[str]) -> None:
    rows = [ln.split()[1:] for ln in kernel if ln.startswith("ring ")]
    assert len(rows) == len(NUMS)
    for row in rows:
        num, size, avail, used, used_event, avail_event = map(int, row)
        assert vring_size(num, 4096) == size
        base = 0x10_0000
        lay = SplitRingLayout.legacy(num, base, 4096)
        assert (lay.avail - base, lay.used - base) == (avail, used)
        assert lay.used_event_addr - base == used_event
        assert lay.avail_event_addr - base == avail_event
        assert lay.avail_event_addr + 2 - base == size  # avail_event is the last field


def test_vring_need_event_agrees_with_the_kernel_function(kernel: list[str]) -> None:
    rows = [tuple(map(int, ln.split()[1:])) for ln in kernel if ln.startswith("need_event ")]
    assert len(rows) == len(NEED_EVENT_CASES), f"seed {NEED_EVENT_SEED}"
    for e, n, o, want in rows:
        assert vring_need_event(e, n, o) == bool(want), (e, n, o)


@pytest.mark.parametrize(
    ("event", "new", "old", "want"),
    [
        (0, 1, 0, True),  # crossed event 0
        (1, 1, 0, False),  # event 1 not crossed until idx moves past it
        (4, 10, 5, False),  # event behind the batch
        (5, 10, 5, True),  # first of the batch
        (9, 10, 5, True),  # last of the batch
        (10, 10, 5, False),  # not yet
        (7, 7, 7, False),  # nothing new
        (65535, 0, 65535, True),  # the wrap itself
        (65535, 2, 65530, True),  # batch across the wrap, event before it
        (1, 2, 65530, True),  # batch across the wrap, event after it
        (2, 2, 65530, False),
        (65529, 2, 65530, False),
    ],
)
def test_vring_need_event_truth_table(event: int, new: int, old: int, want: bool) -> None:
    assert vring_need_event(event, new, old) is want


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(1, 0xFFFF))
def test_vring_need_event_means_event_in_old_to_new(event: int, old: int, moved: int) -> None:
    new = (old + moved) & 0xFFFF
    crossed = {(old + k) & 0xFFFF for k in range(moved)}
    assert vring_need_event(event, new, old) == (event in crossed)


def test_layout_sizes_and_1x_alignment() -> None:
    assert SplitRingLayout.desc_table_size(256) == 4096
    assert SplitRingLayout.avail_size(256) == 6 + 2 * 256
    assert SplitRingLayout.used_size(256) == 6 + 8 * 256
    lay = SplitRingLayout.packed_1x(2, 0x1000)
    assert (lay.desc, lay.avail, lay.used) == (0x1000, 0x1020, 0x102C)  # 0x1020 + 10 -> 4-aligned
    assert SplitRingLayout.total_size_1x(2) == 0x2C + 6 + 16
    with pytest.raises(ValueError, match="aligned"):
        SplitRingLayout(4, 0x1008, 0x2000, 0x3000)
    with pytest.raises(ValueError, match="aligned"):
        SplitRingLayout(4, 0x1000, 0x2001, 0x3000)
    with pytest.raises(ValueError, match="aligned"):
        SplitRingLayout(4, 0x1000, 0x2000, 0x3002)
    with pytest.raises(ValueError, match="power of two"):
        SplitRingLayout(3, 0x1000, 0x2000, 0x3000)
    with pytest.raises(ValueError, match="power of two"):
        SplitRingLayout(65536, 0x1000, 0x2000, 0x3000)


def test_wire_structs_are_little_endian_by_hand() -> None:
    d = VringDesc(addr=0x1122334455667788, len=0x99AABBCC, flags=3, next=0x0102)
    assert d.pack() == bytes.fromhex("8877665544332211 ccbbaa99 0300 0201")
    assert VringDesc.unpack(d.pack()) == d
    assert VringUsedElem(5, 1514).pack() == bytes.fromhex("05000000 ea050000")
    h = VirtioNetHdr(flags=v.VIRTIO_NET_HDR_F_DATA_VALID, num_buffers=3)
    assert h.pack() == bytes.fromhex("02 00 0000 0000 0000 0000 0300")
    assert VirtioNetHdr.unpack(h.pack()) == h


def test_feature_names_round_trip() -> None:
    mask = v.feature_mask(["VIRTIO_F_VERSION_1", "VIRTIO_NET_F_MRG_RXBUF", "bit5"])
    assert mask == (1 << 32) | (1 << 15) | (1 << 5)
    assert v.feature_names(mask) == ["bit5", "VIRTIO_NET_F_MRG_RXBUF", "VIRTIO_F_VERSION_1"]
    assert v.feature_mask(v.feature_names(mask)) == mask
    assert v.has_feature(mask, v.VIRTIO_NET_F_MRG_RXBUF)
    assert not v.has_feature(mask, v.VIRTIO_RING_F_EVENT_IDX)
    with pytest.raises(ValueError):
        v.feature_mask(["VIRTIO_NET_F_NOPE"])


# --------------------------------------------------------------------------------------------
# Driver and device on one ring
# --------------------------------------------------------------------------------------------


def make_ring(
    num: int = 8, *, event_idx: bool = False, indirect: bool = False, start: int = 0
) -> tuple[GuestRam, SplitRing, SplitRing]:
    ram = GuestRam(HostMemory(), 64 * PAGE_SIZE, name="g")
    base = ram.alloc(SplitRingLayout.total_size_1x(num), 16)
    lay = SplitRingLayout.packed_1x(num, base)
    drv = SplitRing(ram, lay, event_idx=event_idx, indirect=indirect)
    dev = SplitRing(ram, lay, event_idx=event_idx, indirect=indirect)
    drv.init_driver(start_idx=start)
    dev.init_device(last_avail_idx=start)
    return ram, drv, dev


def test_chain_goes_from_driver_to_device_and_back() -> None:
    ram, drv, dev = make_ring()
    head = drv.add_buf([(0x8000, 12)], [(0x9000, 1500), (0xA000, 100)], token="rx0")
    assert drv.num_free == 5 and drv.avail_idx == 1
    chain = dev.pop_avail()
    assert chain == Chain(
        head,
        (
            ChainSegment(0x8000, 12, False),
            ChainSegment(0x9000, 1500, True),
            ChainSegment(0xA000, 100, True),
        ),
        False,
    )
    assert chain.readable_len == 12 and chain.writable_len == 1600
    assert dev.pop_avail() is None
    assert drv.get_used() is None
    dev.push_used(head, 1234)
    used = drv.get_used()
    assert used is not None and (used.head, used.len, used.token) == (head, 1234, "rx0")
    assert drv.num_free == 8 and drv.in_flight == 0
    # the used element really sits in guest memory where the kernel header puts it
    raw = ram.read(drv.layout.used_elem_addr(0), 8)
    assert VringUsedElem.unpack(raw) == VringUsedElem(head, 1234)


def test_index_wraps_at_65535() -> None:
    _, drv, dev = make_ring(4, start=65533)
    heads = []
    for k in range(6):  # avail idx goes 65533 -> 65535 -> 0 -> 3
        heads.append(drv.add_buf([], [(0x1000 * (k + 1), 64)], token=k))
        chain = dev.pop_avail()
        assert chain is not None and chain.head == heads[-1]
        dev.push_used(chain.head, k)
        used = drv.get_used()
        assert used is not None and used.token == k and used.len == k
    assert drv.avail_idx == 3 == dev.last_avail_idx
    assert drv.used_idx_in_ring == 3 == drv.last_used_idx
    # slot of idx 65535 is 3, of idx 0 is 0
    assert dev.read_avail_entry(65535) == heads[2] and dev.read_avail_entry(0) == heads[3]


@settings(max_examples=60)
@given(
    st.integers(0, 0xFFFF),
    st.lists(st.sampled_from(["add", "pop", "push", "get"]), min_size=20, max_size=80),
)
def test_random_traffic_keeps_fifo_order_across_wrap(start: int, ops: list[str]) -> None:
    _, drv, dev = make_ring(4, start=start)
    added: list[int] = []
    popped: list[int] = []
    pushed: list[int] = []
    got: list[int] = []
    n = 0
    for op in ops:
        if op == "add" and drv.num_free:
            drv.add_buf([], [(0x1000 + n * 16, 16)], token=n)
            added.append(n)
            n += 1
        elif op == "pop":
            chain = dev.pop_avail()
            if chain is not None:
                popped.append(chain.head)
        elif op == "push" and len(pushed) < len(popped):
            head = popped[len(pushed)]
            dev.push_used(head, head + 100)
            pushed.append(head)
        elif op == "get":
            used = drv.get_used()
            if used is not None:
                assert used.len == used.head + 100
                assert isinstance(used.token, int)
                got.append(used.token)
    assert got == added[: len(got)]  # in order, each once
    assert drv.num_free + drv.in_flight == 4
    assert drv.num_free == 4 - (len(added) - len(got))


def test_ring_full_and_bad_used_id_are_refused() -> None:
    _, drv, dev = make_ring(2)
    drv.add_buf([], [(0x1000, 10), (0x2000, 10)])
    with pytest.raises(RingFull):
        drv.add_buf([], [(0x3000, 10)])
    dev.pop_avail()
    dev.push_used(1, 0)  # 1 is not a head
    with pytest.raises(RingError, match="not the head"):
        drv.get_used()


# --------------------------------------------------------------------------------------------
# Malicious chains (written straight into the descriptor table, as a hostile guest would)
# --------------------------------------------------------------------------------------------


def publish(drv: SplitRing, head: int) -> None:
    lay = drv.layout
    idx = drv.avail_idx
    drv.mem.write(lay.avail_ring_addr(idx % drv.num), head.to_bytes(2, "little"))
    drv.mem.write(lay.avail_idx_addr, ((idx + 1) & 0xFFFF).to_bytes(2, "little"))


def expect_chain_error(dev: SplitRing, reason: ChainErrorReason, **kw: int) -> None:
    before = dev.last_avail_idx
    with pytest.raises(ChainError) as exc:
        dev.pop_avail(**kw)
    assert exc.value.reason is reason, str(exc.value)
    assert dev.last_avail_idx == before  # nothing consumed


W, N, IND = v.VRING_DESC_F_WRITE, v.VRING_DESC_F_NEXT, v.VRING_DESC_F_INDIRECT


def test_descriptor_loop_is_detected() -> None:
    _, drv, dev = make_ring(8)
    drv.write_desc(0, VringDesc(0x1000, 100, W | N, 1))
    drv.write_desc(1, VringDesc(0x2000, 100, W | N, 2))
    drv.write_desc(2, VringDesc(0x3000, 100, W | N, 0))
    publish(drv, 0)
    expect_chain_error(dev, ChainErrorReason.LOOP)
    drv.write_desc(3, VringDesc(0x1000, 100, W | N, 3))  # self loop
    with pytest.raises(ChainError) as exc:
        dev.read_chain(3)
    assert exc.value.reason is ChainErrorReason.LOOP


def test_chain_longer_than_allowed_is_refused() -> None:
    _, drv, dev = make_ring(8)
    drv.add_buf([], [(0x1000 * (k + 1), 64) for k in range(5)])
    expect_chain_error(dev, ChainErrorReason.TOO_LONG, max_descs=4)
    chain = dev.pop_avail(max_descs=5)
    assert chain is not None and len(chain.segments) == 5


def test_indirect_table_longer_than_the_queue_is_refused() -> None:
    ram, drv, dev = make_ring(4, indirect=True)
    table = ram.alloc(16 * 5, 16)
    drv.add_indirect(table, [], [(0x1000 * (k + 1), 64) for k in range(5)])
    expect_chain_error(dev, ChainErrorReason.TOO_LONG)


def test_out_of_range_head_and_next_are_refused() -> None:
    _, drv, dev = make_ring(8)
    publish(drv, 8)
    expect_chain_error(dev, ChainErrorReason.BAD_HEAD)
    _, drv, dev = make_ring(8)
    drv.write_desc(0, VringDesc(0x1000, 100, W | N, 9))
    publish(drv, 0)
    expect_chain_error(dev, ChainErrorReason.BAD_NEXT)


def test_readable_after_writable_is_refused() -> None:
    _, drv, dev = make_ring(8)
    drv.write_desc(0, VringDesc(0x1000, 100, W | N, 1))
    drv.write_desc(1, VringDesc(0x2000, 100, 0, 0))
    publish(drv, 0)
    expect_chain_error(dev, ChainErrorReason.READABLE_AFTER_WRITABLE)


def test_avail_idx_jumping_past_the_queue_size_is_refused() -> None:
    _, drv, dev = make_ring(4)
    drv.mem.write(drv.layout.avail_idx_addr, (5).to_bytes(2, "little"))
    expect_chain_error(dev, ChainErrorReason.AVAIL_IDX_JUMP)


def test_indirect_chain_is_flattened() -> None:
    ram, drv, dev = make_ring(4, indirect=True)
    table = ram.alloc(16 * 3, 16)
    head = drv.add_indirect(table, [(0x5000, 12)], [(0x6000, 2048), (0x7000, 2048)], token=1)
    assert drv.num_free == 3
    chain = dev.pop_avail()
    assert chain is not None and chain.indirect and chain.head == head
    assert [(s.addr, s.len, s.write) for s in chain.segments] == [
        (0x5000, 12, False),
        (0x6000, 2048, True),
        (0x7000, 2048, True),
    ]


def test_malformed_indirect_descriptors_are_refused() -> None:
    ram, drv, dev = make_ring(4, indirect=True)
    table = ram.alloc(16 * 4, 16)
    cases = [
        (VringDesc(table, 32, IND | N, 1), None, ChainErrorReason.INDIRECT_WITH_NEXT),
        (VringDesc(table, 20, IND, 0), None, ChainErrorReason.BAD_INDIRECT_LEN),
        (VringDesc(table, 0, IND, 0), None, ChainErrorReason.BAD_INDIRECT_LEN),
        (VringDesc(0x7FFF_0000, 32, IND, 0), None, ChainErrorReason.INDIRECT_OUT_OF_RANGE),
        (
            VringDesc(table, 32, IND, 0),
            VringDesc(table, 16, IND, 0),
            ChainErrorReason.NESTED_INDIRECT,
        ),
        (VringDesc(table, 32, IND, 0), VringDesc(0x1000, 8, W | N, 0), ChainErrorReason.LOOP),
        (VringDesc(table, 32, IND, 0), VringDesc(0x1000, 8, W | N, 2), ChainErrorReason.BAD_NEXT),
    ]
    for desc, entry, reason in cases:
        if entry is not None:
            ram.write(table, entry.pack())
        drv.write_desc(0, desc)
        with pytest.raises(ChainError) as exc:
            dev.read_chain(0)
        assert exc.value.reason is reason, (desc, entry)
    _, drv, dev = make_ring(4, indirect=False)
    drv.write_desc(0, VringDesc(table, 32, IND, 0))
    publish(drv, 0)
    expect_chain_error(dev, ChainErrorReason.INDIRECT_NOT_NEGOTIATED)


# --------------------------------------------------------------------------------------------
# Notification suppression
# --------------------------------------------------------------------------------------------


def test_kick_follows_no_notify_flag_without_event_idx() -> None:
    _, drv, dev = make_ring(8)
    drv.add_buf([], [(0x1000, 64)])
    assert drv.kick_prepare()
    dev.disable_notify()
    assert drv.used_flags == v.VRING_USED_F_NO_NOTIFY
    drv.add_buf([], [(0x2000, 64)])
    assert not drv.kick_prepare()
    assert dev.enable_notify()  # two entries already pending: the device must look again
    drv.add_buf([], [(0x3000, 64)])
    assert drv.kick_prepare()


def test_kick_follows_avail_event_with_event_idx() -> None:
    _, drv, dev = make_ring(8, event_idx=True)
    drv.add_buf([], [(0x1000, 64)])
    assert drv.kick_prepare()  # avail_event 0 crossed by 0 -> 1
    dev.disable_notify()
    assert dev.used_flags == 0  # with EVENT_IDX the flag is not used
    assert dev.pop_avail() is not None
    drv.add_buf([], [(0x2000, 64)])
    assert not drv.kick_prepare()  # avail_event still 0: 1 -> 2 does not cross it
    assert dev.pop_avail() is not None
    assert not dev.enable_notify()  # avail_event := 2, nothing pending
    assert drv.avail_event == 2
    for k in range(3):  # a batch of three crossing avail_event 2
        drv.add_buf([], [(0x3000 + k * 0x100, 64)])
    assert drv.kick_prepare()
    drv.add_buf([], [(0x4000, 64)])
    assert not drv.kick_prepare()  # 5 -> 6 does not cross 2


def test_interrupt_follows_no_interrupt_flag_without_event_idx() -> None:
    _, drv, dev = make_ring(8)
    drv.add_buf([], [(0x1000, 64)])
    drv.add_buf([], [(0x2000, 64)])
    c = dev.pop_avail()
    assert c is not None
    dev.push_used(c.head, 1)
    assert dev.need_notify()
    drv.disable_cb()
    assert drv.avail_flags == v.VRING_AVAIL_F_NO_INTERRUPT
    c = dev.pop_avail()
    assert c is not None
    dev.push_used(c.head, 1)
    assert not dev.need_notify()
    assert not drv.enable_cb()  # entries pending: poll instead of waiting for an interrupt
    assert drv.get_used() is not None and drv.get_used() is not None
    assert drv.enable_cb()


def test_used_event_written_by_get_used_drives_notifications() -> None:
    _, drv, dev = make_ring(8, event_idx=True)
    for k in range(6):
        drv.add_buf([], [(0x1000 * (k + 1), 64)])
    heads = [c.head for c in iter(dev.pop_avail, None)]
    dev.push_used(heads[0], 1)
    assert dev.need_notify()  # first one: signalled_used not valid yet
    dev.push_used(heads[1], 1)
    assert not dev.need_notify()  # used_event 0 not crossed by 1 -> 2
    assert drv.get_used() is not None and drv.get_used() is not None
    assert drv.used_event == 2  # the driver wants an interrupt when entry 2 is used
    dev.push_used_n([(heads[2], 1), (heads[3], 1)])
    assert dev.need_notify()  # 2 -> 4 crosses 2
    drv.disable_cb()
    assert drv.used_event == 0  # Linux parks used_event at 0 with EVENT_IDX
    dev.push_used(heads[4], 1)
    assert not dev.need_notify()


def test_used_idx_going_all_the_way_round_forces_a_notification() -> None:
    """vhost forgets signalled_used once the used index wraps past it unsignalled: after
    65536 silent entries the old value means nothing, so the next check notifies."""
    num = 32768
    ram = GuestRam(HostMemory(), 256 * PAGE_SIZE, name="g")
    lay = SplitRingLayout.packed_1x(num, ram.alloc(SplitRingLayout.total_size_1x(num), 16))
    drv = SplitRing(ram, lay, event_idx=True)
    dev = SplitRing(ram, lay, event_idx=True)
    drv.init_driver()
    dev.init_device()
    assert dev.need_notify()  # signalled_used := 0
    dev.push_used_n([(0, 0)] * num)
    dev.push_used_n([(0, 0)] * num)  # used idx back at 0, used_event still 0
    assert not vring_need_event(drv.used_event, 0, 0)  # the rule alone would stay quiet
    assert dev.need_notify()

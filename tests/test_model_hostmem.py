# SPDX-License-Identifier: MIT
"""Host memory and guest RAM: sparse pages, bulk access across pages, poison, translation."""

from __future__ import annotations

import mmap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.hostmem import (
    PAGE_SIZE,
    POISON_BYTE,
    GuestAddressError,
    GuestRam,
    GuestRamMap,
    HostMemory,
    MemoryAccessError,
    pages_spanned,
)


def test_unwritten_memory_reads_zero_without_backing_pages() -> None:
    mem = HostMemory()
    assert mem.read(0x1234_5678, 3 * PAGE_SIZE + 5) == bytes(3 * PAGE_SIZE + 5)
    assert mem.pages_backed == 0


def test_write_spanning_three_pages_reads_back_and_backs_only_those_pages() -> None:
    mem = HostMemory()
    data = bytes(range(256)) * 40  # 10240 bytes
    addr = 5 * PAGE_SIZE - 7
    mem.write(addr, data)
    assert mem.read(addr, len(data)) == data
    assert mem.pages_backed == len(pages_spanned(addr, len(data))) == 4
    # the neighbours are untouched
    assert mem.read(addr - 1, 1) == b"\x00"
    assert mem.read(addr + len(data), 1) == b"\x00"


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(0, 6 * PAGE_SIZE), st.binary(min_size=0, max_size=3 * PAGE_SIZE)),
        max_size=8,
    ),
    st.integers(0, 6 * PAGE_SIZE),
    st.integers(0, 3 * PAGE_SIZE),
)
def test_matches_a_flat_bytearray(writes: list[tuple[int, bytes]], raddr: int, rlen: int) -> None:
    base = 0x7000_0000  # page aligned, far from 0
    mem = HostMemory()
    ref = bytearray(10 * PAGE_SIZE)
    for off, data in writes:
        mem.write(base + off, memoryview(data))
        ref[off : off + len(data)] = data
    assert mem.read(base + raddr, rlen) == bytes(ref[raddr : raddr + rlen])


def test_poison_repeats_the_pattern_from_the_start_of_the_range() -> None:
    mem = HostMemory()
    mem.write(0x1000, b"\x11" * 16)
    mem.poison(0x1002, 7, b"\xde\xad\xbe")
    assert mem.read(0x1000, 16) == b"\x11\x11" + b"\xde\xad\xbe\xde\xad\xbe\xde" + b"\x11" * 7
    mem.poison(PAGE_SIZE * 3 - 2, 5)
    assert mem.read(PAGE_SIZE * 3 - 2, 5) == bytes([POISON_BYTE]) * 5
    mem.fill(PAGE_SIZE * 3 - 1, 2, 0x42)
    assert mem.read(PAGE_SIZE * 3 - 2, 4) == bytes([POISON_BYTE, 0x42, 0x42, POISON_BYTE])


def test_access_outside_the_memory_is_refused() -> None:
    mem = HostMemory(size=1 << 20)
    with pytest.raises(MemoryAccessError):
        mem.read((1 << 20) - 2, 4)
    with pytest.raises(MemoryAccessError):
        mem.write(-1, b"x")
    mem.write((1 << 20) - 4, b"abcd")  # the last bytes are fine
    assert mem.read((1 << 20) - 4, 4) == b"abcd"


def test_little_endian_helpers() -> None:
    mem = HostMemory()
    mem.write_u64(0x100, 0x1122334455667788)
    assert mem.read(0x100, 8) == bytes.fromhex("8877665544332211")
    mem.write_u16(0x106, 0xBEEF)
    assert mem.read_u32(0x104) == 0xBEEF3344
    assert mem.read_u16(0x100) == 0x7788


def test_alloc_hands_out_disjoint_aligned_regions_and_reserve_refuses_overlap() -> None:
    mem = HostMemory()
    a = mem.alloc(100, 64)
    b = mem.alloc(PAGE_SIZE, PAGE_SIZE)
    c = mem.alloc(1)
    assert a % 64 == 0 and b % PAGE_SIZE == 0
    assert a + 100 <= b and b + PAGE_SIZE <= c
    with pytest.raises(ValueError, match="overlaps"):
        mem.reserve(b + 10, 10, "clash")
    mem.reserve(c + 0x10_0000, PAGE_SIZE, "fixed")
    assert mem.alloc(8) >= c + 0x10_0000 + PAGE_SIZE


def test_two_guests_live_in_disjoint_host_ranges_and_translate_both_ways() -> None:
    mem = HostMemory()
    g0 = GuestRam(mem, 16 * PAGE_SIZE, name="g0")
    g1 = GuestRam(mem, 16 * PAGE_SIZE, name="g1")
    assert g0.host_base + g0.size <= g1.host_base
    g0.write(0x2000, b"zero")
    g1.write(0x2000, b"one!")
    assert mem.read(g0.host_base + 0x2000, 4) == b"zero"
    assert mem.read(g1.host_base + 0x2000, 4) == b"one!"
    assert g1.to_host(0x2000, 4) == g1.host_base + 0x2000
    assert g1.to_guest(g1.host_base + 0x2003) == 0x2003
    with pytest.raises(GuestAddressError):
        g0.to_guest(g1.host_base)


def test_guest_range_crossing_the_end_of_ram_is_refused() -> None:
    mem = HostMemory()
    g = GuestRam(mem, 4 * PAGE_SIZE, guest_base=0x4000_0000, name="g")
    end = 0x4000_0000 + 4 * PAGE_SIZE
    assert g.contains(end - 4, 4)
    assert not g.contains(end - 4, 5)
    assert not g.contains(0x4000_0000 - 1, 2)
    with pytest.raises(GuestAddressError, match="outside its RAM"):
        g.write(end - 2, b"abc")
    with pytest.raises(GuestAddressError):
        g.read(0, 1)
    assert mem.read(g.host_base + 4 * PAGE_SIZE - 2, 2) == b"\x00\x00"  # nothing written


def test_guest_at_a_fixed_host_address_cannot_overlap_another() -> None:
    mem = HostMemory()
    g0 = GuestRam(mem, 8 * PAGE_SIZE, name="g0")
    with pytest.raises(ValueError, match="overlaps"):
        GuestRam(mem, 8 * PAGE_SIZE, name="g1", host_base=g0.host_base + 4 * PAGE_SIZE)


def test_guest_alloc_stays_inside_ram() -> None:
    mem = HostMemory()
    g = GuestRam(mem, PAGE_SIZE, name="g")
    a = g.alloc(100, 16)
    b = g.alloc(100, 64)
    assert b % 64 == 0 and b >= a + 100
    with pytest.raises(MemoryError):
        g.alloc(PAGE_SIZE)


# -- memory from outside (a real guest's RAM) ------------------------------------------------


def test_backed_range_reads_and_writes_the_outside_buffer_itself() -> None:
    mem = HostMemory()
    buf = mmap.mmap(-1, 3 * PAGE_SIZE)
    base = mem.alloc(3 * PAGE_SIZE)
    mem.back(base, buf)
    mem.write(base + PAGE_SIZE - 3, b"across pages")  # a write lands in the buffer
    assert buf[PAGE_SIZE - 3 : PAGE_SIZE + 9] == b"across pages"
    buf[2 * PAGE_SIZE : 2 * PAGE_SIZE + 4] = b"back"  # and the buffer's bytes are the memory
    assert mem.read(base + 2 * PAGE_SIZE, 4) == b"back"
    assert mem.read(base + PAGE_SIZE - 3, 12) == b"across pages"
    assert mem.backed == [(base, 3 * PAGE_SIZE)]
    mem.unback(base)
    assert mem.read(base, 8) == bytes(8) and mem.backed == []
    buf.close()  # every view was released: the mapping can go


def test_backing_refuses_partial_pages_used_ranges_and_read_only_buffers() -> None:
    mem = HostMemory()
    with pytest.raises(ValueError, match="whole 4 KiB pages"):
        mem.back(0x1000, bytearray(100))
    with pytest.raises(ValueError, match="whole 4 KiB pages"):
        mem.back(0x1800, bytearray(PAGE_SIZE))
    mem.write(0x5000, b"x")
    with pytest.raises(ValueError, match="already holds pages"):
        mem.back(0x4000, bytearray(2 * PAGE_SIZE))
    with pytest.raises(ValueError, match="writable"):
        mem.back(0x8000, bytes(PAGE_SIZE))
    with pytest.raises(ValueError, match="no backing"):
        mem.unback(0x8000)


def test_guest_ram_map_translates_per_region_and_refuses_holes_and_crossings() -> None:
    mem = HostMemory()
    low = GuestRam(mem, 0xA0000, name="low")
    high = GuestRam(mem, 0x100000, name="high", guest_base=0xC0000)
    ram = GuestRamMap([high, low], name="qemu")
    assert ram.regions == (low, high)
    assert ram.to_host(0x1000, 16) == low.host_base + 0x1000
    assert ram.to_host(0xC0010, 16) == high.host_base + 0x10
    ram.write(0xC0000, b"hi")
    assert high.read(0xC0000, 2) == b"hi"
    assert ram.contains(0x9F000, 0x1000) and not ram.contains(0x9F000, 0x1001)
    for gpa, n in ((0xB0000, 4), (0x9FFFC, 8), (0x1C0000, 1)):  # hole, crossing, beyond
        assert not ram.contains(gpa, n)
        with pytest.raises(GuestAddressError, match="not inside one of its regions"):
            ram.read(gpa, n)
    with pytest.raises(ValueError, match="overlap"):
        GuestRamMap([low, GuestRam(mem, 0x2000, guest_base=0x9F000)])

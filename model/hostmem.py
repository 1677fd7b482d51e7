# SPDX-License-Identifier: MIT
"""Host-physical memory and the guests' RAM inside it.

``HostMemory`` is sparse: 4 KiB pages (bytearrays) are created on first write, and bytes
never written read as zero. Bulk reads and writes work page by page with slices, so a
simulator can move whole frames through it cheaply. A page-aligned range can instead be
*backed* by memory from outside (``back``): a writable buffer such as the ``mmap`` of a real
guest's RAM, whose 4 KiB slices become the range's pages, so a write to that range lands in
the buffer itself with no copy between. ``GuestRam`` is one guest's RAM: a contiguous range
of host memory, addressed with guest-physical addresses; ``GuestRamMap`` is a guest's RAM in
several such ranges (QEMU's regions, with holes between them).

All three satisfy ``Memory`` (``read(addr, n) -> bytes``, ``write(addr, data)``), the
interface the virtio rings and the drivers use, so a ring lives in guest-physical or
host-physical addresses alike; ``GuestRam`` and ``GuestRamMap`` also satisfy ``GuestMemory``,
what the vhost backend and the page constructor need of a guest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypeAlias

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1

#: Byte used by ``HostMemory.poison`` when no pattern is given; unlikely in real frames.
POISON_BYTE = 0xA5

Buffer: TypeAlias = bytes | bytearray | memoryview


class Memory(Protocol):
    """What rings and drivers need from a memory: byte-range read and write."""

    def read(self, addr: int, n: int) -> bytes: ...

    def write(self, addr: int, data: Buffer) -> None: ...


class GuestMemory(Memory, Protocol):
    """A guest's RAM in guest-physical addresses, as the vhost backend and the page
    constructor see it: range checks, translation to one contiguous host range, access."""

    @property
    def name(self) -> str: ...

    def contains(self, gpa: int, length: int = 1) -> bool: ...

    def to_host(self, gpa: int, length: int = 1) -> int: ...


class MemoryAccessError(Exception):
    """An access outside the memory (negative, or beyond its size)."""


class GuestAddressError(MemoryAccessError):
    """A guest-physical range that is not entirely inside the guest's RAM."""


def align_up(value: int, align: int) -> int:
    """``value`` rounded up to a multiple of ``align`` (a power of two)."""
    if align <= 0 or align & (align - 1):
        raise ValueError(f"alignment {align} is not a power of two")
    return (value + align - 1) & ~(align - 1)


def pages_spanned(addr: int, length: int) -> range:
    """Page numbers (addr >> PAGE_SHIFT) touched by ``[addr, addr + length)``."""
    if length <= 0:
        return range(0)
    return range(addr >> PAGE_SHIFT, ((addr + length - 1) >> PAGE_SHIFT) + 1)


class HostMemory:
    """Sparse byte-addressable host-physical memory of ``size`` bytes.

    ``alloc`` hands out disjoint, aligned regions (a bump allocator: regions are never
    freed), which is how rings, host buffers and guest RAM get their addresses.
    """

    def __init__(self, size: int = 1 << 40, *, alloc_base: int = 0x10_0000) -> None:
        if size <= 0:
            raise ValueError("memory size must be positive")
        self.size = size
        self._pages: dict[int, bytearray | memoryview] = {}
        self._backed: dict[int, tuple[int, memoryview]] = {}  # base -> (size, whole view)
        self._next_free = alloc_base
        self.regions: list[tuple[int, int, str]] = []  # (base, size, name) from alloc()

    # -- allocation -------------------------------------------------------------------------

    def alloc(self, size: int, align: int = PAGE_SIZE, name: str = "") -> int:
        """Reserve ``size`` bytes aligned to ``align``; returns the host-physical base."""
        if size <= 0:
            raise ValueError(f"cannot allocate {size} bytes")
        base = align_up(self._next_free, align)
        if base + size > self.size:
            raise MemoryError(
                f"host memory exhausted: {size} bytes at {base:#x} > size {self.size:#x}"
            )
        self._next_free = base + size
        self.regions.append((base, size, name))
        return base

    def reserve(self, base: int, size: int, name: str = "") -> None:
        """Claim ``[base, base + size)`` at a fixed address; it must not overlap a region
        already handed out, and ``alloc`` will not return it later."""
        self._check(base, size)
        for rbase, rsize, rname in self.regions:
            if base < rbase + rsize and rbase < base + size:
                raise ValueError(
                    f"[{base:#x}, +{size:#x}) {name!r} overlaps [{rbase:#x}, +{rsize:#x}) {rname!r}"
                )
        self.regions.append((base, size, name))
        self._next_free = max(self._next_free, base + size)

    # -- outside memory -----------------------------------------------------------------------

    def back(self, base: int, buf: Buffer) -> None:
        """Let the writable buffer ``buf`` (a multiple of 4 KiB, e.g. an ``mmap``) be the
        bytes of ``[base, base + len(buf))``: reads and writes of that range are reads and
        writes of ``buf``. The range must be page aligned and hold no page yet."""
        view = memoryview(buf)
        if view.readonly:
            raise ValueError("backing memory must be writable")
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        size = len(view)
        if base & PAGE_MASK or size <= 0 or size & PAGE_MASK:
            view.release()
            raise ValueError(
                f"backing [{base:#x}, +{size:#x}) is not whole 4 KiB pages at a page boundary"
            )
        self._check(base, size)
        first = base >> PAGE_SHIFT
        count = size >> PAGE_SHIFT
        if any(first + i in self._pages for i in range(count)):
            view.release()
            raise ValueError(f"[{base:#x}, +{size:#x}) already holds pages")
        for i in range(count):
            self._pages[first + i] = view[i << PAGE_SHIFT : (i + 1) << PAGE_SHIFT]
        self._backed[base] = (size, view)

    def unback(self, base: int) -> None:
        """Forget the backing given at ``base``: its pages read as zero again, and every
        view of the buffer is released (so an ``mmap`` can be closed)."""
        try:
            size, view = self._backed.pop(base)
        except KeyError:
            raise ValueError(f"no backing at {base:#x}") from None
        first = base >> PAGE_SHIFT
        for i in range(size >> PAGE_SHIFT):
            page = self._pages.pop(first + i)
            assert isinstance(page, memoryview)
            page.release()
        view.release()

    @property
    def backed(self) -> list[tuple[int, int]]:
        """(base, size) of every backed range."""
        return sorted((b, n) for b, (n, _) in self._backed.items())

    # -- access -----------------------------------------------------------------------------

    def _check(self, addr: int, n: int) -> None:
        if n < 0:
            raise ValueError(f"negative length {n}")
        if addr < 0 or addr + n > self.size:
            raise MemoryAccessError(
                f"access [{addr:#x}, +{n:#x}) outside host memory of {self.size:#x} bytes"
            )

    def _chunks(self, addr: int, n: int) -> Iterator[tuple[int, int, int, int]]:
        """(page number, offset in page, offset in the access, chunk length) for a range."""
        done = 0
        while done < n:
            a = addr + done
            off = a & PAGE_MASK
            chunk = min(PAGE_SIZE - off, n - done)
            yield a >> PAGE_SHIFT, off, done, chunk
            done += chunk

    def read(self, addr: int, n: int) -> bytes:
        self._check(addr, n)
        pages = self._pages
        off = addr & PAGE_MASK
        if off + n <= PAGE_SIZE:  # fast path: one page
            page = pages.get(addr >> PAGE_SHIFT)
            return bytes(n) if page is None else bytes(page[off : off + n])
        out = bytearray(n)
        for pno, off, pos, chunk in self._chunks(addr, n):
            page = pages.get(pno)
            if page is not None:
                out[pos : pos + chunk] = page[off : off + chunk]
        return bytes(out)

    def write(self, addr: int, data: Buffer) -> None:
        n = len(data)
        self._check(addr, n)
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        pages = self._pages
        for pno, off, pos, chunk in self._chunks(addr, n):
            page = pages.get(pno)
            if page is None:
                page = pages[pno] = bytearray(PAGE_SIZE)
            page[off : off + chunk] = view[pos : pos + chunk]

    def fill(self, addr: int, n: int, value: int = 0) -> None:
        """Set ``n`` bytes to ``value``."""
        self.poison(addr, n, bytes([value]))

    def poison(self, addr: int, n: int, pattern: bytes = bytes([POISON_BYTE])) -> None:
        """Fill ``[addr, addr + n)`` with ``pattern`` repeated from ``addr`` (so that bytes a
        DMA was meant to overwrite but did not are recognisable)."""
        if not pattern:
            raise ValueError("empty poison pattern")
        reps = -(-n // len(pattern))
        self.write(addr, (pattern * reps)[:n])

    def read_u16(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 2), "little")

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def write_u16(self, addr: int, value: int) -> None:
        self.write(addr, value.to_bytes(2, "little"))

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, value.to_bytes(4, "little"))

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, value.to_bytes(8, "little"))

    @property
    def pages_backed(self) -> int:
        """Pages that hold data (written at least once, or backed by outside memory)."""
        return len(self._pages)


class GuestRam:
    """One guest's RAM: ``size`` bytes of guest-physical addresses from ``guest_base``,
    backed by the contiguous host range starting at ``host_base``.

    ``read``/``write`` take guest-physical addresses and refuse anything not entirely
    inside the RAM; ``to_host`` / ``to_guest`` translate addresses. ``alloc`` is a bump
    allocator for the guest's own driver (rings, buffers).
    """

    def __init__(
        self,
        mem: HostMemory,
        size: int,
        *,
        name: str = "guest",
        guest_base: int = 0,
        host_base: int | None = None,
    ) -> None:
        if size <= 0 or size & PAGE_MASK:
            raise ValueError(f"guest RAM size {size:#x} must be a positive multiple of 4 KiB")
        if guest_base < 0 or guest_base & PAGE_MASK:
            raise ValueError(f"guest_base {guest_base:#x} must be 4 KiB aligned")
        self.mem = mem
        self.name = name
        self.size = size
        self.guest_base = guest_base
        if host_base is None:
            host_base = mem.alloc(size, PAGE_SIZE, name)
        elif host_base & PAGE_MASK:
            raise ValueError(f"host_base {host_base:#x} must be 4 KiB aligned")
        else:
            mem.reserve(host_base, size, name)
        self.host_base = host_base
        self._next_free = guest_base

    def __repr__(self) -> str:
        return (
            f"GuestRam({self.name!r}, gpa [{self.guest_base:#x}, +{self.size:#x}) -> "
            f"hpa {self.host_base:#x})"
        )

    def contains(self, gpa: int, length: int = 1) -> bool:
        """True when ``[gpa, gpa + length)`` is inside the RAM (``length`` may be 0)."""
        return (
            length >= 0 and self.guest_base <= gpa and gpa + length <= self.guest_base + self.size
        )

    def to_host(self, gpa: int, length: int = 1) -> int:
        """Host-physical address of ``gpa``; the whole range must be inside the RAM."""
        if not self.contains(gpa, length):
            raise GuestAddressError(
                f"{self.name}: guest range [{gpa:#x}, +{length:#x}) outside its RAM "
                f"[{self.guest_base:#x}, +{self.size:#x})"
            )
        return self.host_base + (gpa - self.guest_base)

    def to_guest(self, hpa: int) -> int:
        """Guest-physical address of host address ``hpa`` (which must be in this RAM)."""
        if not self.host_base <= hpa < self.host_base + self.size:
            raise GuestAddressError(f"{self.name}: host address {hpa:#x} not in this guest")
        return self.guest_base + (hpa - self.host_base)

    def read(self, addr: int, n: int) -> bytes:
        return self.mem.read(self.to_host(addr, n), n)

    def write(self, addr: int, data: Buffer) -> None:
        self.mem.write(self.to_host(addr, len(data)), data)

    def alloc(self, size: int, align: int = 16) -> int:
        """Reserve ``size`` bytes of guest RAM; returns the guest-physical base."""
        base = align_up(self._next_free, align)
        if size <= 0 or base + size > self.guest_base + self.size:
            raise MemoryError(f"{self.name}: cannot allocate {size:#x} bytes at {base:#x}")
        self._next_free = base + size
        return base


class GuestRamMap:
    """A guest's RAM in several ``GuestRam`` ranges (``regions``, disjoint in guest-physical
    addresses), as QEMU's memory table describes it. An access or a buffer must lie within
    one region: a range across a hole, or across two regions, is refused like one outside
    the RAM (two regions adjacent in guest-physical addresses need not be adjacent in host
    memory)."""

    def __init__(self, regions: Sequence[GuestRam], name: str = "guest") -> None:
        if not regions:
            raise ValueError(f"{name}: no memory region")
        ordered = sorted(regions, key=lambda r: r.guest_base)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.guest_base < a.guest_base + a.size:
                raise ValueError(f"{name}: regions {a} and {b} overlap")
        self.regions = tuple(ordered)
        self.name = name
        self.size = sum(r.size for r in ordered)

    def __repr__(self) -> str:
        return f"GuestRamMap({self.name!r}, {list(self.regions)})"

    def region_of(self, gpa: int, length: int = 1) -> GuestRam | None:
        """The region holding all of ``[gpa, gpa + length)``, if one does."""
        for r in self.regions:
            if r.contains(gpa, length):
                return r
        return None

    def contains(self, gpa: int, length: int = 1) -> bool:
        return self.region_of(gpa, length) is not None

    def _region(self, gpa: int, length: int) -> GuestRam:
        r = self.region_of(gpa, length)
        if r is None:
            spans = ", ".join(f"[{x.guest_base:#x}, +{x.size:#x})" for x in self.regions)
            raise GuestAddressError(
                f"{self.name}: guest range [{gpa:#x}, +{length:#x}) not inside one of its "
                f"regions {spans}"
            )
        return r

    def to_host(self, gpa: int, length: int = 1) -> int:
        return self._region(gpa, length).to_host(gpa, length)

    def read(self, addr: int, n: int) -> bytes:
        return self._region(addr, n).read(addr, n)

    def write(self, addr: int, data: Buffer) -> None:
        self._region(addr, len(data)).write(addr, data)

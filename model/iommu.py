# SPDX-License-Identifier: MIT
"""IOMMU: one translation domain per device (PCIe requester ID), 4 KiB pages.

``map``/``unmap`` install and remove IOVA page -> host page translations with read and/or
write permission. ``translate`` turns a DMA access into host-physical chunks, or records a
``Fault`` (requester, address, length, direction, reason, first faulting byte) in
``Iommu.faults`` and raises ``IommuFault`` carrying it: a faulting DMA is rejected whole,
nothing of it reaches memory. A requester with no domain has nothing mapped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from model.hostmem import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, Buffer, Memory


class Perm(enum.IntFlag):
    NONE = 0
    READ = 1
    WRITE = 2
    RW = 3


class FaultReason(enum.Enum):
    UNMAPPED = "unmapped"
    READ_ONLY = "read-only"  # write to a page mapped without WRITE
    WRITE_ONLY = "write-only"  # read of a page mapped without READ


@dataclass(frozen=True)
class Fault:
    """A rejected DMA access."""

    rid: int  # requester ID of the device
    address: int  # IOVA of the access
    length: int  # bytes of the access
    write: bool
    reason: FaultReason
    fault_address: int  # first IOVA of the access that failed translation

    def __str__(self) -> str:
        kind = "write" if self.write else "read"
        return (
            f"IOMMU fault: rid {self.rid:#06x} {kind} [{self.address:#x}, +{self.length:#x}) "
            f"{self.reason.value} at {self.fault_address:#x}"
        )


class IommuFault(Exception):
    """Raised for a rejected DMA access; ``fault`` is the recorded ``Fault``."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(str(fault))
        self.fault = fault


class MappingError(Exception):
    """Software misuse of map/unmap (overlap, not mapped, unaligned)."""


@dataclass(frozen=True)
class Mapping:
    host_page: int  # host-physical address of the page (4 KiB aligned)
    perm: Perm


def _check_aligned(what: str, value: int) -> None:
    if value < 0 or value & PAGE_MASK:
        raise MappingError(f"{what} {value:#x} is not a 4 KiB aligned address")


class Domain:
    """The IOVA space of one device."""

    def __init__(self, iommu: Iommu, rid: int) -> None:
        self.iommu = iommu
        self.rid = rid
        self._ptes: dict[int, Mapping] = {}  # IOVA page number -> mapping

    def map(self, iova: int, host_addr: int, length: int = PAGE_SIZE, perm: Perm = Perm.RW) -> None:
        """Map ``length`` bytes (whole pages) at ``iova`` to host memory at ``host_addr``.
        Nothing is mapped if any of the pages is already mapped."""
        _check_aligned("iova", iova)
        _check_aligned("host address", host_addr)
        if length <= 0 or length & PAGE_MASK:
            raise MappingError(f"map length {length:#x} is not a positive multiple of 4 KiB")
        if not perm & Perm.RW:
            raise MappingError("a mapping needs READ and/or WRITE permission")
        first = iova >> PAGE_SHIFT
        count = length >> PAGE_SHIFT
        for i in range(count):
            if first + i in self._ptes:
                raise MappingError(
                    f"rid {self.rid:#06x}: iova {(first + i) << PAGE_SHIFT:#x} already mapped"
                )
        for i in range(count):
            self._ptes[first + i] = Mapping(host_addr + (i << PAGE_SHIFT), Perm(perm))

    def unmap(self, iova: int, length: int = PAGE_SIZE) -> None:
        """Unmap whole pages; every page must be mapped (nothing is unmapped otherwise)."""
        _check_aligned("iova", iova)
        if length <= 0 or length & PAGE_MASK:
            raise MappingError(f"unmap length {length:#x} is not a positive multiple of 4 KiB")
        first = iova >> PAGE_SHIFT
        count = length >> PAGE_SHIFT
        for i in range(count):
            if first + i not in self._ptes:
                raise MappingError(
                    f"rid {self.rid:#06x}: iova {(first + i) << PAGE_SHIFT:#x} is not mapped"
                )
        for i in range(count):
            del self._ptes[first + i]

    def lookup(self, iova: int) -> Mapping | None:
        """The mapping of the page holding ``iova``, if any."""
        return self._ptes.get(iova >> PAGE_SHIFT)

    @property
    def mapped_pages(self) -> int:
        return len(self._ptes)

    def translate(self, iova: int, length: int, write: bool) -> list[tuple[int, int]]:
        """Host-physical (address, length) chunks for a DMA access, host-contiguous pages
        merged. Records and raises ``IommuFault`` if any page is unmapped or, for a write,
        read-only."""
        if length < 0 or iova < 0:
            raise ValueError(f"bad DMA access [{iova:#x}, +{length:#x})")
        need = Perm.WRITE if write else Perm.READ
        chunks: list[tuple[int, int]] = []
        done = 0
        while done < length:
            a = iova + done
            off = a & PAGE_MASK
            n = min(PAGE_SIZE - off, length - done)
            pte = self._ptes.get(a >> PAGE_SHIFT)
            if pte is None or not pte.perm & need:
                if pte is None:
                    reason = FaultReason.UNMAPPED
                else:
                    reason = FaultReason.READ_ONLY if write else FaultReason.WRITE_ONLY
                fault = Fault(self.rid, iova, length, write, reason, a)
                self.iommu.faults.append(fault)
                raise IommuFault(fault)
            host = pte.host_page + off
            if chunks and chunks[-1][0] + chunks[-1][1] == host:
                chunks[-1] = (chunks[-1][0], chunks[-1][1] + n)
            else:
                chunks.append((host, n))
            done += n
        return chunks


class Iommu:
    """All domains of a host, and the record of every fault."""

    def __init__(self) -> None:
        self.domains: dict[int, Domain] = {}
        self.faults: list[Fault] = []

    def attach(self, rid: int) -> Domain:
        """Create (or return) the domain of requester ``rid``."""
        if not 0 <= rid <= 0xFFFF:
            raise ValueError(f"requester ID {rid:#x} is not 16 bits")
        dom = self.domains.get(rid)
        if dom is None:
            dom = self.domains[rid] = Domain(self, rid)
        return dom

    def domain(self, rid: int) -> Domain:
        try:
            return self.domains[rid]
        except KeyError:
            raise MappingError(f"no IOMMU domain for requester {rid:#06x}") from None

    def map(
        self, rid: int, iova: int, host_addr: int, length: int = PAGE_SIZE, perm: Perm = Perm.RW
    ) -> None:
        self.attach(rid).map(iova, host_addr, length, perm)

    def unmap(self, rid: int, iova: int, length: int = PAGE_SIZE) -> None:
        self.domain(rid).unmap(iova, length)

    def translate(self, rid: int, iova: int, length: int, write: bool) -> list[tuple[int, int]]:
        dom = self.domains.get(rid)
        if dom is None:  # no domain: nothing is mapped for this device
            fault = Fault(rid, iova, length, write, FaultReason.UNMAPPED, iova)
            self.faults.append(fault)
            raise IommuFault(fault)
        return dom.translate(iova, length, write)

    def dma_read(self, rid: int, mem: Memory, iova: int, length: int) -> bytes:
        """A device read of ``length`` bytes at ``iova``, through the IOMMU."""
        chunks = self.translate(rid, iova, length, write=False)
        return b"".join(mem.read(a, n) for a, n in chunks)

    def dma_write(self, rid: int, mem: Memory, iova: int, data: Buffer) -> None:
        """A device write at ``iova``; nothing is written if any byte would fault."""
        chunks = self.translate(rid, iova, len(data), write=True)
        view = memoryview(data)
        pos = 0
        for a, n in chunks:
            mem.write(a, view[pos : pos + n])
            pos += n

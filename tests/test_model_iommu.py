# SPDX-License-Identifier: MIT
"""IOMMU: per-device domains, page translation, faults recorded and the access rejected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.hostmem import PAGE_SIZE, HostMemory
from model.iommu import Fault, FaultReason, Iommu, IommuFault, MappingError, Perm

NIC = 0x0100
OTHER = 0x0200
P = PAGE_SIZE


def test_translation_merges_host_contiguous_pages_and_splits_the_rest() -> None:
    io = Iommu()
    io.map(NIC, 0x10_0000, 0x50_0000, 2 * P)  # two contiguous host pages
    io.map(NIC, 0x10_2000, 0x90_0000)  # then a page elsewhere
    chunks = io.translate(NIC, 0x10_0FF0, 2 * P + 0x10, write=True)
    assert chunks == [(0x50_0FF0, 0x1010), (0x90_0000, 0x1000)]


def test_dma_write_lands_in_host_memory_through_the_mapping() -> None:
    io, mem = Iommu(), HostMemory()
    io.map(NIC, 0xA000, 0x3000)
    io.map(NIC, 0xB000, 0x8000)
    io.dma_write(NIC, mem, 0xAFFE, b"wxyz")
    assert mem.read(0x3FFE, 2) == b"wx" and mem.read(0x8000, 2) == b"yz"
    assert io.dma_read(NIC, mem, 0xAFFE, 4) == b"wxyz"


def test_write_to_unmapped_page_is_recorded_and_nothing_is_written() -> None:
    io, mem = Iommu(), HostMemory()
    io.map(NIC, 0xA000, 0x3000)
    with pytest.raises(IommuFault) as exc:
        io.dma_write(NIC, mem, 0xAFF0, b"\xff" * 0x20)  # second half hits unmapped 0xB000
    fault = exc.value.fault
    assert fault == Fault(NIC, 0xAFF0, 0x20, True, FaultReason.UNMAPPED, 0xB000)
    assert io.faults == [fault]
    assert mem.read(0x3FF0, 0x10) == bytes(0x10)  # the mapped half was not written either
    assert "unmapped" in str(exc.value) and "0xb000" in str(exc.value)


def test_write_to_read_only_page_faults_but_read_succeeds() -> None:
    io, mem = Iommu(), HostMemory()
    io.map(NIC, 0x4000, 0x7000, perm=Perm.READ)
    mem.write(0x7010, b"ro")
    assert io.dma_read(NIC, mem, 0x4010, 2) == b"ro"
    with pytest.raises(IommuFault) as exc:
        io.dma_write(NIC, mem, 0x4010, b"xx")
    assert exc.value.fault.reason is FaultReason.READ_ONLY
    assert exc.value.fault.write and exc.value.fault.fault_address == 0x4010
    assert mem.read(0x7010, 2) == b"ro"


def test_read_of_write_only_page_faults() -> None:
    io, mem = Iommu(), HostMemory()
    io.map(NIC, 0x4000, 0x7000, perm=Perm.WRITE)
    io.dma_write(NIC, mem, 0x4000, b"ok")
    with pytest.raises(IommuFault) as exc:
        io.dma_read(NIC, mem, 0x4000, 2)
    assert exc.value.fault.reason is FaultReason.WRITE_ONLY and not exc.value.fault.write


def test_domains_are_per_requester() -> None:
    io = Iommu()
    io.map(NIC, 0x4000, 0x7000)
    io.attach(OTHER)
    with pytest.raises(IommuFault):
        io.translate(OTHER, 0x4000, 4, write=False)
    with pytest.raises(IommuFault) as exc:
        io.translate(0x0300, 0x4000, 4, write=False)  # no domain at all
    assert exc.value.fault.rid == 0x0300
    assert [f.rid for f in io.faults] == [OTHER, 0x0300]
    assert io.translate(NIC, 0x4000, 4, write=False) == [(0x7000, 4)]


def test_unmap_removes_translation() -> None:
    io = Iommu()
    io.map(NIC, 0x4000, 0x7000, 2 * P)
    io.unmap(NIC, 0x5000)
    assert io.translate(NIC, 0x4FFC, 4, write=True) == [(0x7FFC, 4)]
    with pytest.raises(IommuFault):
        io.translate(NIC, 0x4FFC, 5, write=True)
    assert io.domain(NIC).mapped_pages == 1


def test_map_and_unmap_misuse_is_refused_without_side_effects() -> None:
    io = Iommu()
    io.map(NIC, 0x5000, 0x7000)
    with pytest.raises(MappingError, match="already mapped"):
        io.map(NIC, 0x4000, 0x9000, 2 * P)  # second page clashes
    assert io.domain(NIC).lookup(0x4000) is None  # first page not mapped either
    with pytest.raises(MappingError, match="not mapped"):
        io.unmap(NIC, 0x5000, 2 * P)
    assert io.domain(NIC).lookup(0x5000) is not None
    with pytest.raises(MappingError, match="aligned"):
        io.map(NIC, 0x4001, 0x9000)
    with pytest.raises(MappingError):
        io.map(NIC, 0x8000, 0x9000, 100)


@given(
    st.dictionaries(st.integers(0, 15), st.tuples(st.integers(0, 63), st.booleans())),
    st.integers(0, 16 * P),
    st.integers(1, 3 * P),
    st.booleans(),
)
def test_translation_matches_a_page_table(
    table: dict[int, tuple[int, bool]], iova: int, length: int, write: bool
) -> None:
    io = Iommu()
    io.attach(NIC)
    for vpn, (hpn, writable) in table.items():
        io.map(NIC, vpn * P, hpn * P, perm=Perm.RW if writable else Perm.READ)
    expect_ok = all(
        (a // P) in table and (not write or table[a // P][1]) for a in range(iova, iova + length)
    )
    try:
        chunks = io.translate(NIC, iova, length, write)
    except IommuFault as e:
        assert not expect_ok
        bad = e.fault.fault_address
        assert iova <= bad < iova + length
        assert bad // P not in table or (write and not table[bad // P][1])
        return
    assert expect_ok
    flat = [a + k for a, n in chunks for k in range(n)]
    assert flat == [table[a // P][0] * P + a % P for a in range(iova, iova + length)]

# SPDX-License-Identifier: MIT
"""DMA write tracker: the check the IOMMU cannot make.

One NIC is one IOMMU domain, so every owner's pinned pages are mapped for it at once and a
write into the wrong owner's buffer translates fine. The tracker sees every device write
(IOVA, bytes) and knows which buffer ranges are currently handed to the NIC ("posted") by
which owner. A write that touches any byte outside the posted buffers is a ``Violation``
(named after the owner whose returned buffer or registered memory it hit, or none).

It also keeps a shadow of the bytes written since each buffer was posted, so that at a
completion ``check_frame`` can prove the frame's buffers hold exactly the predicted stream
bytes: every position written, and written with the right value.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from model.hostmem import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, Buffer

OwnerId: TypeAlias = str

_ONES = b"\x01" * PAGE_SIZE
_ZEROS = bytes(PAGE_SIZE)


class _Span(NamedTuple):
    start: int
    end: int  # exclusive
    owner: OwnerId
    buffer_id: int


@dataclass(frozen=True)
class DmaWrite:
    seq: int  # order of arrival, from 0
    iova: int
    data: bytes
    time: float | None  # simulation time, when the caller gives one


@dataclass(frozen=True)
class Violation:
    """A device write touching bytes no owner had handed to the NIC."""

    seq: int  # of the offending write
    iova: int
    length: int
    bad_address: int  # first byte of the write outside every posted buffer
    owner: OwnerId | None  # whose buffer or memory that byte belongs to, if known
    buffer_id: int | None  # the returned buffer holding it, if any
    state: str  # "returned" (buffer taken back), "not posted" (owner memory or unknown)

    def __str__(self) -> str:
        where = "no owner's buffer"
        if self.owner is not None and self.buffer_id is not None:
            where = f"owner {self.owner!r} buffer {self.buffer_id} ({self.state})"
        elif self.owner is not None:
            where = f"owner {self.owner!r} memory ({self.state})"
        return (
            f"DMA write #{self.seq} [{self.iova:#x}, +{self.length:#x}) touches "
            f"{self.bad_address:#x}, not in a posted buffer: {where}"
        )


class TrackerViolation(Exception):
    """Raised by ``record_write`` in strict mode; ``violation`` says what was hit."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(str(violation))
        self.violation = violation


class BufferStateError(Exception):
    """Posting a range that overlaps a posted buffer, or returning one that is not posted."""


def _hex(data: bytes) -> str:
    return data.hex(" ") if data else "(nothing)"


@dataclass(frozen=True)
class FrameMismatch:
    """The first position where a frame's buffers differ from the expected stream."""

    range_index: int  # which listed range
    iova: int  # address of the first differing byte
    range_offset: int  # its offset inside that range
    stream_offset: int  # its offset in the expected stream (ranges concatenated)
    expected: bytes  # expected bytes from there (up to 16)
    got: bytes  # bytes written from there (unwritten bytes shown as "--" in the text)
    got_written: bytes  # 1 per byte of ``got`` that was written since the buffer was posted

    def __str__(self) -> str:
        got = " ".join(
            f"{b:02x}" if w else "--" for b, w in zip(self.got, self.got_written, strict=True)
        )
        first = "never written" if not self.got_written[0] else "differs"
        return (
            f"frame mismatch at stream offset {self.stream_offset} (range {self.range_index}, "
            f"offset {self.range_offset}, iova {self.iova:#x}): {first}\n"
            f"  expected {_hex(self.expected)}\n  got      {got}"
        )


class FrameMismatchError(AssertionError):
    def __init__(self, mismatch: FrameMismatch) -> None:
        super().__init__(str(mismatch))
        self.mismatch = mismatch


class DmaWriteTracker:
    """Records device writes and checks them against the buffers posted to the NIC.

    ``raise_on_violation``: raise ``TrackerViolation`` from ``record_write`` (the write is
    still recorded first). ``keep_log``: keep every ``DmaWrite`` in ``writes``.
    """

    WINDOW = 16  # bytes shown on each side of a mismatch report

    def __init__(self, *, raise_on_violation: bool = False, keep_log: bool = True) -> None:
        self.raise_on_violation = raise_on_violation
        self.keep_log = keep_log
        self.writes: list[DmaWrite] = []
        self.violations: list[Violation] = []
        self.write_count = 0
        self.bytes_written = 0
        # Posted and returned ranges: sorted, non-overlapping, ``*_starts`` mirrors starts.
        self._posted: list[_Span] = []
        self._posted_starts: list[int] = []
        self._returned: list[_Span] = []
        self._returned_starts: list[int] = []
        self._buffers: dict[tuple[OwnerId, int], list[tuple[int, int]]] = {}
        self._regions: list[tuple[int, int, OwnerId]] = []
        # Shadow of written bytes: page number -> (data, written mask of 0/1 bytes).
        self._shadow: dict[int, tuple[bytearray, bytearray]] = {}

    # -- owners' side -----------------------------------------------------------------------

    def add_owner_region(self, owner: OwnerId, iova: int, length: int) -> None:
        """Name ``[iova, +length)`` as ``owner``'s memory, for violation reports."""
        self._regions.append((iova, iova + length, owner))

    def post_buffer(
        self, owner: OwnerId, buffer_id: int, ranges: Sequence[tuple[int, int]]
    ) -> None:
        """Hand a buffer made of ``ranges`` (iova, length) to the NIC. Its shadow is
        cleared: only writes from now on count for ``check_frame``."""
        key = (owner, buffer_id)
        if key in self._buffers:
            raise BufferStateError(f"owner {owner!r} buffer {buffer_id} is already posted")
        spans = [_Span(a, a + n, owner, buffer_id) for a, n in ranges if n > 0]
        for i, s in enumerate(spans):
            other = self._find_overlap(self._posted, self._posted_starts, s.start, s.end)
            if other is None:
                other = next((t for t in spans[:i] if t.start < s.end and s.start < t.end), None)
            if other is not None:
                raise BufferStateError(
                    f"owner {owner!r} buffer {buffer_id} [{s.start:#x}, {s.end:#x}) overlaps "
                    f"owner {other.owner!r} buffer {other.buffer_id} "
                    f"[{other.start:#x}, {other.end:#x}) already posted"
                )
        for s in spans:
            self._remove_overlapping(self._returned, self._returned_starts, s.start, s.end)
            self._insert(self._posted, self._posted_starts, s)
            self._clear_shadow(s.start, s.end - s.start)
        self._buffers[key] = [(s.start, s.end) for s in spans]

    def return_buffer(self, owner: OwnerId, buffer_id: int) -> None:
        """Take a buffer back from the NIC; a later write into it is a violation."""
        ranges = self._buffers.pop((owner, buffer_id), None)
        if ranges is None:
            raise BufferStateError(
                f"owner {owner!r} buffer {buffer_id} returned but not posted (double return?)"
            )
        for start, end in ranges:
            i = bisect.bisect_left(self._posted_starts, start)
            assert self._posted[i].start == start
            span = self._posted.pop(i)
            self._posted_starts.pop(i)
            assert span.end == end
            self._insert(self._returned, self._returned_starts, span)

    def is_posted(self, owner: OwnerId, buffer_id: int) -> bool:
        return (owner, buffer_id) in self._buffers

    def posted_buffers(self, owner: OwnerId | None = None) -> list[tuple[OwnerId, int]]:
        return [k for k in self._buffers if owner is None or k[0] == owner]

    # -- device side ------------------------------------------------------------------------

    def record_write(self, iova: int, data: Buffer, time: float | None = None) -> Violation | None:
        """Record one device write; returns (and records) the violation, if any."""
        n = len(data)
        seq = self.write_count
        self.write_count += 1
        self.bytes_written += n
        if self.keep_log:
            self.writes.append(DmaWrite(seq, iova, bytes(data), time))
        self._write_shadow(iova, data)
        bad = self._first_uncovered(iova, iova + n)
        if bad is None:
            return None
        owner: OwnerId | None = None
        buffer_id: int | None = None
        state = "not posted"
        i = bisect.bisect_right(self._returned_starts, bad) - 1
        if i >= 0 and self._returned[i].end > bad:
            owner, buffer_id, state = (
                self._returned[i].owner,
                self._returned[i].buffer_id,
                "returned",
            )
        else:
            owner = next((o for s, e, o in self._regions if s <= bad < e), None)
        v = Violation(seq, iova, n, bad, owner, buffer_id, state)
        self.violations.append(v)
        if self.raise_on_violation:
            raise TrackerViolation(v)
        return v

    # -- completion check -------------------------------------------------------------------

    def written(self, iova: int, n: int) -> tuple[bytes, bytes]:
        """(bytes, mask) of the shadow: mask byte 1 where written since the buffer's post."""
        data = bytearray(n)
        mask = bytearray(n)
        pos = 0
        while pos < n:
            a = iova + pos
            off = a & PAGE_MASK
            chunk = min(PAGE_SIZE - off, n - pos)
            page = self._shadow.get(a >> PAGE_SHIFT)
            if page is not None:
                data[pos : pos + chunk] = page[0][off : off + chunk]
                mask[pos : pos + chunk] = page[1][off : off + chunk]
            pos += chunk
        return bytes(data), bytes(mask)

    def compare_frame(self, placements: Sequence[tuple[int, Buffer]]) -> FrameMismatch | None:
        """``placements`` = (iova, expected bytes) for each buffer range of a frame, in
        stream order. Returns the first mismatch (unwritten or different byte), or None."""
        stream = 0
        for index, (iova, expected_buf) in enumerate(placements):
            expected = bytes(expected_buf)
            n = len(expected)
            got, mask = self.written(iova, n)
            if got == expected and 0 not in mask:
                stream += n
                continue
            k = next(i for i in range(n) if not mask[i] or got[i] != expected[i])
            w = self.WINDOW
            return FrameMismatch(
                index,
                iova + k,
                k,
                stream + k,
                expected[k : k + w],
                got[k : k + w],
                mask[k : k + w],
            )
        return None

    def check_frame(self, placements: Sequence[tuple[int, Buffer]]) -> None:
        """Raise ``FrameMismatchError`` unless the ranges hold exactly the expected bytes."""
        mismatch = self.compare_frame(placements)
        if mismatch is not None:
            raise FrameMismatchError(mismatch)

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _insert(spans: list[_Span], starts: list[int], span: _Span) -> None:
        i = bisect.bisect_left(starts, span.start)
        spans.insert(i, span)
        starts.insert(i, span.start)

    @staticmethod
    def _find_overlap(spans: list[_Span], starts: list[int], start: int, end: int) -> _Span | None:
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and spans[i].end > start:
            return spans[i]
        if i + 1 < len(spans) and spans[i + 1].start < end:
            return spans[i + 1]
        return None

    @staticmethod
    def _remove_overlapping(spans: list[_Span], starts: list[int], start: int, end: int) -> None:
        i = max(bisect.bisect_right(starts, start) - 1, 0)
        while i < len(spans) and spans[i].start < end:
            if spans[i].end > start:
                spans.pop(i)
                starts.pop(i)
            else:
                i += 1

    def _first_uncovered(self, start: int, end: int) -> int | None:
        """First byte of [start, end) not inside a posted buffer, or None."""
        if end <= start:
            return None
        spans, i = self._posted, bisect.bisect_right(self._posted_starts, start) - 1
        if i < 0 or spans[i].end <= start:
            return start
        pos = spans[i].end
        i += 1
        while pos < end:
            if i < len(spans) and spans[i].start == pos:
                pos = spans[i].end
                i += 1
            else:
                return pos
        return None

    def _shadow_page(self, pno: int) -> tuple[bytearray, bytearray]:
        page = self._shadow.get(pno)
        if page is None:
            page = self._shadow[pno] = (bytearray(PAGE_SIZE), bytearray(PAGE_SIZE))
        return page

    def _write_shadow(self, iova: int, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        n = len(view)
        pos = 0
        while pos < n:
            a = iova + pos
            off = a & PAGE_MASK
            chunk = min(PAGE_SIZE - off, n - pos)
            page, mask = self._shadow_page(a >> PAGE_SHIFT)
            page[off : off + chunk] = view[pos : pos + chunk]
            mask[off : off + chunk] = _ONES[:chunk]
            pos += chunk

    def _clear_shadow(self, iova: int, n: int) -> None:
        pos = 0
        while pos < n:
            a = iova + pos
            off = a & PAGE_MASK
            chunk = min(PAGE_SIZE - off, n - pos)
            page = self._shadow.get(a >> PAGE_SHIFT)
            if page is not None:
                page[1][off : off + chunk] = _ZEROS[:chunk]
            pos += chunk

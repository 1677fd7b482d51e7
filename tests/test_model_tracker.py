# SPDX-License-Identifier: MIT
"""DMA write tracker: writes outside posted buffers, and completion byte checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.tracker import (
    BufferStateError,
    DmaWriteTracker,
    FrameMismatchError,
    TrackerViolation,
)

A, B = "guest-a", "guest-b"


def test_write_inside_a_posted_buffer_is_fine_and_logged() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 0x800)])
    assert t.record_write(0x1100, b"abc", time=12.5) is None
    assert t.violations == []
    assert [(w.seq, w.iova, w.data, w.time) for w in t.writes] == [(0, 0x1100, b"abc", 12.5)]


def test_write_into_another_owners_returned_buffer_names_that_owner() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 0x800)])
    t.post_buffer(B, 7, [(0x9000, 0x800)])
    t.return_buffer(B, 7)
    v = t.record_write(0x9010, b"\x00" * 64)  # meant for A, lands in B's old buffer
    assert v is not None
    assert (v.owner, v.buffer_id, v.state) == (B, 7, "returned")
    assert (v.iova, v.length, v.bad_address) == (0x9010, 64, 0x9010)
    assert t.violations == [v]
    assert "guest-b" in str(v) and "buffer 7" in str(v)


def test_write_into_an_owners_memory_never_posted_names_the_owner() -> None:
    t = DmaWriteTracker()
    t.add_owner_region(B, 0x10_0000, 0x10_0000)
    t.post_buffer(A, 1, [(0x1000, 0x800)])
    v = t.record_write(0x18_0000, b"x")
    assert v is not None and (v.owner, v.buffer_id, v.state) == (B, None, "not posted")
    v = t.record_write(0x50_0000, b"x")
    assert v is not None and (v.owner, v.buffer_id) == (None, None)
    assert "no owner" in str(v)


def test_write_after_return_is_a_violation() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 3, [(0x2000, 0x100)])
    assert t.record_write(0x2000, b"ok") is None
    t.return_buffer(A, 3)
    v = t.record_write(0x2000, b"late")
    assert v is not None and (v.owner, v.buffer_id, v.state) == (A, 3, "returned")


def test_write_running_past_the_end_of_a_buffer_reports_the_first_bad_byte() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 0x100)])
    v = t.record_write(0x10F0, b"\x11" * 0x20)
    assert v is not None and v.bad_address == 0x1100


def test_write_across_two_adjacent_posted_buffers_is_fine() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 0x100)])
    t.post_buffer(B, 2, [(0x1100, 0x100)])
    assert t.record_write(0x10F0, b"\x11" * 0x20) is None
    t.return_buffer(B, 2)
    v = t.record_write(0x10F0, b"\x11" * 0x20)
    assert v is not None and (v.bad_address, v.owner, v.buffer_id) == (0x1100, B, 2)


def test_one_byte_gap_between_buffers_is_caught() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 0x100)])
    t.post_buffer(A, 2, [(0x1101, 0x100)])
    v = t.record_write(0x10F0, b"\x11" * 0x20)
    assert v is not None and v.bad_address == 0x1100


def test_strict_mode_raises_after_recording() -> None:
    t = DmaWriteTracker(raise_on_violation=True)
    with pytest.raises(TrackerViolation) as exc:
        t.record_write(0x1000, b"x")
    assert exc.value.violation is t.violations[0]
    assert t.write_count == 1


def test_overlapping_post_and_double_return_are_refused() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 0x100)])
    with pytest.raises(BufferStateError, match="overlaps"):
        t.post_buffer(B, 2, [(0x10FF, 0x10)])
    with pytest.raises(BufferStateError, match="overlaps"):
        t.post_buffer(B, 3, [(0x3000, 0x10), (0x3008, 0x10)])
    assert t.posted_buffers() == [(A, 1)]
    with pytest.raises(BufferStateError, match="already posted"):
        t.post_buffer(A, 1, [(0x5000, 0x10)])
    t.return_buffer(A, 1)
    with pytest.raises(BufferStateError, match="double return"):
        t.return_buffer(A, 1)


def test_check_frame_passes_when_every_position_holds_the_stream() -> None:
    t = DmaWriteTracker()
    stream = bytes(range(200))
    t.post_buffer(A, 1, [(0x1000, 100), (0x8000, 100)])
    t.record_write(0x8000, stream[100:])  # order of writes does not matter
    t.record_write(0x1000, stream[:50])
    t.record_write(0x1032, stream[50:100])
    t.check_frame([(0x1000, stream[:100]), (0x8000, stream[100:])])


def test_check_frame_reports_first_difference_with_stream_offset_and_hex() -> None:
    t = DmaWriteTracker()
    stream = bytes(range(64))
    t.post_buffer(A, 1, [(0x1000, 32), (0x8000, 32)])
    bad = bytearray(stream)
    bad[40] ^= 0xFF
    t.record_write(0x1000, bad[:32])
    t.record_write(0x8000, bad[32:])
    with pytest.raises(FrameMismatchError) as exc:
        t.check_frame([(0x1000, stream[:32]), (0x8000, stream[32:])])
    m = exc.value.mismatch
    assert (m.range_index, m.range_offset, m.stream_offset, m.iova) == (1, 8, 40, 0x8008)
    assert m.expected[:2] == bytes([40, 41]) and m.got[:2] == bytes([40 ^ 0xFF, 41])
    text = str(exc.value)
    assert "stream offset 40" in text
    assert "expected 28 29" in text and "got      d7 29" in text


def test_check_frame_catches_a_byte_never_written() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 16)])
    t.record_write(0x1000, bytes(10))
    m = t.compare_frame([(0x1000, bytes(16))])  # zeros expected, zeros "there"
    assert m is not None and m.stream_offset == 10 and "never written" in str(m)
    assert "-- --" in str(m)


def test_bytes_written_before_a_buffer_was_reposted_do_not_count() -> None:
    t = DmaWriteTracker()
    t.post_buffer(A, 1, [(0x1000, 16)])
    t.record_write(0x1000, b"S" * 16)
    t.check_frame([(0x1000, b"S" * 16)])
    t.return_buffer(A, 1)
    t.post_buffer(A, 2, [(0x1000, 16)])
    m = t.compare_frame([(0x1000, b"S" * 16)])  # stale bytes from the previous frame
    assert m is not None and m.stream_offset == 0


@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 12)), min_size=2, max_size=8),
    st.lists(st.tuples(st.integers(0, 80), st.integers(1, 20)), min_size=4, max_size=12),
)
def test_violations_match_a_byte_set_reference(
    bufs: list[tuple[int, int]], writes: list[tuple[int, int]]
) -> None:
    """Posted buffers (overlapping ones are refused) against a brute-force set of bytes."""
    t = DmaWriteTracker()
    covered: set[int] = set()
    for k, (start, n) in enumerate(bufs):
        span = set(range(start, start + n))
        if span & covered:
            with pytest.raises(BufferStateError):
                t.post_buffer(A, k, [(start, n)])
        else:
            t.post_buffer(A, k, [(start, n)])
            covered |= span
    for start, n in writes:
        v = t.record_write(start, bytes(n))
        outside = [a for a in range(start, start + n) if a not in covered]
        if outside:
            assert v is not None and v.bad_address == outside[0]
        else:
            assert v is None

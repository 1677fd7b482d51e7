# SPDX-License-Identifier: MIT
"""tb.lib.xgmii's word-level XGMII driver: the encoder against an independent decoder (pure
Python), and the driver against cocotbext-eth's XgmiiSource on a simulated bus, word for
word (tests/sim/xgmii_words_tb.py)."""

from __future__ import annotations

import random
import zlib

import pytest
from cocotbext.eth import XgmiiFrame

from tb.lib.xgmii import IDLE, START, TERM, XgmiiEncoder
from tb.runner.build import REPO, Build, build
from tb.runner.groups import run_in_group

PRE_SFD = bytes([0x55] * 7 + [0xD5])


def decode(words: list[tuple[int, int]]) -> tuple[list[bytes], list[int], list[int]]:
    """An XGMII receiver written from the standard, not from the encoder: frames (the bytes
    after the SFD up to /T/), the lane of each /S/, and each gap (bytes from /T/ to /S/).
    Outside a frame only idles may appear; a frame must begin with the preamble and SFD."""
    frames: list[bytes] = []
    lanes: list[int] = []
    gaps: list[int] = []
    cur: bytearray | None = None
    last_term = None
    for k, (d, c) in enumerate(words):
        for lane in range(8):
            b, ctl, pos = d >> 8 * lane & 0xFF, c >> lane & 1, 8 * k + lane
            if cur is None:
                assert ctl, f"data byte 0x{b:02x} outside a frame at byte {pos}"
                if b == START:
                    lanes.append(lane)
                    if last_term is not None:
                        gaps.append(pos - last_term)
                    cur = bytearray([0x55])
                else:
                    assert b == IDLE, f"control 0x{b:02x} outside a frame at byte {pos}"
            elif ctl:
                assert b == TERM, f"control 0x{b:02x} inside a frame at byte {pos}"
                assert cur[:8] == PRE_SFD, f"frame without preamble/SFD: {bytes(cur[:8])!r}"
                frames.append(bytes(cur[8:]))
                cur, last_term = None, pos
            else:
                cur.append(b)
    assert cur is None, "the words end inside a frame"
    return frames, lanes, gaps


def random_frames(rng: random.Random, n: int) -> list[bytes]:
    """Payloads (FCS not included) of every length class: minimum, each length mod 8 near
    it, random up to 1514 B, jumbo."""
    out = []
    for k in range(n):
        size = rng.choice([60, 61, 62, 63, 64, 65, 66, 67, 100, 1514, 9014])
        if k % 3 == 0:
            size = rng.randrange(60, 1515)
        out.append(rng.randbytes(size))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_words_decode_to_the_frames_with_their_fcs(seed: int) -> None:
    rng = random.Random(seed)
    payloads = random_frames(rng, 600)
    enc = XgmiiEncoder()
    words: list[tuple[int, int]] = []
    for p in payloads:
        w = enc.encode(XgmiiFrame.from_payload(p).data)
        words += zip(w.data, w.ctrl, strict=True)
    frames, lanes, _ = decode(words)
    assert [f[:-4] for f in frames] == payloads
    for f in frames:
        assert zlib.crc32(f[:-4]).to_bytes(4, "little") == f[-4:]
    assert set(lanes) == {0, 4}


def test_back_to_back_gaps_are_9_to_15_bytes_and_average_12() -> None:
    """The deficit idle count: a gap may be up to 3 bytes short of 12 (to start on lane 0
    or 4) when earlier ones were long, never more; over any run of frames the gaps add up to
    12 per frame within 3 bytes."""
    rng = random.Random(3)
    enc = XgmiiEncoder()
    words: list[tuple[int, int]] = []
    for p in random_frames(rng, 1500):
        w = enc.encode(XgmiiFrame.from_payload(p).data)
        words += zip(w.data, w.ctrl, strict=True)
    _, _, gaps = decode(words)
    assert min(gaps) == 9 and max(gaps) == 15
    total = 0
    for g in gaps:
        total += g - 12
        assert -3 <= total <= 0, total


def test_without_dic_every_gap_is_at_least_12_bytes() -> None:
    rng = random.Random(4)
    enc = XgmiiEncoder(enable_dic=False)
    words: list[tuple[int, int]] = []
    for p in random_frames(rng, 500):
        w = enc.encode(XgmiiFrame.from_payload(p).data)
        words += zip(w.data, w.ctrl, strict=True)
    _, _, gaps = decode(words)
    assert min(gaps) == 12


def test_a_frame_after_idle_starts_on_lane_0_and_64_byte_frames_alternate_lanes() -> None:
    enc = XgmiiEncoder()
    f = XgmiiFrame.from_payload(bytes(60)).data  # 64 B with FCS: 72 B with preamble
    first = enc.encode(f)
    second = enc.encode(f)  # back to back: the gap's end falls in the middle of a word
    enc.idle()
    third = enc.encode(f)
    assert (first.start_lane, second.start_lane, third.start_lane) == (0, 4, 0)
    # /T/ right after the 72 bytes, in lane 0 of word 9; 64 B at line rate = 84 B per frame
    assert (first.term_word, first.term_lane) == (9, 0)
    assert len(first.data) + len(second.data) == 21  # 2 x 84 B = 168 B = 21 words
    assert first.sfd_end == 8


def test_a_frame_must_start_with_its_preamble() -> None:
    with pytest.raises(ValueError):
        XgmiiEncoder().encode(bytes(64))


# -- against cocotbext-eth's XgmiiSource in simulation ------------------------------------------


@pytest.fixture(scope="module")
def pair_build() -> Build:
    return build("xgmii_pair_top", [REPO / "tests" / "rtl" / "xgmii_pair_top.sv"])


@pytest.mark.sim
@pytest.mark.parametrize("testcase", ["word_source_drives_what_xgmiisource_drives"])
def test_word_source_in_simulation(
    pair_build: Build, testcase: str, request: pytest.FixtureRequest
) -> None:
    run_in_group(request, pair_build, "tests.sim.xgmii_words_tb", testcase)

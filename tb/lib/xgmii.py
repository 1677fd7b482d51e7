# SPDX-License-Identifier: MIT
"""XGMII helpers shared by testbenches: a frame encoder, a word-level wire driver
(``XgmiiWordSource``, a faster stand-in for cocotbext-eth's ``XgmiiSource``), a frame-level
feeder for the simulation-only top tb/rtl/splitrx_feed_top.sv (``XgmiiFeed``), and a monitor
of the inter-frame gaps on the bus."""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cocotb
from cocotb.queue import QueueFull
from cocotb.triggers import Event, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.eth import XgmiiFrame
from cocotbext.eth.reset import Reset

# XGMII control characters
IDLE = 0x07
START = 0xFB
TERM = 0xFD
ERROR = 0xFE
PRE = 0x55  # preamble byte
SFD = 0xD5  # start frame delimiter
LANES = 8  # bytes per 64-bit XGMII word
IDLE_DATA = int.from_bytes(bytes([IDLE] * LANES), "little")
IDLE_CTRL = (1 << LANES) - 1


@dataclass(frozen=True)
class XgmiiWords:
    """One frame as the words it occupies on a 64-bit XGMII bus, one per clock: the frame
    (in lane 0 or 4) and then the idle words of the gap after it that must pass before the
    next frame may start. ``term_word``/``term_lane``: where /T/ is; ``sfd_end``: byte
    position (word * 8 + lane) of the first byte after the SFD."""

    data: list[int]
    ctrl: list[int]
    start_lane: int
    term_word: int
    term_lane: int
    sfd_end: int


class XgmiiEncoder:
    """Frames to 64-bit XGMII words by cocotbext-eth ``XgmiiSource``'s rules, a frame at a
    time instead of a clock at a time: /S/ replaces the first preamble byte, /T/ follows the
    FCS, the rest of that word is idle. The gap owed after a frame is ``ifg`` bytes less the
    lanes from /T/ to the end of its word; the next frame starts on lane 4 of a word when the
    gap allows it, else on lane 0 of the next. With the deficit idle count (``enable_dic``)
    a gap may be up to 3 bytes short when earlier ones were long: back to back, gaps (from
    /T/ to /S/) are 9 to 15 bytes and 12 on average; without it, at least ``ifg``. The
    counters carry over while frames follow each other; ``idle()`` clears them, as the
    source does at a clock with nothing to send."""

    def __init__(
        self, ifg: int = 12, enable_dic: bool = True, force_offset_start: bool = False
    ) -> None:
        self.ifg = ifg
        self.enable_dic = enable_dic
        self.force_offset_start = force_offset_start
        self.ifg_cnt = 0  # gap bytes still owed
        self.deficit = 0  # deficit idle count

    def idle(self) -> None:
        """A clock with no frame to start: the gap is over, nothing is owed."""
        self.ifg_cnt = 0
        self.deficit = 0

    def encode(self, frame: bytes | bytearray, ctrl: Sequence[int] | None = None) -> XgmiiWords:
        """The words of ``frame`` (preamble, SFD, payload and FCS as bytes; ``ctrl``: a
        control flag per byte, None for none) starting at the current clock, and of the gap
        after it."""
        n = len(frame)
        if n < 2 or frame[0] != PRE or (ctrl is not None and ctrl[0]):
            raise ValueError("an XGMII frame starts with its preamble")
        if ctrl is not None and len(ctrl) < n:  # as XgmiiFrame.normalize
            ctrl = [*ctrl, *[ctrl[-1]] * (n - len(ctrl))]
        dic = self.enable_dic
        lane = 0
        if self.ifg_cnt > (3 - self.deficit if dic else 0) or self.force_offset_start:
            self.ifg_cnt -= 4
            lane = 4
        if dic:
            self.deficit = max(self.deficit + self.ifg_cnt, 0)
        self.ifg_cnt = 0
        term = lane + n  # byte position of /T/
        words = term // LANES + 1
        buf = bytearray([IDLE]) * (words * LANES)
        buf[lane] = START
        buf[lane + 1 : term] = frame[1:]
        buf[term] = TERM
        data = list(struct.unpack(f"<{words}Q", buf))
        # control lanes: the idles before /S/, /S/, /T/ and the idles after it, and any the
        # frame itself marks
        cbits = [0] * words
        cbits[0] = (1 << (lane + 1)) - 1
        cbits[-1] |= IDLE_CTRL & ~((1 << (term % LANES)) - 1)
        if ctrl is not None:
            for i in range(1, n):
                if ctrl[i]:
                    pos = lane + i
                    cbits[pos // LANES] |= 1 << (pos % LANES)
        sfd = frame.find(SFD)
        term_lane = term % LANES
        self.ifg_cnt = max(self.ifg - (LANES - term_lane), 0)
        # the gap: idle words while the source still owes gap bytes
        while self.ifg_cnt + self.deficit > LANES - 1 or (not dic and self.ifg_cnt > 4):
            self.ifg_cnt -= LANES
            if self.ifg_cnt < 0:
                if dic:
                    self.deficit = max(self.deficit + self.ifg_cnt, 0)
                self.ifg_cnt = 0
            data.append(IDLE_DATA)
            cbits.append(IDLE_CTRL)
        return XgmiiWords(
            data, cbits, lane, term // LANES, term_lane, lane + sfd + 1 if sfd >= 0 else -1
        )


class XgmiiWordSource(Reset):
    """Drives frames onto a 64-bit XGMII bus: the same constructor, ``send``/``send_nowait``,
    ``wait``, ``idle``, ``count``/``empty``/``full``/``clear`` and frame times
    (``sim_time_start``/``_sfd``/``_end``, ``tx_complete``) as cocotbext-eth's
    ``XgmiiSource``, and the same words on the same clocks (``XgmiiEncoder``: lanes, gaps,
    deficit idle count), for less work per clock. Each frame is encoded into its words when
    it starts; the driver then wakes once per clock only while words are left, writes a plain
    int to each signal only when it changes, and sleeps while there is nothing to send.
    Ordered sets and a clock enable are not supported."""

    def __init__(
        self,
        data: Any,
        ctrl: Any,
        clock: Any,
        reset: Any = None,
        enable: Any = None,
        reset_active_level: bool = True,
    ) -> None:
        if enable is not None:
            raise ValueError("XgmiiWordSource: no clock enable (use cocotbext-eth's source)")
        if len(data) != 8 * LANES or len(ctrl) != LANES:
            raise ValueError("XgmiiWordSource drives 64-bit XGMII (8 lanes)")
        self.log = logging.getLogger(f"cocotb.{data._path}")
        self.data = data
        self.ctrl = ctrl
        self.clock = clock
        self.reset = reset
        self.ifg = 12
        self.enable_dic = True
        self.force_offset_start = False
        self.queue: deque[XgmiiFrame] = deque()
        self.queue_occupancy_bytes = 0
        self.queue_occupancy_frames = 0
        self.queue_occupancy_limit_bytes = -1
        self.queue_occupancy_limit_frames = -1
        self.active = False
        self.current_frame: XgmiiFrame | None = None
        self.dequeue_event = Event()
        self.idle_event = Event()
        self.idle_event.set()
        self.active_event = Event()
        self.data.setimmediatevalue(0)
        self.ctrl.setimmediatevalue(0)
        self._period = 0  # clock period in sim steps, from the first frame's first words
        self._t0 = 0  # clock of the current frame's first word
        self._run_cr: Any = None
        self._init_reset(reset, reset_active_level)

    # -- queue ----------------------------------------------------------------------------------

    async def send(self, frame: XgmiiFrame | bytes) -> None:
        while self.full():
            self.dequeue_event.clear()
            await self.dequeue_event.wait()
        self._put(frame)

    def send_nowait(self, frame: XgmiiFrame | bytes) -> None:
        if self.full():
            raise QueueFull()
        self._put(frame)

    def _put(self, frame: XgmiiFrame | bytes) -> None:
        frame = XgmiiFrame(frame)  # a copy, as XgmiiSource: its times are set on the copy
        self.queue.append(frame)
        self.idle_event.clear()
        self.active_event.set()
        self.queue_occupancy_bytes += len(frame)
        self.queue_occupancy_frames += 1

    def count(self) -> int:
        return len(self.queue)

    def empty(self) -> bool:
        return not self.queue

    def full(self) -> bool:
        if 0 < self.queue_occupancy_limit_bytes < self.queue_occupancy_bytes:
            return True
        return 0 < self.queue_occupancy_limit_frames < self.queue_occupancy_frames

    def idle(self) -> bool:
        return self.empty() and not self.active

    def clear(self) -> None:
        while self.queue:
            frame = self.queue.popleft()
            frame.sim_time_end = None
            frame.handle_tx_complete()
        self.dequeue_event.set()
        self.idle_event.set()
        self.active_event.clear()
        self.queue_occupancy_bytes = 0
        self.queue_occupancy_frames = 0

    async def wait(self) -> None:
        await self.idle_event.wait()

    # -- reset and the driver -------------------------------------------------------------------

    def _handle_reset(self, state: bool) -> None:
        if state:
            self.log.info("Reset asserted")
            if self._run_cr is not None:
                self._run_cr.cancel()
                self._run_cr = None
            self.active = False
            self.data.value = 0
            self.ctrl.value = 0
            frame = self.current_frame
            if frame:
                self.log.warning("Flushed transmit frame during reset: %s", frame)
                # its times stay as set, as XgmiiSource leaves them: the reset comes after
                # the clock edge whose word set them (an SFD time may lie a few lanes ahead)
                frame.handle_tx_complete()
                self.current_frame = None
            if not self.queue:
                self.idle_event.set()
                self.active_event.clear()
        else:
            self.log.info("Reset de-asserted")
            if self._run_cr is None:
                self._run_cr = cocotb.start_soon(self._run())

    def _start(self, enc: XgmiiEncoder) -> XgmiiWords:
        frame = self.queue.popleft()
        self.dequeue_event.set()
        self.queue_occupancy_bytes -= len(frame)
        self.queue_occupancy_frames -= 1
        self.current_frame = frame
        self.log.debug("TX frame: %s", frame)
        enc.ifg, enc.enable_dic, enc.force_offset_start = (
            self.ifg,
            self.enable_dic,
            self.force_offset_start,
        )
        w = enc.encode(frame.data, frame.ctrl)
        self._t0 = get_sim_time()  # the clock of the frame's first word
        frame.sim_time_start = self._t0 + self._period // LANES * w.start_lane
        frame.sim_time_sfd = None
        frame.sim_time_end = None
        frame.start_lane = w.start_lane
        self.active = True
        return w

    def _second_word(self, w: XgmiiWords) -> None:
        """The clock of a frame's second word: the clock period (once) and the SFD time."""
        frame = self.current_frame
        assert frame is not None
        if not self._period:
            self._period = get_sim_time() - self._t0
            frame.sim_time_start = self._t0 + self._period // LANES * w.start_lane
        if w.sfd_end >= 0:
            word, lane = divmod(w.sfd_end, LANES)
            frame.sim_time_sfd = self._t0 + self._period * word + self._period // LANES * lane

    def _finish(self, w: XgmiiWords) -> None:
        """The clock of the word with /T/: the frame's end time, then its tx_complete."""
        frame = self.current_frame
        assert frame is not None
        if w.term_word == 1:  # a runt: its second word is its last
            self._second_word(w)
        frame.sim_time_end = get_sim_time() + self._period // LANES * w.term_lane
        self.current_frame = None
        frame.handle_tx_complete()

    async def _run(self) -> None:
        edge = RisingEdge(self.clock)
        data_sig, ctrl_sig = self.data, self.ctrl
        enc = XgmiiEncoder(self.ifg, self.enable_dic, self.force_offset_start)
        self.active = False
        cur_d = cur_c = -1  # what the bus holds, as far as this driver wrote it
        w: XgmiiWords | None = None
        wd: list[int] = []
        wc: list[int] = []
        i = n = term = 0
        while True:
            await edge
            if i == n:  # no words left: start the next frame, or go idle
                if not self.queue:
                    enc.idle()
                    if cur_d != IDLE_DATA:
                        data_sig.value = cur_d = IDLE_DATA
                    if cur_c != IDLE_CTRL:
                        ctrl_sig.value = cur_c = IDLE_CTRL
                    self.active = False
                    self.idle_event.set()
                    self.active_event.clear()
                    await self.active_event.wait()
                    continue
                w = self._start(enc)
                wd, wc, n, term, i = w.data, w.ctrl, len(w.data), w.term_word, 0
            d = wd[i]
            if d != cur_d:
                data_sig.value = cur_d = d
            c = wc[i]
            if c != cur_c:
                ctrl_sig.value = cur_c = c
            if i == term:
                assert w is not None
                self._finish(w)
            elif i == 1:
                assert w is not None
                self._second_word(w)
            i += 1


class XgmiiFeed:
    """Frames onto the XGMII bus of ``splitrx_feed_top`` (tb/rtl): each frame is encoded into
    its words as ``XgmiiWordSource`` encodes it (``XgmiiEncoder``) and handed to the top's
    ring of words in one block write, so the testbench wakes once per frame instead of once
    per MAC clock. ``send``/``send_nowait``, ``wait``, ``idle`` and ``count`` as the source.

    A frame's ``sim_time_start``/``_sfd``/``_end`` are those of the clocks its words are on
    the bus (computed: the ring plays one word per clock from the clock after the block was
    appended, or after the words before it); ``tx_complete`` is called when the frame is
    handed to the ring, so those times may lie ahead then. The ring going empty between two
    frames is an idle clock (the encoder's gap counters restart, as the source's do). No
    reset while frames are queued."""

    WORD_BITS = 72  # {ctrl[7:0], data[63:0]}

    def __init__(self, dut: Any, clock: Any) -> None:
        self.blk = dut.feed_blk_data
        self.blk_words = dut.feed_blk_words
        self.rd_ptr = dut.feed_rd_ptr
        self.clock = clock
        self.block_words = len(self.blk) // self.WORD_BITS
        self.depth = 1 << (len(self.rd_ptr) - 1)
        self.queue: deque[XgmiiFrame] = deque()
        self.idle_event = Event()
        self.idle_event.set()
        self.active_event = Event()
        self.enc = XgmiiEncoder()
        self._last_load: int | None = None  # edge that puts the last word handed over on the bus
        self._wr = 0  # words appended to the ring
        self._next: tuple[XgmiiFrame, XgmiiWords] | None = None  # encoded, not yet appended
        self.blk_words.setimmediatevalue(0)
        cocotb.start_soon(self._run())

    async def send(self, frame: XgmiiFrame | bytes) -> None:
        self.send_nowait(frame)

    def send_nowait(self, frame: XgmiiFrame | bytes) -> None:
        frame = XgmiiFrame(frame)  # a copy, as XgmiiSource: times go on the copy
        # a frame and its gap (up to 4 lanes of offset, /T/, 12 bytes) in one block
        if len(frame.data) + 4 + 1 + 12 > LANES * self.block_words:
            raise ValueError(
                f"XgmiiFeed: a frame of {len(frame.data)} bytes (preamble included) does not "
                f"fit in a block of {self.block_words} words"
            )
        self.queue.append(frame)
        self.idle_event.clear()
        self.active_event.set()

    def count(self) -> int:
        return len(self.queue) + (self._next is not None)

    def idle(self) -> bool:
        return self.idle_event.is_set()

    async def wait(self) -> None:
        """Until every frame sent has left the bus."""
        await self.idle_event.wait()

    def _room(self) -> int:
        # words appended: counted here (the pointer read just after the edge that appends is
        # still the one before it); the read pointer read then is at most a clock behind,
        # which only understates the room
        used = (self._wr - int(self.rd_ptr.value)) % (2 * self.depth)
        return self.depth - used

    def _batch(self, limit: int) -> list[tuple[XgmiiFrame, XgmiiWords, int]]:
        """Queued frames, encoded, that fit in ``limit`` words together: (frame, its words,
        their offset in the block). A frame encoded that does not fit waits in ``_next``."""
        batch: list[tuple[XgmiiFrame, XgmiiWords, int]] = []
        total = 0
        while True:
            if self._next is None:
                if not self.queue:
                    break
                frame = self.queue.popleft()
                self._next = (frame, self.enc.encode(frame.data, frame.ctrl))
            frame, w = self._next
            n = len(w.data)
            if n > self.block_words:
                raise ValueError(
                    f"XgmiiFeed: a frame of {n} words with its gap; a block holds "
                    f"{self.block_words}"
                )
            if total + n > limit:
                break
            batch.append((frame, w, total))
            total += n
            self._next = None
        return batch

    async def _run(self) -> None:
        edge = RisingEdge(self.clock)
        await edge
        t0 = get_sim_time()
        await edge
        period = get_sim_time() - t0
        lane = period // LANES
        while True:
            if not self.queue and self._next is None:
                if self._last_load is not None and self._last_load >= get_sim_time():
                    await Timer(self._last_load - get_sim_time() + period, "step")
                    continue
                self.idle_event.set()
                self.active_event.clear()
                await self.active_event.wait()
                continue
            # write just after a clock edge: a write made at the time of an edge (from a Timer
            # or another coroutine's wake) may or may not be seen by that edge
            await edge
            if self._next is None and (self._last_load is None or self._last_load < get_sim_time()):
                self.enc.idle()  # the ring has run empty: an idle clock before these frames
            batch = self._batch(min(self.block_words, self._room()))
            if not batch:  # no room for the next frame: one clock per word still to play
                await Timer(period * len(self._next[1].data) if self._next else period, "step")
                continue
            value = 0
            words = 0
            for _, w, _ in reversed(batch):
                for d, c in zip(reversed(w.data), reversed(w.ctrl), strict=True):
                    value = value << self.WORD_BITS | c << 64 | d
                words += len(w.data)
            self.blk.value = value
            self.blk_words.value = words
            await edge  # appended at this edge
            self.blk_words.value = 0
            self._wr += words
            start = max(get_sim_time(), self._last_load or 0) + period
            self._last_load = start + period * (words - 1)
            for frame, w, off in batch:
                first = start + period * off
                frame.sim_time_start = first + lane * w.start_lane
                if w.sfd_end >= 0:
                    word, k = divmod(w.sfd_end, LANES)
                    frame.sim_time_sfd = first + period * word + lane * k
                frame.sim_time_end = first + period * w.term_word + lane * w.term_lane
                frame.start_lane = w.start_lane
                frame.handle_tx_complete()


class GapMonitor:
    """Measures inter-frame gaps on the XGMII bus itself: bytes from /T/ to the next /S/."""

    IDLE_WORD = int.from_bytes(bytes([IDLE] * 8), "little")

    def __init__(self, dut: Any, clk: Any = None) -> None:
        self.dut = dut
        self.clk = dut.clk if clk is None else clk
        self.gaps: list[int] = []
        self.starts = 0
        self.last_term_ns = 0.0
        self._pos = 0
        self._last_term = -1
        self._task = cocotb.start_soon(self._run())

    async def _run(self) -> None:
        rxd, rxc = self.dut.xgmii_rxd, self.dut.xgmii_rxc
        edge = RisingEdge(self.clk)
        while True:
            await edge
            ctrl = int(rxc.value)
            if ctrl:
                data = int(rxd.value)
                if ctrl != 0xFF or data != self.IDLE_WORD:
                    self._scan(ctrl, data)
            self._pos += 8

    def _scan(self, ctrl: int, data: int) -> None:
        for lane in range(8):
            if ctrl >> lane & 1:
                c = data >> (8 * lane) & 0xFF
                if c == TERM:
                    self._last_term = self._pos + lane
                    self.last_term_ns = get_sim_time("ns")
                elif c == START:
                    self.starts += 1
                    if self._last_term >= 0:
                        self.gaps.append(self._pos + lane - self._last_term)
                    self._last_term = -1

    def stop(self) -> None:
        self._task.cancel()

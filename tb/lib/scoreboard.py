# SPDX-License-Identifier: MIT
"""The system scoreboard: the five checks of docs/design.md for every frame on the wire.

1. Each frame reaches exactly the owner the steering model names (its queue under RSS from
   model.rss for broadcast, multicast and promiscuous unicast), byte for byte as the owner's
   driver reassembles it, or is counted under a reason the prediction allows (a frame the
   model finds too long for its owner's group is that queue's ``too_long_for_group`` drop).
2. Per-owner order is kept.
3. Each completion equals the reference model's (model.nic_model, fed with the reference
   parser tb.lib.parse_ref) for that owner's next frame, phase aside (``match_completion``,
   the one matcher the DMA-level harness tb.lib.coredma uses too).
4. At each completion every predicted byte is in memory at its stream position; the DMA
   write tracker (model.tracker) separately flags any write outside posted buffers.
5. Checked as writes land: a completion record lands only after every byte it reports,
   and each MSI-X message announces at least one record that landed before it.

The first mismatch raises ``ScoreboardMismatch`` naming the frame number, the owner, the
simulated time, expected vs got as a hex diff, and the window to open in the waves.
Nothing here is derived from the RTL.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import NoReturn, Protocol

from model.nic_model import Prediction, QueueConfig, QueueState, predict_frame
from model.parse_meta import Meta
from model.records import DropReason, RxCompletion, RxDescriptor
from model.rss import RSS_RESET, RssConfig
from sw.nic_driver import RxDone
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference


class ScoreboardMismatch(AssertionError):
    """The first check that failed, with what to look at."""


@dataclass
class Expected:
    no: int  # frame number on the wire
    frame: bytes
    meta: Meta
    sent_ns: float


@dataclass
class OwnerBook:
    """What one owner should see, in order."""

    name: str
    queue: int
    may_drop: bool = False  # frames may drop at its queue (no_buffer, ...): skip them
    stalled: bool = False  # never consumes what the NIC delivered (a hostile owner)
    pending: deque[Expected] = field(default_factory=deque)  # sent, no completion yet
    completed: deque[Expected] = field(default_factory=deque)  # completed, not yet delivered
    placed: int = 0  # frames the NIC completed OK for this owner (checked at poll)
    delivered: int = 0  # ... and the owner's driver handed up
    skipped: int = 0  # frames the owner's queue dropped (matched by skipping)
    too_long: int = 0  # frames the model found too long for their group (completed, dropped)
    landed: int = 0  # completion records landed in its ring
    announced: int = 0  # records landed at the last MSI-X


def hexdiff(got: bytes, want: bytes) -> str:
    """Where two byte strings first differ, 16 bytes of each around it."""
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), None)
    if i is None:
        i = min(len(got), len(want))
    lo = max(0, i - 8)
    return (
        f"{len(got)} B got vs {len(want)} B expected, first difference at byte {i}:\n"
        f"      got      [{lo}:] {got[lo : i + 16].hex(' ')}\n"
        f"      expected [{lo}:] {want[lo : i + 16].hex(' ')}"
    )


@dataclass(frozen=True)
class CompletionMatch:
    skipped: int  # frames before the one matched: dropped at the queue
    want: Prediction  # the model's prediction for the frame matched


class CompletionMismatch(Exception):
    """No frame explains a completion: ``index`` of the frame that should have (None: no
    frame was left), what differs and the detail."""

    def __init__(self, index: int | None, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.index, self.what, self.detail = index, what, detail


def match_completion(
    cfg: QueueConfig,
    done: RxDone,
    frames: Iterable[tuple[bytes, Meta]],
    read: Callable[[int, int], bytes],
    rss: RssConfig = RSS_RESET,
    may_drop: bool = False,
) -> CompletionMatch:
    """The frame a completion is for: the first of ``frames`` (sent to its queue and not
    matched yet, oldest first, with their reference parses) whose model completion is
    ``done``'s, phase aside, with every byte the model places in memory (``read``). With
    ``may_drop`` a frame that is not it was dropped at the queue and is skipped; without,
    the first frame must be it. Raises ``CompletionMismatch``."""
    st = QueueState(desc_tail=len(done.descs))
    descs = list(done.descs)
    culprit: CompletionMismatch | None = None  # its completion matched, its bytes did not
    n = 0
    for i, (frame, meta) in enumerate(frames):
        n = i + 1
        want = predict_frame(cfg, st, descs, frame, meta, rss)
        if want.completion is None or done.cpl != replace(want.completion, phase=done.cpl.phase):
            bad = CompletionMismatch(
                i, "completion differs from the model",
                f"got      {done.cpl}\n    expected {want.completion}",
            )  # fmt: skip
        else:
            for addr, data in want.data_writes:
                got = read(addr, len(data))
                if got != data:
                    bad = CompletionMismatch(
                        i, f"bytes at 0x{addr:x} differ from the model's placement",
                        hexdiff(got, data),
                    )  # fmt: skip
                    culprit = culprit or bad
                    break
            else:
                return CompletionMatch(i, want)
        if not may_drop:
            raise bad
    if culprit is not None:
        raise culprit
    if n == 0:
        raise CompletionMismatch(None, "completion for no frame", str(done.cpl))
    raise CompletionMismatch(None, f"completion matches none of the {n} frames", str(done.cpl))


class FrameLog(Protocol):
    """Where the scoreboard hands what it has checked (``make sim PCAP_OUT``'s captures):
    each frame as an owner's driver handed it up, in that owner's order, and each dropped
    frame with its reason, in wire order. The scoreboard keeps neither."""

    def delivered(self, owner: str, frame: bytes, time_ns: float) -> None: ...

    def dropped(self, no: int, frame: bytes, reason: str, time_ns: float) -> None: ...


class Scoreboard:
    """Frames in on the wire, completions and deliveries out, per owner. It keeps only
    what is not checked yet (the frames routed to each owner and not yet delivered); a
    ``log`` gets the rest as it is checked."""

    def __init__(
        self,
        read: Callable[[int, int], bytes],
        now: Callable[[], float],
        route: Callable[[bytes, Meta], tuple[str | None, DropReason | None]],
    ) -> None:
        self.read = read  # (bus address, bytes) -> what host memory holds there
        self.now = now
        # (frame, its reference parse) -> (owner, None) or (None, drop reason)
        self.route = route
        self.rss: RssConfig = RSS_RESET  # the NIC's RSS settings, as the host programmed them
        self.owners: dict[str, OwnerBook] = {}
        self.by_queue: dict[int, OwnerBook] = {}
        self.sent = 0
        self.expected_drops: dict[DropReason, int] = {}
        self.checks = 0
        self.log: FrameLog | None = None
        self.dropped = 0  # frames expected dropped, at the MAC, the steering or a queue
        # drops not yet logged: (frame no, frame, reason, time), logged in wire order once
        # every earlier frame is resolved
        self._drops: list[tuple[int, bytes, str, float]] = []

    def add_owner(
        self, name: str, queue: int, may_drop: bool = False, stalled: bool = False
    ) -> None:
        book = OwnerBook(name, queue, may_drop, stalled)
        self.owners[name] = book
        self.by_queue[queue] = book

    def fail(self, what: str, e: Expected | None, owner: str, detail: str) -> NoReturn:
        t = self.now()
        where = f"frame {e.no} (sent at {e.sent_ns:.0f} ns)" if e else "no frame"
        window = f"{(e.sent_ns if e else t) - 1000:.0f}..{t + 200:.0f} ns"
        raise ScoreboardMismatch(
            f"{what}: {where}, owner {owner}, at {t:.0f} ns\n    {detail}\n"
            f"    waves: open {window} (make sim WAVES=1, then make waves)"
        )

    # -- in ---------------------------------------------------------------------------------

    def wire(self, frame: bytes, bad: DropReason | None = None) -> int:
        """A frame (FCS excluded) goes on the wire; ``bad``: the MAC will drop it so."""
        no = self.sent
        self.sent += 1
        reason = bad
        owner = None
        if reason is None:
            meta = reference(frame, MAX_HDR_BYTES, MAX_EXT_HDRS)
            owner, reason = self.route(frame, meta)
        if owner is None:
            assert reason is not None
            self.expected_drops[reason] = self.expected_drops.get(reason, 0) + 1
            self._drop(no, frame, reason.name.lower())
            self._flush_drops()
            return no
        self.owners[owner].pending.append(Expected(no, frame, meta, self.now()))
        return no

    def _drop(self, no: int, frame: bytes, reason: str) -> None:
        self.dropped += 1
        if self.log is not None:
            heapq.heappush(self._drops, (no, frame, reason, self.now()))

    def _flush_drops(self, everything: bool = False) -> None:
        """Log the drops every earlier frame of which is resolved (delivered, placed or
        dropped): those below the oldest frame still pending at an owner."""
        if not self._drops or self.log is None:
            return
        oldest = min((b.pending[0].no for b in self.owners.values() if b.pending), default=None)
        while self._drops and (everything or oldest is None or self._drops[0][0] < oldest):
            self.log.dropped(*heapq.heappop(self._drops))

    # -- checks 3 and 4: at the owner's poll, before anyone touches the buffers -------------

    def completion(self, queue: int, cfg: QueueConfig, done: RxDone) -> None:
        book = self.by_queue[queue]
        try:
            m = match_completion(
                cfg, done, ((e.frame, e.meta) for e in book.pending), self.read, self.rss,
                book.may_drop,
            )  # fmt: skip
        except CompletionMismatch as x:
            e = None if x.index is None else book.pending[x.index]
            self.fail(x.what, e, book.name, x.detail)
        for _ in range(m.skipped):  # those frames were dropped at the queue
            e = book.pending.popleft()
            book.skipped += 1
            self._drop(e.no, e.frame, f"dropped at queue {queue} ({book.name})")
        e = book.pending.popleft()
        want = m.want
        self.checks += 1
        if want.drop is None:
            book.placed += 1
            book.completed.append(e)
        else:  # too long for its group: counted at its queue, the owner never sees it
            book.too_long += 1
            self._drop(e.no, e.frame, want.drop.name.lower())
        self._flush_drops()

    # -- checks 1 and 2: what the owner's driver hands up ----------------------------------

    def delivered(self, owner: str, data: bytes) -> None:
        book = self.owners[owner]
        if not book.completed:
            self.fail("delivery without a completion", None, owner, f"{len(data)} B")
        e = book.completed.popleft()
        if data != e.frame:
            self.fail("frame differs from the one sent", e, owner, hexdiff(data, e.frame))
        book.delivered += 1
        self.checks += 1
        if self.log is not None:
            self.log.delivered(owner, data, self.now())

    # -- check 5: as writes land ------------------------------------------------------------

    def record_landed(
        self,
        queue: int,
        rec: RxCompletion,
        descs: list[RxDescriptor],
        stream_start: int,
        written: Callable[[int, int], bytes],
    ) -> None:
        """A completion record of ``queue`` lands; ``descs`` are the descriptors it names
        (the oldest outstanding), ``stream_start`` the stream position of its first payload
        byte (data_offset, plus hdr_len in SPLIT_HOLE with the split done), ``written(iova,
        n)`` the tracker's written-mask there (0 = not written since the buffer was posted)."""
        book = self.by_queue.get(queue)
        if book is None:
            return
        book.landed += 1
        if rec.hdr_len and descs:
            mask = written(descs[0].hdr_addr, rec.hdr_len)
            if mask.count(0):
                self.fail("completion landed before its header bytes", None, book.name, str(rec))
        if rec.payload_len and descs:
            left, pos = rec.payload_len, stream_start
            for d in descs:
                if pos >= d.data_len:
                    pos -= d.data_len
                    continue
                n = min(left, d.data_len - pos)
                if written(d.data_addr + pos, n).count(0):
                    self.fail("completion landed before its data", None, book.name, str(rec))
                left -= n
                pos = 0
                if not left:
                    break

    def msi_landed(self, queue: int) -> None:
        book = self.by_queue.get(queue)
        if book is None:
            return
        if book.landed <= book.announced:
            detail = f"{book.landed} records landed, {book.announced} announced before"
            self.fail("MSI-X before any new completion record", None, book.name, detail)
        book.announced = book.landed

    # -- end ----------------------------------------------------------------------------------

    def finish(self, drops: dict[DropReason, int], queue_drops: dict[int, int]) -> list[str]:
        """Accounting once the wire is idle and every owner has served: returns problems."""
        problems = []
        delivered = sum(b.placed for b in self.owners.values())
        total_drops = sum(drops.values())
        if delivered + total_drops != self.sent:
            problems.append(
                f"frames on the wire {self.sent} != delivered {delivered} + drops {total_drops}"
            )
        for reason, n in self.expected_drops.items():
            if drops.get(reason, 0) < n:
                problems.append(
                    f"{n} frames should drop as {reason.name}, counted {drops.get(reason, 0)}"
                )
        for b in self.owners.values():
            left = len(b.pending) + (0 if b.stalled else len(b.completed))
            qd = queue_drops.get(b.queue, 0) - b.too_long  # drops the model did not predict
            if not b.may_drop and (left or qd or b.skipped):
                problems.append(
                    f"{b.name}: {len(b.pending)} frames without completion, "
                    f"{len(b.completed)} completed but not delivered, {qd} dropped at its "
                    f"queue besides {b.too_long} too long for their group"
                )
            elif b.may_drop and b.skipped + len(b.pending) != qd:
                problems.append(
                    f"{b.name}: {b.skipped + len(b.pending)} frames missing, queue dropped "
                    f"{qd} besides {b.too_long} too long for their group"
                )
            elif b.may_drop:  # its queue dropped the frames no completion came after
                while b.pending:
                    e = b.pending.popleft()
                    self._drop(e.no, e.frame, f"dropped at queue {b.queue} ({b.name})")
        self._flush_drops(everything=True)
        return problems

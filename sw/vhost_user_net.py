# SPDX-License-Identifier: MIT
"""A virtio-net device for a real guest (QEMU) behind vhost-user, served by the NIC.

The transport is ``sw.vhost_user``; everything else is what the model guest gets. When the
guest's RX virtqueue (0) starts, the device opens its NIC RX queue (``open_queue``, with the
settings ``vhost_queue_settings`` derives from the negotiated features), registers the guest
with the page constructor over the guest's RAM as mapped from QEMU's memory table (a
``GuestRamMap`` whose ranges of host memory *are* the mapped memfd), and serves the ring with
``sw.vhost.VhostNetRx`` -- the one vhost backend: validation, page constructor, NIC ring,
used ring, event index, mergeable buffers, SPLIT_HOLE header copy, DATA_VALID. Its guest
notification is a write to the ring's call eventfd; a kick on the kick eventfd is
``VhostNetRx.kick``. The RTL's DMA writes go through the IOMMU into those host pages, that
is into the guest's RAM.

The TX virtqueue (1) is drained: every chain is read (net header dropped), counted, handed
to ``on_tx`` and given back with a used length of 0, notifying as the guest's event index
asks -- so the guest's ARP, neighbour discovery and replies never stall it.

``pump()`` accepts a front-end, handles its messages and kicks; ``service()`` is the round
after NIC interrupts. Both return at once. One front-end at a time; after it goes away (its
rings torn down: NIC queue quiesced and closed, every page unpinned, memory unmapped) a new
one may connect to the same socket path.
"""

from __future__ import annotations

import select
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from model.hostmem import HostMemory, MemoryAccessError
from model.records import PlacementMode, RxCompletion, SplitLevel
from model.tracker import DmaWriteTracker
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_HDR_V1_SIZE,
    VIRTIO_RING_F_EVENT_IDX,
    Chain,
    ChainError,
    SplitRing,
    has_feature,
)
from sw.nic_driver import RxQueue
from sw.page_pool import PagePool
from sw.vhost import VhostNetRx, VhostQueueSettings, vhost_queue_settings
from sw.vhost_user import (
    VhostUserConnection,
    VhostUserError,
    VhostUserServer,
    Vring,
)

RX_RING = 0
TX_RING = 1
#: Features the device offers: virtio 1.x, mergeable RX buffers, event index.
DEFAULT_NET_FEATURES = (
    (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_NET_F_MRG_RXBUF) | (1 << VIRTIO_RING_F_EVENT_IDX)
)
TX_BUDGET = 256  # TX chains drained per round


@dataclass
class VhostUserNetStats:
    connections: int = 0
    refused_connections: int = 0  # a second front-end while one is connected
    rx_starts: int = 0
    tx_frames: int = 0
    tx_bytes: int = 0  # frame bytes, net header excluded
    tx_notifications: int = 0
    errors: int = 0


class VhostUserNet:
    """The device at socket ``path``. ``open_queue(settings)`` opens the NIC RX queue for
    the guest (the caller picks index and ring size); the guest is page-constructor owner
    ``owner`` with ``quota_pages``; ``mode``/``split_level`` its placement. ``on_frame``
    sees each frame delivered into the guest (``VhostNetRx.on_frame``), ``on_tx`` each frame
    the guest sends. ``tracker`` learns the guest's memory ranges (for violation reports).
    ``on_rx_stop(backend, reason)`` is told when the RX backend has been torn down (its NIC
    queue quiesced and closed, every page unpinned), with the reason when the front-end went
    away or broke the protocol, None at GET_VRING_BASE. ``owner`` may be changed between
    front-ends: the next one is registered under the new name."""

    def __init__(
        self,
        path: str,
        *,
        mem: HostMemory,
        pool: PagePool,
        open_queue: Callable[[VhostQueueSettings], Awaitable[RxQueue]],
        owner: str = "linux0",
        features: int = DEFAULT_NET_FEATURES,
        quota_pages: int = 1024,
        mode: PlacementMode = PlacementMode.FULL,
        split_level: SplitLevel = SplitLevel.L4,
        tracker: DmaWriteTracker | None = None,
        on_frame: Callable[[bytes, RxCompletion], None] | None = None,
        on_tx: Callable[[bytes], None] | None = None,
        on_rx_stop: Callable[[VhostNetRx, str | None], None] | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        vhost_queue_settings(features, mode, split_level)  # refuses a mode virtio cannot use
        self.path = path
        self.mem = mem
        self.pool = pool
        self.open_queue = open_queue
        self.owner = owner
        self.features = features
        self.quota_pages = quota_pages
        self.mode = mode
        self.split_level = split_level
        self.tracker = tracker
        self.on_frame = on_frame
        self.on_tx = on_tx
        self.on_rx_stop = on_rx_stop
        self.log = log
        self.stats = VhostUserNetStats()
        self.server = VhostUserServer(path)
        self.conn: VhostUserConnection | None = None
        self.backend: VhostNetRx | None = None
        self.tx: SplitRing | None = None
        self.tx_frames: list[bytes] = []
        self._tx_backlog = False  # the last TX round stopped at its budget
        self.last_error: str | None = None

    # -- the loop's side ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed

    @property
    def rx_running(self) -> bool:
        """The guest's RX ring is started and enabled, served by a backend."""
        return self.backend is not None and self.rx_ring is not None and self.rx_ring.enabled

    @property
    def rx_ring(self) -> Vring | None:
        return self.conn.rings[RX_RING] if self.conn is not None else None

    def wait_fds(self) -> list[int]:
        """Descriptors to wait on (select) for work: the listening socket, the connection,
        its kick eventfds."""
        fds = [self.server.fileno()]
        if self.conn is not None:
            fds += self.conn.wait_fds()
        return fds

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` for work (for a caller with nothing else to do)."""
        return bool(select.select(self.wait_fds(), [], [], timeout_s)[0])

    async def pump(self) -> bool:
        """Accept a front-end, handle its messages and kicks; returns whether anything
        happened."""
        busy = False
        sock = self.server.accept()
        if sock is not None:
            busy = True
            if self.connected:
                self.stats.refused_connections += 1
                self.log(f"{self.owner}: a second front-end connected; refused")
                sock.close()
            else:
                self.stats.connections += 1
                self.conn = VhostUserConnection(
                    sock, handler=self, mem=self.mem, features=self.features,
                    name=f"vhost-user {self.owner}", log=self._error_log,
                )  # fmt: skip
        conn = self.conn
        if conn is None or conn.closed:
            return busy
        busy |= await conn.pump()
        if conn.closed:
            return True
        for ring in conn.kicked():
            busy = True
            if ring.index == RX_RING and self.backend is not None and ring.enabled:
                self.backend.kick()
                await self.backend.service()
            elif ring.index == TX_RING:
                self._drain_tx(conn)
        if self._tx_backlog:
            busy = True
            self._drain_tx(conn)
        return busy

    async def service(self) -> None:
        """The host's round after NIC interrupts: completions -> used ring, refill; TX."""
        if self.backend is not None and self.rx_ring is not None and self.rx_ring.enabled:
            await self.backend.service()
        if self.conn is not None and not self.conn.closed:
            self._drain_tx(self.conn)

    async def close(self) -> None:
        """Stop serving: tear down the guest's device, close the socket."""
        if self.conn is not None:
            await self.conn.close()
        self.server.close()

    def _error_log(self, line: str) -> None:
        self.stats.errors += 1
        self.last_error = line
        self.log(line)

    # -- RingHandler ----------------------------------------------------------------------------

    async def start_ring(self, conn: VhostUserConnection, ring: Vring) -> None:
        assert conn.features is not None and conn.memory is not None and ring.layout is not None
        if ring.index == TX_RING:
            self.tx = SplitRing(
                conn.memory,
                ring.layout,
                event_idx=has_feature(conn.features, VIRTIO_RING_F_EVENT_IDX),
            )
            self.tx.init_device(ring.base)
            return
        settings = vhost_queue_settings(conn.features, self.mode, self.split_level)
        queue = await self.open_queue(settings)
        self.pool.register(self.owner, conn.memory, self.quota_pages)
        if self.tracker is not None:
            for m in conn.regions:
                self.tracker.add_owner_region(
                    self.owner, m.ram.host_base + self.pool.iova_offset, m.ram.size
                )
        try:
            self.backend = VhostNetRx(
                queue, self.pool, self.owner, conn.memory, ring.layout,
                features=conn.features, notify=lambda: conn.call(RX_RING),
                vring_base=ring.base, on_needs_reset=self._needs_reset,
                on_frame=self.on_frame,
            )  # fmt: skip
        except ValueError as exc:
            self.pool.teardown(self.owner)
            await queue.close()
            raise VhostUserError(f"ring {ring.index}: {exc}") from None
        self.stats.rx_starts += 1
        if ring.enabled:
            self.backend.kick()  # buffers the guest posted before the ring started
            await self.backend.service()

    async def stop_ring(self, conn: VhostUserConnection, ring: Vring) -> int:
        if ring.index == TX_RING:
            base = self.tx.last_avail_idx if self.tx is not None else ring.base
            self.tx = None
            return base
        return await self._stop_rx(None)

    async def stop_all(self, conn: VhostUserConnection, reason: str | None) -> None:
        await self._stop_rx(reason or "the front-end closed the connection")
        self.tx = None

    async def _stop_rx(self, reason: str | None) -> int:
        """Tear the RX backend down (quiesce and close the NIC queue, unpin, leave the page
        constructor); with a ``reason`` nothing more is published to the guest."""
        b = self.backend
        if b is None:
            return self.rx_ring.base if self.rx_ring is not None else 0
        if reason is not None:
            b.stop(reason)
        await b.teardown()
        self.backend = None
        if self.on_rx_stop is not None:
            self.on_rx_stop(b, reason)
        return b.ring.last_avail_idx

    def _needs_reset(self, reason: str) -> None:
        self._error_log(f"vhost-user {self.owner}: RX ring: {reason}; device needs reset")

    # -- TX -------------------------------------------------------------------------------------

    def _drain_tx(self, conn: VhostUserConnection) -> None:
        """Read and give back up to ``TX_BUDGET`` TX chains (more next round)."""
        ring = conn.rings[TX_RING]
        tx = self.tx
        if tx is None or not ring.enabled:
            return
        used: list[tuple[int, int]] = []
        problem = None
        self._tx_backlog = True
        tx.disable_notify()
        while len(used) < TX_BUDGET:
            try:
                chain = tx.pop_avail()
                if chain is None:
                    if tx.enable_notify():  # entries slipped in meanwhile
                        tx.disable_notify()
                        continue
                    self._tx_backlog = False
                    break
                frame = self._tx_frame(tx, chain)
            except (ChainError, MemoryAccessError, VhostUserError) as exc:
                problem = str(exc)
                break
            self.tx_frames.append(frame)
            self.stats.tx_frames += 1
            self.stats.tx_bytes += len(frame)
            if self.on_tx is not None:
                self.on_tx(frame)
            used.append((chain.head, 0))
        else:
            tx.enable_notify()  # budget spent: the next round goes on (_tx_backlog)
        if used:
            tx.push_used_n(used)
            if tx.need_notify():
                self.stats.tx_notifications += 1
                conn.call(TX_RING)
        if problem is not None:
            self._error_log(f"vhost-user {self.owner}: TX ring: {problem}; TX stopped")
            self.tx = None
            self._tx_backlog = False

    @staticmethod
    def _tx_frame(tx: SplitRing, chain: Chain) -> bytes:
        """The frame of a TX chain: its device-readable bytes after the net header."""
        if chain.writable:
            raise VhostUserError(f"TX chain at head {chain.head} has device-writable buffers")
        data = b"".join(tx.mem.read(s.addr, s.len) for s in chain.segments)
        if len(data) < VIRTIO_NET_HDR_V1_SIZE:
            raise VhostUserError(f"TX chain at head {chain.head}: {len(data)} bytes, no net header")
        return data[VIRTIO_NET_HDR_V1_SIZE:]

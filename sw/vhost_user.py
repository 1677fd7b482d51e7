# SPDX-License-Identifier: MIT
"""The vhost-user protocol (QEMU docs/interop/vhost-user.rst), back-end side, on a unix
socket: standard library only, non-blocking, pumped from the caller's loop.

QEMU (the front-end) connects to ``VhostUserServer``'s socket. Each ``VhostUserConnection``
reads the front-end's messages as they arrive and answers them; ``pump()`` does what is
pending and returns at once. Covered:

- ``GET_FEATURES`` / ``SET_FEATURES`` (a subset of what was offered), with
  ``VHOST_USER_F_PROTOCOL_FEATURES``; ``GET_PROTOCOL_FEATURES`` / ``SET_PROTOCOL_FEATURES``
  with ``REPLY_ACK`` (then every message flagged need_reply is answered 0, or non-zero when
  it was refused); ``SET_OWNER``; ``RESET_OWNER`` (stops the rings, as the spec allows).
- ``SET_MEM_TABLE``: each region's fd is mapped (from offset 0 for ``mmap_offset + size``)
  and that mapping becomes the bytes of a range of the caller's ``HostMemory``
  (``HostMemory.back``): the guest's RAM *is* host memory, so a device write there lands in
  the guest with no copy. ``memory`` is the guest's RAM as a ``GuestRamMap`` in
  guest-physical addresses.
- ``SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR/ENABLE`` and ``GET_VRING_BASE``. Ring addresses
  are the front-end's virtual addresses (translated with each region's ``userspace_addr``
  into guest-physical ones when the ring starts); descriptor addresses are guest-physical.
  A ring *starts* at ``SET_VRING_KICK`` and *stops* at ``GET_VRING_BASE``; "enabled" is a
  separate flag (``SET_VRING_ENABLE``, sent by QEMU 7.2 before the ring starts).
- The socket closing.

What a ring does is the device's business: a ``RingHandler`` is told when rings start and
stop, and the device polls ``kicked()`` and calls ``call()``. A message that breaks the
protocol (bad header, unknown or unsupported request, wrong payload size or file
descriptors, features never offered, a memory table whose regions overlap or cannot be
mapped, a ring outside every region, ...) is one error line (``log``); the device is
stopped (its handler's ``stop_all``), nothing more is written to the guest, the memory is
unmapped and the connection closed. Nothing blocks: a front-end that stops halfway through
a message leaves the connection waiting, not the caller.
"""

from __future__ import annotations

import enum
import mmap
import os
import select
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from model.hostmem import PAGE_MASK, GuestRam, GuestRamMap, HostMemory
from model.virtio import (
    VIRTQUEUE_MAX_SIZE,
    SplitRingLayout,
    VringAvailHeader,
    VringDesc,
    VringUsedElem,
    VringUsedHeader,
)

# --------------------------------------------------------------------------------------------
# Constants (vhost-user.rst)
# --------------------------------------------------------------------------------------------


class Request(enum.IntEnum):
    """Front-end message types."""

    GET_FEATURES = 1
    SET_FEATURES = 2
    SET_OWNER = 3
    RESET_OWNER = 4
    SET_MEM_TABLE = 5
    SET_LOG_BASE = 6
    SET_LOG_FD = 7
    SET_VRING_NUM = 8
    SET_VRING_ADDR = 9
    SET_VRING_BASE = 10
    GET_VRING_BASE = 11
    SET_VRING_KICK = 12
    SET_VRING_CALL = 13
    SET_VRING_ERR = 14
    GET_PROTOCOL_FEATURES = 15
    SET_PROTOCOL_FEATURES = 16
    GET_QUEUE_NUM = 17
    SET_VRING_ENABLE = 18
    SEND_RARP = 19
    NET_SET_MTU = 20
    SET_SLAVE_REQ_FD = 21
    IOTLB_MSG = 22
    SET_VRING_ENDIAN = 23
    GET_CONFIG = 24
    SET_CONFIG = 25


VERSION = 0x1
FLAG_VERSION_MASK = 0x3
FLAG_REPLY = 1 << 2
FLAG_NEED_REPLY = 1 << 3

#: Feature bit (in GET_FEATURES) that says protocol features can be negotiated.
VHOST_USER_F_PROTOCOL_FEATURES = 30
PROTOCOL_F_MQ = 0
PROTOCOL_F_REPLY_ACK = 3

VRING_IDX_MASK = 0xFF
VRING_NOFD_MASK = 1 << 8
VHOST_VRING_F_LOG = 1 << 0
#: Regions in one SET_MEM_TABLE (VHOST_MEMORY_BASELINE_NREGIONS).
MAX_REGIONS = 8
#: Largest payload taken; a larger size field means a broken stream.
MAX_PAYLOAD = 4096
_MAX_FDS = MAX_REGIONS

# --------------------------------------------------------------------------------------------
# Wire structures (native byte order, no padding)
# --------------------------------------------------------------------------------------------


class _Wire:
    """A message part with one ``struct.Struct``."""

    STRUCT: ClassVar[struct.Struct]

    def pack(self) -> bytes:
        return self.STRUCT.pack(*vars(self).values())

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        return cls(*cls.STRUCT.unpack(data))

    @classmethod
    def nbytes(cls) -> int:
        return cls.STRUCT.size


@dataclass(frozen=True)
class MsgHeader(_Wire):
    STRUCT: ClassVar[struct.Struct] = struct.Struct("=III")
    request: int
    flags: int
    size: int  # of the payload that follows


@dataclass(frozen=True)
class U64(_Wire):
    STRUCT: ClassVar[struct.Struct] = struct.Struct("=Q")
    value: int


@dataclass(frozen=True)
class VringState(_Wire):
    """struct vhost_vring_state."""

    STRUCT: ClassVar[struct.Struct] = struct.Struct("=II")
    index: int
    num: int


@dataclass(frozen=True)
class VringAddr(_Wire):
    """struct vhost_vring_addr: ring addresses in the front-end's address space."""

    STRUCT: ClassVar[struct.Struct] = struct.Struct("=IIQQQQ")
    index: int
    flags: int
    desc_user_addr: int
    used_user_addr: int
    avail_user_addr: int
    log_guest_addr: int


@dataclass(frozen=True)
class MemoryHeader(_Wire):
    STRUCT: ClassVar[struct.Struct] = struct.Struct("=II")
    nregions: int
    padding: int


@dataclass(frozen=True)
class MemoryRegion(_Wire):
    """VhostUserMemoryRegion."""

    STRUCT: ClassVar[struct.Struct] = struct.Struct("=QQQQ")
    guest_phys_addr: int
    memory_size: int
    userspace_addr: int
    mmap_offset: int


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


class VhostUserError(Exception):
    """A message that breaks the protocol; the connection is stopped."""


class PeerClosed(Exception):
    """The front-end closed the socket."""


@dataclass
class Vring:
    """One virtqueue as the front-end set it up."""

    index: int
    num: int = 0
    addr: VringAddr | None = None
    base: int = 0  # avail index to start from (SET_VRING_BASE)
    kick_fd: int | None = None
    call_fd: int | None = None
    err_fd: int | None = None
    kick_polling: bool = False  # SET_VRING_KICK without an fd: poll the ring instead
    enabled: bool = False
    started: bool = False
    layout: SplitRingLayout | None = None  # guest-physical, set when the ring starts
    kicks: int = 0  # the front-end's kicks (eventfd counts)
    calls: int = 0  # calls the back-end made


@dataclass
class MappedRegion:
    """One region of the memory table, mapped: ``ram`` is its range of host memory."""

    region: MemoryRegion
    mm: mmap.mmap
    view: memoryview  # the region's bytes inside ``mm``
    ram: GuestRam

    def contains_uva(self, uva: int, length: int) -> bool:
        r = self.region
        return r.userspace_addr <= uva and uva + length <= r.userspace_addr + r.memory_size


class RingHandler(Protocol):
    """The device behind a connection: told when its rings start and stop."""

    async def start_ring(self, conn: VhostUserConnection, ring: Vring) -> None:
        """``ring`` started (its layout is set, the memory table mapped)."""

    async def stop_ring(self, conn: VhostUserConnection, ring: Vring) -> int:
        """Stop ``ring`` (GET_VRING_BASE): returns the avail index to hand back."""

    async def stop_all(self, conn: VhostUserConnection, reason: str | None) -> None:
        """The connection ends (closed, or ``reason``: the protocol error that stopped it):
        stop every ring so that nothing more is written into the guest's memory, which is
        unmapped right after."""


@dataclass
class ConnectionStats:
    messages: int = 0
    replies: int = 0
    mem_tables: int = 0
    errors: int = 0
    by_request: dict[str, int] = field(default_factory=dict)


def _close_fd(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


class VhostUserConnection:
    """One front-end on an accepted socket. ``features``/``protocol_features`` are what the
    device offers; ``num_queues`` its virtqueues; guest RAM becomes memory of ``mem``."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        handler: RingHandler,
        mem: HostMemory,
        features: int,
        protocol_features: int = 1 << PROTOCOL_F_REPLY_ACK,
        num_queues: int = 2,
        name: str = "vhost-user",
        log: Callable[[str], None] = print,
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.handler = handler
        self.mem = mem
        self.offered_features = features | 1 << VHOST_USER_F_PROTOCOL_FEATURES
        self.offered_protocol_features = protocol_features
        self.name = name
        self.log = log
        self.features: int | None = None  # set by SET_FEATURES
        self.protocol_features = 0
        self.owner = False
        self.rings = [Vring(i) for i in range(num_queues)]
        self.regions: list[MappedRegion] = []
        self.memory: GuestRamMap | None = None
        self.closed = False
        self.error: str | None = None
        self.stats = ConnectionStats()
        self._in = bytearray()
        self._in_fds: list[int] = []
        self._out = bytearray()

    # -- the loop's side ----------------------------------------------------------------------

    def fileno(self) -> int:
        return self.sock.fileno()

    def wait_fds(self) -> list[int]:
        """What to wait on (select) for more work: the socket and every kick eventfd."""
        if self.closed:
            return []
        return [self.sock.fileno()] + [
            r.kick_fd for r in self.rings if r.started and r.kick_fd is not None
        ]

    async def pump(self) -> bool:
        """Handle every complete message waiting; returns whether anything was read."""
        if self.closed:
            return False
        busy = False
        try:
            self._flush()
            while not self.closed:
                msg = self._read_message()
                if msg is None:
                    break
                busy = True
                await self._dispatch(*msg)
                self._flush()
        except VhostUserError as exc:
            await self._fail(str(exc))
            busy = True
        except PeerClosed:
            await self.close()
            busy = True
        return busy

    def kicked(self) -> list[Vring]:
        """Started rings whose kick eventfd fired since the last look (the eventfd is
        read, so a kick is seen once; ``Vring.kicks`` adds its counter, the kicks since the
        last read), and every started ring in polling mode."""
        rings = [r for r in self.rings if r.started]
        fds = [r.kick_fd for r in rings if r.kick_fd is not None]
        ready = set(select.select(fds, [], [], 0)[0]) if fds else set()
        out = []
        for r in rings:
            if r.kick_polling:
                out.append(r)
            elif r.kick_fd in ready:
                try:
                    raw = os.read(r.kick_fd, 8)
                except BlockingIOError:
                    continue
                # an eventfd's counter: the kicks since the last read (each one wrote 1)
                r.kicks += int.from_bytes(raw, "little") if len(raw) == 8 else 1
                out.append(r)
        return out

    def call(self, index: int) -> None:
        """Interrupt the guest for ring ``index`` (its call eventfd, if it gave one)."""
        r = self.rings[index]
        r.calls += 1
        if r.call_fd is not None and not self.closed:
            try:
                os.write(r.call_fd, U64(1).pack())
            except OSError as exc:
                self.log(f"{self.name}: call eventfd of ring {index}: {exc}")

    async def close(self) -> None:
        """Stop the device, unmap the guest's memory, close every descriptor."""
        if self.closed:
            return
        self.closed = True
        await self.handler.stop_all(self, self.error)
        for r in self.rings:
            r.started = False
            for fd in (r.kick_fd, r.call_fd, r.err_fd):
                _close_fd(fd)
            r.kick_fd = r.call_fd = r.err_fd = None
        self._unmap()
        for fd in self._in_fds:
            _close_fd(fd)
        self._in_fds = []
        self.sock.close()

    async def _fail(self, reason: str) -> None:
        self.stats.errors += 1
        self.error = reason
        self.log(f"{self.name}: {reason}; device stopped")
        await self.close()

    # -- reading ------------------------------------------------------------------------------

    def _recv(self, n: int) -> bool:
        """Read up to ``n`` bytes (and any descriptors) into the input buffer; False when
        nothing is there now."""
        try:
            data, fds, flags, _ = socket.recv_fds(self.sock, n, _MAX_FDS)
        except (BlockingIOError, InterruptedError):
            return False
        except ConnectionResetError:
            raise PeerClosed() from None
        self._in_fds += fds
        if flags & socket.MSG_CTRUNC:
            raise VhostUserError("more file descriptors than any message carries")
        if not data:
            raise PeerClosed()
        self._in += data
        return True

    def _read_message(self) -> tuple[MsgHeader, bytes, list[int]] | None:
        hsize = MsgHeader.nbytes()
        while len(self._in) < hsize:
            if not self._recv(hsize - len(self._in)):
                return None
        hdr = MsgHeader.unpack(bytes(self._in[:hsize]))
        if hdr.flags & FLAG_VERSION_MASK != VERSION:
            raise VhostUserError(
                f"message with version {hdr.flags & FLAG_VERSION_MASK} (flags {hdr.flags:#x}); "
                f"only version {VERSION} exists"
            )
        if hdr.size > MAX_PAYLOAD:
            raise VhostUserError(
                f"request {hdr.request} with a payload of {hdr.size} bytes (at most {MAX_PAYLOAD})"
            )
        while len(self._in) < hsize + hdr.size:
            if not self._recv(hsize + hdr.size - len(self._in)):
                return None
        payload = bytes(self._in[hsize : hsize + hdr.size])
        del self._in[: hsize + hdr.size]
        fds, self._in_fds = self._in_fds, []
        return hdr, payload, fds

    # -- writing ------------------------------------------------------------------------------

    def _reply(self, hdr: MsgHeader, payload: bytes) -> None:
        flags = VERSION | FLAG_REPLY
        self._out += MsgHeader(hdr.request, flags, len(payload)).pack() + payload
        self.stats.replies += 1
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                n = self.sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                return
            except (BrokenPipeError, ConnectionResetError):
                raise PeerClosed() from None
            del self._out[:n]

    # -- messages -------------------------------------------------------------------------------

    async def _dispatch(self, hdr: MsgHeader, payload: bytes, fds: list[int]) -> None:
        self.stats.messages += 1
        try:
            req = Request(hdr.request)
        except ValueError:
            for fd in fds:
                _close_fd(fd)
            raise VhostUserError(f"unknown request {hdr.request}") from None
        self.stats.by_request[req.name] = self.stats.by_request.get(req.name, 0) + 1
        handler = _HANDLERS.get(req)
        if handler is None:
            for fd in fds:
                _close_fd(fd)
            raise VhostUserError(f"request {req.name} ({int(req)}) is not supported")
        ack = bool(hdr.flags & FLAG_NEED_REPLY) and bool(
            self.protocol_features & 1 << PROTOCOL_F_REPLY_ACK
        )
        try:
            reply = await handler(self, payload, fds)
        except VhostUserError as exc:
            if ack:
                self._reply(hdr, U64(1).pack())  # refused, then the connection closes
            raise VhostUserError(f"{req.name}: {exc}") from None
        if reply is not None:
            self._reply(hdr, reply)
        elif ack:
            self._reply(hdr, U64(0).pack())

    @staticmethod
    def _expect(payload: bytes, part: type[_Wire]) -> None:
        if len(payload) != part.nbytes():
            raise VhostUserError(f"payload of {len(payload)} bytes, expected {part.nbytes()}")

    @staticmethod
    def _no_fds(fds: list[int]) -> None:
        if fds:
            for fd in fds:
                _close_fd(fd)
            raise VhostUserError(f"{len(fds)} unexpected file descriptors")

    def _ring(self, index: int) -> Vring:
        if not 0 <= index < len(self.rings):
            raise VhostUserError(f"ring {index}: the device has {len(self.rings)}")
        return self.rings[index]

    def _stopped_ring(self, index: int) -> Vring:
        r = self._ring(index)
        if r.started:
            raise VhostUserError(f"ring {index} is running")
        return r

    async def _get_features(self, payload: bytes, fds: list[int]) -> bytes:
        self._no_fds(fds)
        return U64(self.offered_features).pack()

    async def _set_features(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        self._expect(payload, U64)
        value = U64.unpack(payload).value
        extra = value & ~self.offered_features
        if extra:
            raise VhostUserError(f"features {value:#x} include {extra:#x}, never offered")
        running = [r.index for r in self.rings if r.started]
        if running and value != self.features:
            raise VhostUserError(f"features changed while ring {running[0]} is running")
        self.features = value

    async def _get_protocol_features(self, payload: bytes, fds: list[int]) -> bytes:
        self._no_fds(fds)
        return U64(self.offered_protocol_features).pack()

    async def _set_protocol_features(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        self._expect(payload, U64)
        value = U64.unpack(payload).value
        extra = value & ~self.offered_protocol_features
        if extra:
            raise VhostUserError(f"protocol features {value:#x} include {extra:#x}, never offered")
        self.protocol_features = value

    async def _set_owner(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        if self.owner:
            raise VhostUserError("the session already has an owner")
        self.owner = True

    async def _reset_owner(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        for r in self.rings:  # deprecated: "disable all rings"
            if r.started:
                r.base = await self.handler.stop_ring(self, r)
                r.started = False
            r.enabled = False

    async def _get_queue_num(self, payload: bytes, fds: list[int]) -> bytes:
        self._no_fds(fds)
        return U64(1).pack()  # queue pairs

    async def _set_mem_table(self, payload: bytes, fds: list[int]) -> None:
        try:
            self._map_table(payload, fds)
        finally:
            for fd in fds:  # the mappings keep what they need
                _close_fd(fd)

    def _map_table(self, payload: bytes, fds: list[int]) -> None:
        running = [r.index for r in self.rings if r.started]
        if running:
            raise VhostUserError(f"a new memory table while ring {running[0]} is running")
        hsize, rsize = MemoryHeader.nbytes(), MemoryRegion.nbytes()
        if len(payload) < hsize:
            raise VhostUserError(f"payload of {len(payload)} bytes, no region count")
        n = MemoryHeader.unpack(payload[:hsize]).nregions
        if not 1 <= n <= MAX_REGIONS:
            raise VhostUserError(f"{n} regions (1..{MAX_REGIONS})")
        if not hsize + n * rsize <= len(payload) <= hsize + MAX_REGIONS * rsize:
            raise VhostUserError(f"payload of {len(payload)} bytes for {n} regions")
        if len(fds) != n:
            raise VhostUserError(f"{n} regions but {len(fds)} file descriptors")
        regions = [
            MemoryRegion.unpack(payload[hsize + i * rsize : hsize + (i + 1) * rsize])
            for i in range(n)
        ]
        for i, r in enumerate(regions):
            where = f"region {i} [{r.guest_phys_addr:#x}, +{r.memory_size:#x})"
            if (
                r.memory_size == 0
                or (r.guest_phys_addr | r.memory_size | r.mmap_offset) & PAGE_MASK
            ):
                raise VhostUserError(f"{where} mmap_offset {r.mmap_offset:#x}: not whole pages")
            for j, o in enumerate(regions[:i]):
                if (
                    r.guest_phys_addr < o.guest_phys_addr + o.memory_size
                    and o.guest_phys_addr < r.guest_phys_addr + r.memory_size
                ):
                    raise VhostUserError(f"{where} overlaps region {j} in guest memory")
                if (
                    r.userspace_addr < o.userspace_addr + o.memory_size
                    and o.userspace_addr < r.userspace_addr + r.memory_size
                ):
                    raise VhostUserError(f"{where} overlaps region {j} in user addresses")
        mapped: list[MappedRegion] = []
        try:
            for i, (r, fd) in enumerate(zip(regions, fds, strict=True)):
                try:
                    mm = mmap.mmap(fd, r.mmap_offset + r.memory_size, mmap.MAP_SHARED)
                except (OSError, ValueError, OverflowError) as exc:
                    raise VhostUserError(f"region {i}: cannot map its fd: {exc}") from None
                view = memoryview(mm)[r.mmap_offset : r.mmap_offset + r.memory_size]
                ram = GuestRam(
                    self.mem, r.memory_size, name=f"{self.name} region {i}",
                    guest_base=r.guest_phys_addr,
                )  # fmt: skip
                self.mem.back(ram.host_base, view)
                mapped.append(MappedRegion(r, mm, view, ram))
        except VhostUserError:
            self._release(mapped)
            raise
        self._unmap()
        self.regions = mapped
        self.memory = GuestRamMap([m.ram for m in mapped], name=self.name)
        self.stats.mem_tables += 1

    def _release(self, mapped: list[MappedRegion]) -> None:
        for m in mapped:
            self.mem.unback(m.ram.host_base)
            m.view.release()
            m.mm.close()

    def _unmap(self) -> None:
        self._release(self.regions)
        self.regions = []
        self.memory = None

    async def _set_vring_num(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        self._expect(payload, VringState)
        s = VringState.unpack(payload)
        r = self._stopped_ring(s.index)
        if not 1 <= s.num <= VIRTQUEUE_MAX_SIZE or s.num & (s.num - 1):
            raise VhostUserError(f"ring {s.index}: size {s.num} is not a power of two")
        r.num = s.num

    async def _set_vring_base(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        self._expect(payload, VringState)
        s = VringState.unpack(payload)
        r = self._stopped_ring(s.index)
        if s.num > 0xFFFF:
            raise VhostUserError(f"ring {s.index}: base {s.num:#x} is not a split ring index")
        r.base = s.num

    async def _get_vring_base(self, payload: bytes, fds: list[int]) -> bytes:
        self._no_fds(fds)
        self._expect(payload, VringState)
        s = VringState.unpack(payload)
        r = self._ring(s.index)
        if r.started:
            r.base = await self.handler.stop_ring(self, r) & 0xFFFF
            r.started = False
        return VringState(s.index, r.base).pack()

    async def _set_vring_addr(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        self._expect(payload, VringAddr)
        a = VringAddr.unpack(payload)
        r = self._stopped_ring(a.index)
        if a.flags & VHOST_VRING_F_LOG:
            raise VhostUserError(f"ring {a.index}: logging asked for, never offered")
        r.addr = a

    def _fd_message(self, payload: bytes, fds: list[int]) -> tuple[Vring, int | None]:
        """The ring and descriptor of SET_VRING_KICK / CALL / ERR."""
        try:
            self._expect(payload, U64)
        except VhostUserError:
            for fd in fds:
                _close_fd(fd)
            raise
        value = U64.unpack(payload).value
        nofd = bool(value & VRING_NOFD_MASK)
        if len(fds) != (0 if nofd else 1) or value & ~(VRING_IDX_MASK | VRING_NOFD_MASK):
            for fd in fds:
                _close_fd(fd)
            raise VhostUserError(f"u64 {value:#x} with {len(fds)} file descriptors")
        index = value & VRING_IDX_MASK
        if not 0 <= index < len(self.rings):
            for fd in fds:
                _close_fd(fd)
            raise VhostUserError(f"ring {index}: the device has {len(self.rings)}")
        return self.rings[index], (None if nofd else fds[0])

    async def _set_vring_kick(self, payload: bytes, fds: list[int]) -> None:
        r, fd = self._fd_message(payload, fds)
        _close_fd(r.kick_fd)
        r.kick_fd = fd
        r.kick_polling = fd is None
        if not r.started:
            await self._start(r)

    async def _set_vring_call(self, payload: bytes, fds: list[int]) -> None:
        r, fd = self._fd_message(payload, fds)
        _close_fd(r.call_fd)
        r.call_fd = fd

    async def _set_vring_err(self, payload: bytes, fds: list[int]) -> None:
        r, fd = self._fd_message(payload, fds)
        _close_fd(r.err_fd)
        r.err_fd = fd

    async def _set_vring_enable(self, payload: bytes, fds: list[int]) -> None:
        self._no_fds(fds)
        self._expect(payload, VringState)
        s = VringState.unpack(payload)
        r = self._ring(s.index)
        if not self.protocol_features_negotiated:
            raise VhostUserError("SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES")
        if s.num not in (0, 1):
            raise VhostUserError(f"ring {s.index}: enable {s.num} is not 0 or 1")
        r.enabled = bool(s.num)

    # -- rings ----------------------------------------------------------------------------------

    @property
    def protocol_features_negotiated(self) -> bool:
        """VHOST_USER_F_PROTOCOL_FEATURES was offered (always) and, once SET_FEATURES came,
        kept (before it, QEMU already uses protocol features, as the spec allows)."""
        return self.features is None or bool(self.features >> VHOST_USER_F_PROTOCOL_FEATURES & 1)

    def uva_to_gpa(self, uva: int, length: int) -> int:
        """Guest-physical address of the front-end's virtual address range (one region)."""
        for m in self.regions:
            if m.contains_uva(uva, length):
                return m.region.guest_phys_addr + (uva - m.region.userspace_addr)
        raise VhostUserError(f"[{uva:#x}, +{length:#x}) is outside every memory region")

    async def _start(self, r: Vring) -> None:
        if self.features is None:
            raise VhostUserError(f"ring {r.index} started before SET_FEATURES")
        if self.memory is None:
            raise VhostUserError(f"ring {r.index} started before SET_MEM_TABLE")
        if r.num == 0 or r.addr is None:
            raise VhostUserError(f"ring {r.index} started without its size and addresses")
        n = r.num
        parts = (
            ("descriptor table", r.addr.desc_user_addr, VringDesc.size() * n),
            ("avail ring", r.addr.avail_user_addr, VringAvailHeader.size() + 2 * n + 2),
            (
                "used ring",
                r.addr.used_user_addr,
                VringUsedHeader.size() + VringUsedElem.size() * n + 2,
            ),
        )
        gpas = []
        for what, uva, size in parts:
            try:
                gpas.append(self.uva_to_gpa(uva, size))
            except VhostUserError as exc:
                raise VhostUserError(f"ring {r.index} {what}: {exc}") from None
        try:
            r.layout = SplitRingLayout(n, gpas[0], gpas[1], gpas[2])
        except ValueError as exc:
            raise VhostUserError(f"ring {r.index}: {exc}") from None
        if not self.protocol_features_negotiated:
            r.enabled = True  # without protocol features a ring starts enabled
        r.started = True
        await self.handler.start_ring(self, r)


_Handler = Callable[[VhostUserConnection, bytes, list[int]], Awaitable[bytes | None]]
_HANDLERS: dict[Request, _Handler] = {
    Request.GET_FEATURES: VhostUserConnection._get_features,
    Request.SET_FEATURES: VhostUserConnection._set_features,
    Request.GET_PROTOCOL_FEATURES: VhostUserConnection._get_protocol_features,
    Request.SET_PROTOCOL_FEATURES: VhostUserConnection._set_protocol_features,
    Request.SET_OWNER: VhostUserConnection._set_owner,
    Request.RESET_OWNER: VhostUserConnection._reset_owner,
    Request.GET_QUEUE_NUM: VhostUserConnection._get_queue_num,
    Request.SET_MEM_TABLE: VhostUserConnection._set_mem_table,
    Request.SET_VRING_NUM: VhostUserConnection._set_vring_num,
    Request.SET_VRING_BASE: VhostUserConnection._set_vring_base,
    Request.GET_VRING_BASE: VhostUserConnection._get_vring_base,
    Request.SET_VRING_ADDR: VhostUserConnection._set_vring_addr,
    Request.SET_VRING_KICK: VhostUserConnection._set_vring_kick,
    Request.SET_VRING_CALL: VhostUserConnection._set_vring_call,
    Request.SET_VRING_ERR: VhostUserConnection._set_vring_err,
    Request.SET_VRING_ENABLE: VhostUserConnection._set_vring_enable,
}  # fmt: skip


class VhostUserServer:
    """A listening unix socket at ``path`` (a stale socket file there is replaced)."""

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.exists(path) and not os.path.isdir(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> socket.socket | None:
        """A front-end that connected, or None."""
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        return conn

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

# SPDX-License-Identifier: MIT
"""A small vhost-user front-end of our own, for tests and the simulation's bad-input runs
(tests/test_vhost_user.py, tb/lib/linux_guest.py): it speaks the protocol as QEMU's
docs/interop/vhost-user.rst defines it, in the order QEMU 7.2 sends it (docs/guest.md); owns
a "guest" whose RAM is a memfd laid out as QEMU lays out a PC's (region 0 below 640 KiB,
region 1 from 768 KiB, both mapped from the same memfd); and drives the guest's virtqueues
with the model virtio-net driver (sw.guest_virtio) on its own mapping of that memfd. Nothing
here shares memory with the back-end except through the fd."""

from __future__ import annotations

import mmap
import os
import select
import socket
import struct

from model.hostmem import POISON_BYTE, GuestRam, HostMemory
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_RING_F_EVENT_IDX,
    SplitRing,
    SplitRingLayout,
)
from sw.guest_virtio import GuestVirtioNetRx
from sw.vhost_user import (
    FLAG_NEED_REPLY,
    FLAG_REPLY,
    PROTOCOL_F_REPLY_ACK,
    U64,
    VERSION,
    VHOST_USER_F_PROTOCOL_FEATURES,
    VRING_NOFD_MASK,
    MemoryHeader,
    MemoryRegion,
    MsgHeader,
    Request,
    VringAddr,
    VringState,
)

LOW_END = 0xA0000  # 640 KiB: region 0 is [0, 640 KiB)
HIGH_START = 0xC0000  # 768 KiB: region 1 starts here (mmap_offset 0xc0000)
UVA_BASE = 0x7F00_0000_0000  # where the "front-end" has the memfd mapped
#: What ``FakeFrontEnd.send_bad`` can send.
BAD_INPUT = ("malformed", "overlap", "unmappable", "ring-outside")
GUEST_FEATURES = (
    (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_NET_F_MRG_RXBUF) | (1 << VIRTIO_RING_F_EVENT_IDX)
)


class FakeFrontEnd:
    """Connects to ``path``; the guest has ``ram_size`` bytes of RAM, poisoned."""

    def __init__(self, path: str, ram_size: int = 4 << 20) -> None:
        self.memfd = os.memfd_create("fake-guest-ram", 0)
        os.ftruncate(self.memfd, ram_size)
        self.mm = mmap.mmap(self.memfd, ram_size)
        self.mm[:] = bytes([POISON_BYTE]) * ram_size
        self.mem = HostMemory()
        self.ram = GuestRam(self.mem, ram_size, name="fake-guest")
        self._view = memoryview(self.mm)
        self.mem.back(self.ram.host_base, self._view)
        self.ram.alloc(HIGH_START - 16)  # the guest's own allocations start above the hole
        self.ram_size = ram_size
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(5.0)
        self.kick_fds: dict[int, int] = {}
        self.call_fds: dict[int, int] = {}
        self.rx: GuestVirtioNetRx | None = None
        self.tx: SplitRing | None = None

    # -- raw messages ---------------------------------------------------------------------------

    def send(
        self,
        req: int,
        payload: bytes = b"",
        fds: list[int] | None = None,
        *,
        need_reply: bool = False,
        flags: int | None = None,
    ) -> None:
        f = VERSION | (FLAG_NEED_REPLY if need_reply else 0) if flags is None else flags
        data = MsgHeader(int(req), f, len(payload)).pack() + payload
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.sendall(data)

    def reply(self) -> tuple[MsgHeader, bytes]:
        """The next message from the back-end (blocks up to the socket timeout)."""
        raw = self._read(MsgHeader.nbytes())
        hdr = MsgHeader.unpack(raw)
        assert hdr.flags == VERSION | FLAG_REPLY, hdr
        return hdr, self._read(hdr.size)

    def reply_u64(self, req: int) -> int:
        hdr, payload = self.reply()
        assert hdr.request == req and len(payload) == 8, (hdr, payload)
        return int(U64.unpack(payload).value)

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("back-end closed the connection")
            out += chunk
        return out

    def closed_by_peer(self) -> bool:
        """True when the back-end has closed the socket (replies still pending are read
        and dropped)."""
        while select.select([self.sock], [], [], 1.0)[0]:
            try:
                if self.sock.recv(4096) == b"":
                    return True
            except ConnectionResetError:  # closed with our unread bytes in its buffer
                return True
        return False

    # -- the set-up QEMU does ------------------------------------------------------------------

    def regions(self) -> list[MemoryRegion]:
        return [
            MemoryRegion(0, LOW_END, UVA_BASE, 0),
            MemoryRegion(HIGH_START, self.ram_size - HIGH_START, UVA_BASE + HIGH_START, HIGH_START),
        ]

    def mem_table_payload(self, regions: list[MemoryRegion] | None = None) -> bytes:
        regions = self.regions() if regions is None else regions
        return MemoryHeader(len(regions), 0).pack() + b"".join(r.pack() for r in regions)

    def uva(self, gpa: int) -> int:
        return UVA_BASE + gpa

    def negotiate(self, features: int = GUEST_FEATURES) -> int:
        """What QEMU does before the guest driver probes, then SET_FEATURES; returns the
        features the back-end offered."""
        self.send(Request.GET_FEATURES)
        offered = self.reply_u64(Request.GET_FEATURES)
        assert offered >> VHOST_USER_F_PROTOCOL_FEATURES & 1
        self.send(Request.GET_PROTOCOL_FEATURES)
        proto = self.reply_u64(Request.GET_PROTOCOL_FEATURES)
        assert proto >> PROTOCOL_F_REPLY_ACK & 1
        self.send(Request.SET_PROTOCOL_FEATURES, U64(1 << PROTOCOL_F_REPLY_ACK).pack())
        self.send(Request.SET_OWNER)
        for i in (0, 1):
            self.call_fds[i] = os.eventfd(0, os.EFD_NONBLOCK)
            self.send(Request.SET_VRING_CALL, U64(i).pack(), [self.call_fds[i]])
            self.send(Request.SET_VRING_ERR, U64(i | VRING_NOFD_MASK).pack())
            self.send(Request.SET_VRING_ENABLE, VringState(i, 1).pack())
        self.send(Request.SET_FEATURES, U64(features | 1 << VHOST_USER_F_PROTOCOL_FEATURES).pack())
        return offered

    def send_mem_table(self) -> None:
        fds = [os.dup(self.memfd), os.dup(self.memfd)]
        self.send(Request.SET_MEM_TABLE, self.mem_table_payload(), fds, need_reply=True)
        for fd in fds:
            os.close(fd)

    def setup_ring(self, index: int, layout: SplitRingLayout, base: int = 0) -> None:
        self.send(Request.SET_VRING_NUM, VringState(index, layout.num).pack())
        self.send(Request.SET_VRING_BASE, VringState(index, base).pack())
        addr = VringAddr(
            index, 0, self.uva(layout.desc), self.uva(layout.used), self.uva(layout.avail), 0
        )
        self.send(Request.SET_VRING_ADDR, addr.pack())
        self.kick_fds[index] = os.eventfd(0, os.EFD_NONBLOCK)
        self.send(Request.SET_VRING_KICK, U64(index).pack(), [self.kick_fds[index]])
        self.send(Request.SET_VRING_CALL, U64(index).pack(), [self.call_fds[index]])

    def make_rx(self, num: int = 16, buf_size: int = 1536) -> GuestVirtioNetRx:
        self.rx = GuestVirtioNetRx(
            self.ram, num, buf_size=buf_size, features=GUEST_FEATURES, kick=lambda: self.kick(0)
        )
        return self.rx

    def make_tx(self, num: int = 16) -> SplitRing:
        base = self.ram.alloc(SplitRingLayout.total_size_1x(num), 4096)
        self.tx = SplitRing(self.ram, SplitRingLayout.packed_1x(num, base), event_idx=True)
        self.tx.init_driver()
        return self.tx

    def send_bad(self, kind: str) -> None:
        """One bad message of ``kind`` (``BAD_INPUT``), after ``negotiate``: ``malformed``, a
        header of another version; ``overlap``, a memory table whose regions overlap;
        ``unmappable``, a region whose fd is a pipe; ``ring-outside``, the memory table, then
        an RX ring whose descriptor table lies in the hole between the two regions."""
        if kind == "malformed":
            self.send(Request.GET_FEATURES, flags=0x2)
        elif kind == "overlap":
            regions = [
                MemoryRegion(0, 0x200000, 0x10000000, 0),
                MemoryRegion(0x100000, 0x200000, 0x20000000, 0),
            ]
            fds = [os.dup(self.memfd), os.dup(self.memfd)]
            self.send(Request.SET_MEM_TABLE, self.mem_table_payload(regions), fds)
            for fd in fds:
                os.close(fd)
        elif kind == "unmappable":
            r, w = os.pipe()
            table = self.mem_table_payload([MemoryRegion(0, 0x100000, 0x10000000, 0)])
            self.send(Request.SET_MEM_TABLE, table, [r])
            os.close(r)
            os.close(w)
        elif kind == "ring-outside":
            self.send_mem_table()
            lay = self.make_rx(16).layout
            self.send(Request.SET_VRING_NUM, VringState(0, lay.num).pack())
            hole = self.uva(LOW_END + 0x10000)  # between region 0's end and region 1
            addr = VringAddr(0, 0, hole, self.uva(lay.used), self.uva(lay.avail), 0)
            self.send(Request.SET_VRING_ADDR, addr.pack())
            kick = os.eventfd(0)
            self.send(Request.SET_VRING_KICK, U64(0).pack(), [kick])
            os.close(kick)
        else:
            raise ValueError(f"bad input {kind!r}: one of {', '.join(BAD_INPUT)}")

    def kick(self, index: int) -> None:
        os.write(self.kick_fds[index], struct.pack("=Q", 1))

    def calls(self, index: int) -> int:
        """Interrupts the back-end sent on ring ``index`` since the last look."""
        try:
            return int.from_bytes(os.read(self.call_fds[index], 8), "little")
        except BlockingIOError:
            return 0

    def close(self) -> None:
        self.sock.close()
        for fd in list(self.kick_fds.values()) + list(self.call_fds.values()):
            os.close(fd)
        self.kick_fds.clear()
        self.call_fds.clear()
        self.mem.unback(self.ram.host_base)
        self._view.release()
        self.mm.close()
        os.close(self.memfd)

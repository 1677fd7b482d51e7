# SPDX-License-Identifier: MIT
"""The real Linux guest: QEMU (TCG) booting the image of ``make guest-image`` with one
virtio-net device whose backend is ours, over a vhost-user socket -- and nothing else on the
network (no user-mode networking, no default NIC).

The guest's RAM is a shared memfd (``memory-backend-memfd,share=on``) so the back-end can
map it. Serial port 0 is the console (kernel and /init, to ``console.log``); serial port 1
is the control channel of the guest's receiver (guest/rx.c), a unix socket QEMU connects
to: it prints ``R ready`` once its sockets are bound, ``F <seq> <len> <fnv1a-64> <csum>``
for every frame eth0 received (``csum`` 1 when the guest kernel holds its checksum as
verified: the net header said DATA_VALID), ``U <port> <4|6> <len> <fnv1a-64>`` for every
UDP datagram its sockets read, and ``S key=value ...`` (the guest kernel's counters) when
sent ``stats`` or ``quit``. Everything here is non-blocking: ``poll()`` reads what arrived.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The receiver's per-frame hash (guest/rx.c): FNV-1a, 64 bits.
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
READY_MARKER = "splitrx-guest: ready"
QEMU = "qemu-system-x86_64"
INSTALL_HINT = "make guest-deps guest-image"
DEFAULT_MAC = "02:00:00:00:00:01"
DEFAULT_PEER = ("10.0.0.2", "02:00:00:00:00:02")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the simulator process goes away, so no QEMU
    outlives a crashed or killed run (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFF_FFFF_FFFF_FFFF
    return h


class GuestUnavailable(Exception):
    """QEMU or the guest image is missing; the message says how to get them."""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    release: str

    @classmethod
    def find(cls, folder: Path, sources: Path | None = None) -> GuestImage:
        """The image in ``folder`` (build/guest), or ``GuestUnavailable``; with ``sources``
        (the project's guest/ folder) also when the image was built from other versions of
        those files (its manifest's fingerprints)."""
        if shutil.which(QEMU) is None:
            raise GuestUnavailable(f"{QEMU} not installed (run: {INSTALL_HINT})")
        kernel, initrd, manifest = (
            folder / "vmlinuz",
            folder / "initramfs.cpio",
            folder / "manifest.json",
        )
        if not (kernel.exists() and initrd.exists() and manifest.exists()):
            raise GuestUnavailable(f"no guest image in {folder} (run: {INSTALL_HINT})")
        info = json.loads(manifest.read_text())
        if sources is not None:
            inputs = info.get("inputs", {})
            for src in sorted(p for p in sources.iterdir() if p.is_file()):
                digest = hashlib.sha256(src.read_bytes()).hexdigest()
                if inputs.get(f"guest/{src.name}") != digest:
                    raise GuestUnavailable(
                        f"the guest image in {folder} was built from another guest/{src.name} "
                        f"(run: make guest-image)"
                    )
        return cls(kernel, initrd, str(info.get("kernel_release", "?")))


@dataclass(frozen=True)
class RxLine:
    """One frame as the guest's receiver read it; ``csum_valid``: the guest kernel took its
    checksum as verified (TP_STATUS_CSUM_VALID, from the net header's DATA_VALID)."""

    seq: int
    length: int
    hash: int
    csum_valid: bool = False


@dataclass(frozen=True)
class UdpLine:
    """One UDP datagram a socket of the guest's receiver read: port, IP version, payload
    length and FNV-1a hash."""

    port: int
    family: int
    length: int
    hash: int


@dataclass(frozen=True)
class GuestConfig:
    mac: str = DEFAULT_MAC
    mem_mb: int = 256
    mtu: int = 1500
    ip: str = "10.0.0.1/24"
    ip6: str = "fd00::1/64"
    peer: tuple[str, str] = DEFAULT_PEER  # a static neighbour: (IPv4 address, MAC)
    udp_ports: tuple[int, ...] = (9,)
    rx_queue_size: int = 256
    # virtio-net device properties: QEMU offers the guest only what these allow and what the
    # vhost-user back-end offers
    mrg_rxbuf: bool = True
    guest_csum: bool = False
    event_idx: bool = True


@dataclass
class QemuGuest:
    """One QEMU process. ``workdir`` gets the console log and the control socket;
    ``vhost_socket`` is where the back-end listens (it must, before ``start``)."""

    image: GuestImage
    workdir: Path
    vhost_socket: str
    config: GuestConfig = field(default_factory=GuestConfig)
    qemu: str = QEMU
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_at: float | None = None  # wall time the console said READY_MARKER
    rx_ready: bool = False  # the receiver said it is listening
    frames: list[RxLine] = field(default_factory=list)
    datagrams: list[UdpLine] = field(default_factory=list)
    stats: list[dict[str, int]] = field(default_factory=list)  # each "S" line, in order
    errors: list[str] = field(default_factory=list)  # "E" lines of the receiver
    console_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console_path = self.workdir / "console.log"
        self.ctl_path = str(self.workdir / "ctl.sock")
        self._ctl_server: socket.socket | None = None
        self._ctl: socket.socket | None = None
        self._ctl_buf = b""
        self._console_pos = 0
        self._console_buf = b""

    # -- the command line -----------------------------------------------------------------------

    def kernel_cmdline(self) -> str:
        c = self.config
        args = [
            "console=ttyS0", "quiet", "panic=-1",
            f"splitrx.ip={c.ip}", f"splitrx.ip6={c.ip6}", f"splitrx.mtu={c.mtu}",
            f"splitrx.peer={c.peer[0]},{c.peer[1]}",
            f"splitrx.udp={','.join(str(p) for p in c.udp_ports)}", "splitrx.ctl=ttyS1",
        ]  # fmt: skip
        return " ".join(args)

    def command(self) -> list[str]:
        c = self.config
        mem = f"{c.mem_mb}M"

        def on(flag: bool) -> str:
            return "on" if flag else "off"

        nic = (
            f"virtio-net-pci,netdev=n0,mac={c.mac},vectors=0,romfile=,"
            f"mrg_rxbuf={on(c.mrg_rxbuf)},guest_csum={on(c.guest_csum)},"
            f"event_idx={on(c.event_idx)},rx_queue_size={c.rx_queue_size}"
        )
        return [
            self.qemu, "-accel", "tcg", "-m", mem,
            "-object", f"memory-backend-memfd,id=mem,size={mem},share=on",
            "-numa", "node,memdev=mem",
            "-nodefaults", "-no-user-config", "-nic", "none", "-display", "none",
            "-vga", "none", "-no-reboot",
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
            "-append", self.kernel_cmdline(),
            "-chardev", f"socket,id=vu,path={self.vhost_socket}",
            "-netdev", "vhost-user,id=n0,chardev=vu",
            "-device", nic,
            "-chardev", f"file,id=con,path={self.console_path}", "-serial", "chardev:con",
            "-chardev", f"socket,id=ctl,path={self.ctl_path}", "-serial", "chardev:ctl",
        ]  # fmt: skip

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        if os.path.exists(self.ctl_path):
            os.unlink(self.ctl_path)
        self._ctl_server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ctl_server.bind(self.ctl_path)
        self._ctl_server.listen(1)
        self._ctl_server.setblocking(False)
        self.console_path.write_bytes(b"")
        log = open(self.workdir / "qemu.log", "wb")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ready(self) -> bool:
        """The console said READY_MARKER (modules loaded, eth0 up, receiver listening)."""
        return self.ready_at is not None and self.rx_ready

    @property
    def boot_s(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.started_at

    def wait_fds(self) -> list[int]:
        fds = []
        if self._ctl is not None:
            fds.append(self._ctl.fileno())
        elif self._ctl_server is not None:
            fds.append(self._ctl_server.fileno())
        return fds

    def poll(self) -> bool:
        """Read what the console and the control channel have; returns whether anything
        arrived."""
        got = self._read_console()
        if self._ctl is None and self._ctl_server is not None:
            try:
                self._ctl, _ = self._ctl_server.accept()
                self._ctl.setblocking(False)
            except (BlockingIOError, InterruptedError):
                pass
        if self._ctl is not None:
            while True:
                try:
                    data = self._ctl.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not data:
                    self._ctl.close()
                    self._ctl = None
                    break
                self._ctl_buf += data
                got = True
            *lines, self._ctl_buf = self._ctl_buf.split(b"\n")
            for raw in lines:
                self._ctl_line(raw.decode(errors="replace"))
        return got

    def _read_console(self) -> bool:
        try:
            with open(self.console_path, "rb") as f:
                f.seek(self._console_pos)
                data = f.read()
        except FileNotFoundError:
            return False
        if not data:
            return False
        self._console_pos += len(data)
        self._console_buf += data
        *lines, self._console_buf = self._console_buf.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").rstrip("\r")
            self.console_lines.append(line)
            if line.strip() == READY_MARKER and self.ready_at is None:
                self.ready_at = time.monotonic()
        return True

    def _ctl_line(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "F":
            seq, length, h, *csum = rest.split()
            self.frames.append(RxLine(int(seq), int(length), int(h, 16), csum == ["1"]))
        elif kind == "U":
            port, family, length, h = rest.split()
            self.datagrams.append(UdpLine(int(port), int(family), int(length), int(h, 16)))
        elif kind == "S":
            self.stats.append({k: int(v) for k, v in (kv.split("=") for kv in rest.split())})
        elif kind == "R":
            self.rx_ready = True
        elif kind == "E":
            self.errors.append(rest)
        elif line:
            self.errors.append(f"unexpected line from the receiver: {line!r}")

    def send(self, command: str) -> None:
        """A command to the receiver (``stats`` or ``quit``)."""
        if self._ctl is None:
            raise RuntimeError("the guest's control channel is not connected")
        self._ctl.setblocking(True)
        try:
            self._ctl.sendall(command.encode() + b"\n")
        finally:
            self._ctl.setblocking(False)

    def console_tail(self, n: int = 25) -> str:
        self._read_console()
        tail = self.console_lines[-n:] + ([self._console_buf.decode(errors="replace")]
                                          if self._console_buf else [])  # fmt: skip
        try:
            qlog = (self.workdir / "qemu.log").read_text(errors="replace").strip()
        except FileNotFoundError:
            qlog = ""
        out = "\n".join(f"    | {x}" for x in tail) or "    (nothing on the console yet)"
        if qlog:
            out += "\n    qemu: " + "\n    qemu: ".join(qlog.splitlines()[-5:])
        return out

    def kill(self) -> None:
        """SIGKILL: QEMU dies at once, in the middle of whatever it was doing (its sockets
        close; nothing is torn down in order)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """End QEMU (SIGTERM, then SIGKILL); returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for s in (self._ctl, self._ctl_server):
            if s is not None:
                s.close()
        self._ctl = self._ctl_server = None
        if os.path.exists(self.ctl_path):
            os.unlink(self.ctl_path)
        return self.proc.returncode

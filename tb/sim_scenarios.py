# SPDX-License-Identifier: MIT
"""The `make sim` scenarios: one table of definitions (``TABLE``), read by the cocotb side
(tb/benches/sim_tb.py builds the rig and the traffic from it), the command line (tb/sim.py:
names and descriptions), the tests and the docs (docs/sim.md). Nothing here imports cocotb.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from model.hostmem import PAGE_SIZE
from model.records import PlacementMode, SplitLevel
from model.virtio import VIRTIO_NET_F_MRG_RXBUF
from sw.vhost import DEFAULT_FEATURES
from tb.lib.specs import HOST_MAC, GuestSpec, XskSpec

BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = "01:00:5e:00:00:fb"
STRANGER = "02:00:00:00:00:99"  # nobody's MAC: filtered
JUMBO = 9014  # the largest untagged frame the MAC takes (9018 B with FCS)
MERGEABLE = DEFAULT_FEATURES | 1 << VIRTIO_NET_F_MRG_RXBUF
HOSTILE_QUOTA = 8  # pages: 16 buffers of 2 KiB ...
HOSTILE_POSTS = 160  # ... and it posts 10 times that
BIG_SEGMENT = PAGE_SIZE  # four-guests-host: guest3's big-packet chains of page segments ...
BIG_CHAINS = (3, 2)  # ... three or two of them, alternately


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """What one scenario sets up and sends. Frames go to ``dests`` (MAC, share), 60 B up to
    ``max_size`` (``JUMBO`` for the MACs in ``jumbo``), 1 in 20 with a bad FCS."""

    description: str
    guests: tuple[GuestSpec, ...] = ()
    xsks: tuple[XskSpec, ...] = ()
    host_queues: int = 0  # the host's own queues 0..n-1 (SPLIT at L4)
    host_group: int = 1  # 2 KiB buffers per group on the host queues
    promisc: bool = False
    dests: tuple[tuple[str, float], ...]
    max_size: int = 1514
    jumbo: tuple[str, ...] = ()
    rss: bool = False  # RSS over the host queues (Microsoft key, UDP 4-tuple)
    mutate: bool = False  # frames mutated (tb.lib.traffic.mutate) after they are built
    hostile: bool = False  # the whole wire back to back; guest "hostile" torn down 2/3 in

    def guests_for(self, dump: bool) -> tuple[GuestSpec, ...]:
        """The guests; with DUMP (RAM images to walk offline) each posts ``DUMP_BUFFERS``
        buffers (or its ring, if larger) once and never reuses one, so its RAM ends holding
        every frame it received; frames beyond them drop as no_buffer."""
        if not dump:
            return self.guests
        return tuple(
            replace(
                g, reuse=False, refill=False, may_drop=True,
                guest_num=max(g.guest_num, DUMP_BUFFERS), ram_size=dump_ram_size(g),
            )
            for g in self.guests
        )  # fmt: skip

    def xsks_for(self, dump: bool) -> tuple[XskSpec, ...]:
        """The xsk apps; with DUMP each has ``DUMP_BUFFERS`` UMEM chunks (the rig posts each
        once) and a completion ring as large, so none of its entries is overwritten."""
        if not dump:
            return self.xsks
        return tuple(
            replace(
                x, chunks=max(x.chunks, DUMP_BUFFERS),
                ring_size=max(x.ring_size, x.chunks, DUMP_BUFFERS),
            )
            for x in self.xsks
        )  # fmt: skip


DUMP_BUFFERS = 256  # receive buffers each guest or xsk app posts once with DUMP


def dump_ram_size(g: GuestSpec) -> int:
    """Guest RAM for ``DUMP_BUFFERS`` fresh buffers (each its largest segment size times
    its longest chain) with its rings, whole MiB, at least the guest's own."""
    sizes = g.buf_size if isinstance(g.buf_size, tuple) else (g.buf_size,)
    chains = g.chain_buffers if isinstance(g.chain_buffers, tuple) else (g.chain_buffers,)
    need = max(g.guest_num, DUMP_BUFFERS) * max(sizes) * max(chains) + (1 << 20)
    return max(g.ram_size, -(-need // (1 << 20)) << 20)


def _guest(name: str, mac: str, queue: int, **kw: Any) -> GuestSpec:
    return GuestSpec(name=name, mac=mac, queue=queue, **kw)


G0, G1 = "02:00:00:00:00:01", "02:00:00:00:00:02"

TABLE: dict[str, Scenario] = {
    "two-guests-host": Scenario(
        description="two virtio guests (FULL; SPLIT_HOLE at L4) and the host's own queue "
        "(SPLIT at L4); unicast to each, broadcast to the host, unknown unicast filtered, "
        "1 in 20 bad FCS",
        guests=(
            _guest("guest0", G0, 1, nic_entries=32, guest_num=32),
            _guest("guest1", G1, 2, nic_entries=32, guest_num=32, mode=PlacementMode.SPLIT_HOLE),
        ),
        host_queues=1,
        dests=((G0, 0.4), (G1, 0.4), (HOST_MAC, 0.1), (BROADCAST, 0.05), (STRANGER, 0.05)),
    ),  # fmt: skip
    "jumbo-mergeable": Scenario(
        description="one virtio guest with mergeable 2 KiB buffers (SPLIT_HOLE); frames "
        "up to 9014 B span several buffers (num_buffers)",
        guests=(
            GuestSpec(
                guest_num=64, nic_entries=64, features=MERGEABLE, mode=PlacementMode.SPLIT_HOLE
            ),
        ),
        dests=((G0, 1.0),),
        max_size=JUMBO,
    ),  # fmt: skip
    "hostile": Scenario(
        description="a well-behaved guest next to a hostile one that posts 16x its pinned-page "
        "quota and never consumes what it receives, on a saturated wire (64..256 B frames); "
        "then the hostile guest is torn down mid-traffic",
        guests=(
            _guest("guest0", G0, 1, guest_num=128, nic_entries=128),
            _guest(
                "hostile",
                "02:00:00:00:00:66",
                2,
                guest_num=256,
                nic_entries=64,
                quota_pages=HOSTILE_QUOTA,
                stalled=True,
                posts=HOSTILE_POSTS,
            ),
        ),
        host_queues=1,
        dests=((G0, 0.3), ("02:00:00:00:00:66", 0.6), (HOST_MAC, 0.1)),
        max_size=256,
        hostile=True,
    ),  # fmt: skip
    "fuzz": Scenario(
        description="mutated frames (bit flips in the headers, truncations, bogus lengths, "
        "VLAN stacks) to a FULL guest and a SPLIT_HOLE guest: every frame delivered as the "
        "model predicts or dropped with a counted reason",
        guests=(
            _guest("guest0", G0, 1, guest_num=64, nic_entries=64),
            _guest(
                "guest1",
                G1,
                2,
                guest_num=64,
                nic_entries=64,
                mode=PlacementMode.SPLIT_HOLE,
                split_level=SplitLevel.L4,
            ),
        ),
        dests=((G0, 0.5), (G1, 0.5)),
        mutate=True,
    ),  # fmt: skip
    "one-guest-full": Scenario(
        description="one virtio guest in FULL placement, promiscuous, 1 in 20 bad FCS",
        guests=(GuestSpec(guest_num=32, nic_entries=32),),
        dests=((G0, 1.0),),
    ),
    "split-xsk": Scenario(
        description="SPLIT through the host queue and the user-space ring owner (xsk app: "
        "the payload at 256 in its UMEM chunks, headers in kernel header buffers copied in "
        "front); unicast to each, broadcast to the host, unknown unicast filtered, frames up "
        "to 2048 B (longer than a chunk holds: too_long_for_group, recycled), 1 in 20 bad FCS",
        xsks=(XskSpec(name="xsk0", mac="02:00:00:00:00:0a", queue=1, chunks=64, nic_entries=32),),
        host_queues=1,
        dests=(("02:00:00:00:00:0a", 0.55), (HOST_MAC, 0.25), (BROADCAST, 0.1), (STRANGER, 0.1)),
        # a split frame fits a 2 KiB chunk while its payload (frame less headers) is at most
        # 1792 B (at 256); a frame placed whole at 256 (non-IP: HDR_OVERFLOW) up to 1792 B;
        # longer ones are too long for their group and the glue recycles the chunk
        max_size=2048,
    ),
    "four-guests-host": Scenario(
        description="four virtio guests (FULL; SPLIT_HOLE; mergeable SPLIT_HOLE; big packets "
        "in chains of three or two 4 KiB buffers) steered by MAC, and the host promiscuous on "
        "four SPLIT queues of 4-buffer groups, its unicast, broadcast and multicast spread by "
        "RSS (Microsoft key, UDP 4-tuple); jumbo frames to 9014 B, 1 in 20 bad FCS",
        guests=(
            _guest("guest0", G0, 4, guest_num=32, nic_entries=32),
            _guest("guest1", G1, 5, guest_num=32, nic_entries=32, mode=PlacementMode.SPLIT_HOLE),
            _guest(
                "guest2",
                "02:00:00:00:00:03",
                6,
                guest_num=64,
                nic_entries=64,
                features=MERGEABLE,
                mode=PlacementMode.SPLIT_HOLE,
            ),
            # big packets (no VIRTIO_NET_F_MRG_RXBUF): a frame must fit its one buffer, a
            # chain of 4 KiB segments (one NIC group); chains of 3 and 2 alternate, so a
            # jumbo frame spans all three segments of one, or meets an 8 KiB one and is
            # too_long_for_group (vhost reposts the whole chain)
            _guest(
                "guest3",
                "02:00:00:00:00:04",
                7,
                guest_num=32,
                nic_entries=32,
                buf_size=BIG_SEGMENT,
                chain_buffers=BIG_CHAINS,
            ),
        ),
        # host queues: groups of four 2 KiB buffers (not mergeable), promiscuous: the host's
        # unicast, broadcast and multicast spread over queues 0..3 by RSS
        host_queues=4,
        host_group=4,
        promisc=True,
        dests=(
            (G0, 0.12),
            (G1, 0.12),
            ("02:00:00:00:00:03", 0.12),
            ("02:00:00:00:00:04", 0.12),
            (HOST_MAC, 0.2),
            (BROADCAST, 0.14),
            (MULTICAST, 0.14),
        ),
        jumbo=("02:00:00:00:00:03", "02:00:00:00:00:04", HOST_MAC, BROADCAST, MULTICAST),
        rss=True,
    ),  # fmt: skip
}
DEFAULT = "two-guests-host"

# name -> description (the command line's choices and help)
SCENARIOS = {name: s.description for name, s in TABLE.items()}


# -- captures a run replays (`make sim PCAP=...`) ----------------------------------------------

ETHERNET = 1  # LINKTYPE_ETHERNET (DLT_EN10MB): frames from the destination MAC, no FCS
MIN_FRAME = 60  # the shortest frame a sender's NIC puts on the wire, FCS excluded
LINK_TYPES = {
    0: "BSD loopback",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    105: "IEEE 802.11",
    113: "Linux cooked capture (SLL)",
    127: "IEEE 802.11 radiotap",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked capture v2 (SLL2)",
}
RUNT_COMMENT = b"runt"  # a pcapng packet comment that marks a true runt


class CaptureError(ValueError):
    """A capture that cannot be replayed; the message is one line."""


@dataclass(frozen=True)
class CapturedFrame:
    data: bytes  # the bytes captured (caplen), FCS not included
    wire_len: int  # the frame's length on the wire it was captured from (len)
    runt: bool = False  # marked a true runt (pcapng comment "runt")

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.wire_len


@dataclass(frozen=True)
class Capture:
    """The frames of a pcap or pcapng capture of Ethernet frames, and how it was stored."""

    path: str
    kind: str  # "pcap" or "pcapng"
    byte_order: str  # "little-endian" or "big-endian"
    timestamps: str  # "us", "ns", or the pcapng resolution as "1/N s"
    frames: tuple[CapturedFrame, ...]

    def runt(self, f: CapturedFrame, runts: bool) -> bool:
        """Whether ``f`` goes on the wire as a true runt (unpadded, dropped as runt): marked,
        or ``runts`` (``--runts``: every short frame of the capture), and shorter than 60 B."""
        return (f.runt or runts) and len(f.data) < MIN_FRAME

    def summary(self, runts: bool, max_frame_bytes: int) -> dict[str, int | str]:
        """What a replay does with its frames: counts by kind (an oversize frame is longer
        than ``max_frame_bytes`` with its FCS, the MAC's limit)."""
        short = [f for f in self.frames if len(f.data) < MIN_FRAME]
        true_runts = sum(self.runt(f, runts) for f in short)
        return {
            "file": self.path,
            "format": f"{self.kind}, {self.byte_order}, {self.timestamps} timestamps",
            "frames": len(self.frames),
            "truncated": sum(f.truncated for f in self.frames),
            "padded": len(short) - true_runts,
            "runts": true_runts,
            "oversize": sum(len(f.data) + 4 > max_frame_bytes for f in self.frames),
        }


def _not_ethernet(link: int) -> str:
    name = LINK_TYPES.get(link, "not Ethernet")
    return f"link type {link} ({name}); a replay takes Ethernet captures (link type 1) only"


def _timestamps(per_second: int) -> str:
    return {10**6: "us", 10**9: "ns"}.get(per_second, f"1/{per_second} s")


def read_capture(path: str) -> Capture:
    """Every frame of the pcap (either byte order, micro- or nanosecond timestamps) or
    pcapng capture ``path``, read with scapy's raw readers; raises ``CaptureError`` for a
    file that is missing or not a capture, a link type other than Ethernet (Linux cooked
    capture, raw IP, ...) and a capture with no frames."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    try:
        reader = RawPcapReader(path)
    except FileNotFoundError:
        raise CaptureError("no such file") from None
    except (OSError, Scapy_Exception, EOFError, ValueError) as exc:
        raise CaptureError(f"not a readable pcap or pcapng capture ({exc})") from None
    ng = isinstance(reader, RawPcapNgReader)
    if not ng and reader.linktype != ETHERNET:
        reader.close()
        raise CaptureError(_not_ethernet(reader.linktype))
    frames: list[CapturedFrame] = []
    resolution = 10**9 if getattr(reader, "nano", False) else 10**6
    try:
        with reader:
            for data, meta in reader:
                link = meta.linktype if ng else reader.linktype
                if link != ETHERNET:
                    raise CaptureError(f"frame {len(frames)}: {_not_ethernet(link)}")
                if ng:
                    resolution = meta.tsresol
                marks = [c.strip().lower() for c in (getattr(meta, "comments", None) or [])]
                frames.append(CapturedFrame(bytes(data), meta.wirelen, RUNT_COMMENT in marks))
    except CaptureError:
        raise
    except (OSError, Scapy_Exception, EOFError, ValueError) as exc:
        raise CaptureError(f"unreadable after {len(frames)} frames ({exc})") from None
    if not frames:
        raise CaptureError("no frames in it")
    order = {"<": "little-endian", ">": "big-endian"}.get(reader.endian, "big-endian")
    kind = "pcapng" if ng else "pcap"
    return Capture(path, kind, order, _timestamps(resolution), tuple(frames))

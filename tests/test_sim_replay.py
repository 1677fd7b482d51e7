# SPDX-License-Identifier: MIT
"""`make sim PCAP=...`: captures replayed through the whole system (splitrx_top, the PCIe
model, the host driver, vhost backends and guests), each owner's frames byte-exact and in
order in its PCAP_OUT capture. The captures are made here with scapy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, LLC, SNAP, STP, Dot1AD, Dot1Q, Dot3, Ether
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgWriter, PcapWriter, rdpcap, wrpcap

from tb import sim
from tb.lib.parse_ref import parameter_defaults
from tb.runner.build import BUILD_ROOT, REPO
from tb.sim_scenarios import read_capture

pytestmark = pytest.mark.sim

PEER = "02:00:00:00:00:aa"
G0, G1, HOST = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:fe"


def tagged_dot3(dst: str, tags: list[Packet], llc: Packet) -> Packet:
    """An IEEE 802.3 frame (length, not EtherType, after the tags) behind VLAN ``tags``:
    the innermost tag's type field is the length of the LLC part."""
    pkt: Packet = Ether(dst=dst, src=PEER)
    for tag in tags:
        pkt = pkt / tag.copy()
    pkt[tags[-1].__class__].type = len(llc)
    return pkt / llc


def dot3_frames() -> list[Packet]:
    """IEEE 802.3 length frames of every common kind, bare, behind a VLAN tag and behind
    QinQ: spanning-tree BPDUs (LLC 0x42), SNAP, NetBIOS (LLC 0xF0), IPX (LLC 0xE0), each to a
    guest, the host, broadcast, multicast or an unknown unicast."""
    llcs = [
        LLC() / STP(),
        LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0x00000C, code=0x2000) / Raw(b"c" * 40),
        LLC(dsap=0xF0, ssap=0xF0, ctrl=3) / Raw(b"netbios" * 9),
        LLC(dsap=0xE0, ssap=0xE0, ctrl=3) / Raw(bytes(range(30)) * 3),
    ]
    dsts = ["01:80:c2:00:00:00", G0, G1, HOST, "ff:ff:ff:ff:ff:ff", "02:00:00:00:00:77"]
    out: list[Packet] = []
    for i, llc in enumerate(llcs):
        dst = dsts[i % len(dsts)]
        out.append(Dot3(dst=dst, src=PEER) / llc)
        out.append(tagged_dot3(dsts[(i + 1) % len(dsts)], [Dot1Q(vlan=5 + i)], llc))
        out.append(tagged_dot3(dsts[(i + 2) % len(dsts)], [Dot1AD(vlan=100), Dot1Q(vlan=i)], llc))
    return out


def on_wire(p: Packet | bytes) -> bytes:
    """As a sender's NIC puts a frame on the wire: padded to 60 bytes (FCS excluded)."""
    b = bytes(p)
    return b + bytes(max(0, 60 - len(b)))


def owner_of(frame: bytes) -> str:
    """two-guests-host during a replay: each guest's MAC to it, everything else (the host's
    MAC, broadcast, multicast, unknown unicast: promiscuous) to the host queue."""
    return {G0: "guest0", G1: "guest1"}.get(frame[:6].hex(":"), "host-driver")


def owner_captures(out: Path) -> dict[str, list[bytes]]:
    return {p.stem: [bytes(x) for x in rdpcap(str(p))] for p in out.glob("*.pcap")}


def test_ieee_802_3_frames_go_through_the_whole_system(tmp_path: Path) -> None:
    """Length frames (type/length below 0x0600), bare and behind VLAN and QinQ tags, reach
    their owners byte-exact: the reference parser reads the field as a length (L2 only)."""
    frames = dot3_frames()
    for f in frames:
        raw = bytes(f)
        inner = 12 + 4 * (Dot1Q in f) + 4 * (Dot1AD in f)
        assert int.from_bytes(raw[inner : inner + 2], "big") < 0x0600, f.summary()
    pcap = tmp_path / "dot3.pcap"
    wrpcap(str(pcap), frames)
    assert sim.main(["--pcap", str(pcap), "--pcap-out", str(tmp_path / "out")]) == 0
    got = owner_captures(tmp_path / "out")
    want: dict[str, list[bytes]] = {"guest0": [], "guest1": [], "host-driver": []}
    for f in frames:
        want[owner_of(on_wire(f))].append(on_wire(f))
    assert all(want.values()), want
    assert {k: got.get(k) for k in want} == want
    assert got["dropped"] == []


def test_jumbo_frames_reach_the_host_queue_up_to_the_mac_limit(tmp_path: Path) -> None:
    """Frames over 2 KiB, up to the MAC's limit (MAX_FRAME_BYTES with FCS, read from
    rtl/splitrx_top.sv), are delivered byte-exact to the host queue during a replay (its
    groups hold the largest frame); one byte more is an oversize drop."""
    limit = parameter_defaults(REPO / "rtl" / "splitrx_top.sv", ("MAX_FRAME_BYTES",))
    largest = limit["MAX_FRAME_BYTES"] - 4  # FCS excluded
    sizes = [2049, 4097, 6000, 8193, largest]
    dsts = [HOST, "ff:ff:ff:ff:ff:ff", "02:00:00:00:00:77", "01:00:5e:00:00:01", HOST]
    frames = [
        Ether(dst=d, src=PEER) / IP() / UDP(sport=n) / Raw(bytes(n - 42))
        for d, n in zip(dsts, sizes, strict=True)
    ]
    over = Ether(dst=HOST, src=PEER) / IP() / UDP() / Raw(bytes(largest + 1 - 42))
    pcap = tmp_path / "jumbo.pcap"
    wrpcap(str(pcap), [*frames, over])
    assert sim.main(["--pcap", str(pcap), "--pcap-out", str(tmp_path / "out")]) == 0
    got = owner_captures(tmp_path / "out")
    assert [len(f) for f in got["host-driver"]] == sizes
    assert got["host-driver"] == [bytes(f) for f in frames]
    rows = (tmp_path / "out" / "dropped.csv").read_text().splitlines()
    assert rows[1:] == [f"5,{largest + 1},oversize"], rows


def small_capture(tmp_path: Path) -> tuple[Path, list[bytes]]:
    frames = [
        Ether(dst=HOST, src=PEER) / IP() / UDP(sport=i) / Raw(b"r" * 20 * i) for i in range(3)
    ]
    pcap = tmp_path / "three.pcap"
    wrpcap(str(pcap), frames)
    return pcap, [on_wire(f) for f in frames]


@pytest.mark.parametrize("n", [2, 7])
def test_frames_with_a_capture_sends_that_many_from_its_start(tmp_path: Path, n: int) -> None:
    """--frames N with --pcap: the capture's first N frames, from its start again while N is
    more (7 of 3: three passes); without --frames the whole capture once."""
    pcap, want = small_capture(tmp_path)
    out = tmp_path / "out"
    assert sim.main(["--pcap", str(pcap), "--frames", str(n), "--pcap-out", str(out)]) == 0
    assert owner_captures(out)["host-driver"] == [want[i % 3] for i in range(n)]
    report = json.loads((BUILD_ROOT / "last-sim-report.json").read_text())
    r = report["replay"]
    assert report["sent"] == n and (r["capture_frames"], r["passes"]) == (3, -(-n // 3)), r


def test_pcap_with_the_hostile_scenario_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcap, _ = small_capture(tmp_path)
    with pytest.raises(SystemExit) as exc:
        sim.main(["--pcap", str(pcap), "--scenario", "hostile"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--pcap" in err and "hostile" in err, err


# -- the regression capture: every kind of frame a capture may hold ------------------------


def kinds() -> list[tuple[str, Packet]]:
    """(kind, frame) for each kind of frame the replay must handle; ``comments``
    (``[b"runt"]``: a true runt) and ``wirelen`` (longer than the frame: truncated by the
    capture) are set where a capture would carry them."""
    bc, lldp, other = "ff:ff:ff:ff:ff:ff", "01:80:c2:00:00:0e", "02:00:00:00:00:77"
    snap = LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP()
    pause = Raw(bytes.fromhex("0001ffff"))  # PAUSE, quanta 0xffff
    out: list[tuple[str, Packet]] = [
        ("ipv4/udp", Ether(dst=G0, src=PEER) / IP() / UDP(sport=1) / Raw(b"a" * 100)),
        ("ipv6/tcp", Ether(dst=G1, src=PEER) / IPv6() / TCP(sport=2) / Raw(b"b" * 200)),
        ("arp", Ether(dst=bc, src=PEER) / ARP()),
        ("ethertype 0x88b5", Ether(dst=HOST, src=PEER, type=0x88B5) / Raw(b"c" * 64)),
        ("ethertype 0x1234", Ether(dst=other, src=PEER, type=0x1234) / Raw(b"d" * 90)),
        ("lldp", Ether(dst=lldp, src=PEER, type=0x88CC) / Raw(b"e" * 50)),
        ("llc netbios", Dot3(dst=bc, src=PEER) / LLC(dsap=0xF0, ssap=0xF0, ctrl=3) / Raw(b"f" * 7)),
        ("llc ipx", Dot3(dst=bc, src=PEER) / LLC(dsap=0xE0, ssap=0xE0, ctrl=3) / Raw(b"g" * 40)),
        ("snap", Dot3(dst=G0, src=PEER) / snap / Raw(b"h" * 99)),
        ("stp", Dot3(dst="01:80:c2:00:00:00", src=PEER) / LLC() / STP()),
        ("vlan ipv4", Ether(dst=HOST, src=PEER) / Dot1Q(vlan=10) / IP() / UDP() / Raw(b"i" * 80)),
        ("qinq ipv6", Ether(dst=bc, src=PEER) / Dot1AD(vlan=20) / Dot1Q(vlan=21) / IPv6() / UDP()),
        ("vlan snap", tagged_dot3(HOST, [Dot1Q(vlan=30)], snap)),
        ("qinq stp", tagged_dot3(bc, [Dot1AD(vlan=40), Dot1Q(vlan=41)], LLC() / STP())),
        ("short 14 B", Ether(dst=HOST, src=PEER, type=0x1234)),
        ("short 59 B", Ether(dst=G1, src=PEER, type=0x88B5) / Raw(b"j" * 45)),
        ("pause", Ether(dst="01:80:c2:00:00:01", src=PEER, type=0x8808) / pause),
    ]  # fmt: skip
    for n in (30, 59):
        runt = Ether(dst=HOST, src=PEER, type=0x88B5) / Raw(b"r" * (n - 14))
        runt.comments = [b"runt"]
        out.append((f"runt {n} B", runt))
    for n, caplen in ((1500, 200), (9000, 96)):
        whole = Ether(dst=HOST, src=PEER) / IP() / UDP() / Raw(bytes(n - 42))
        cut = Ether(bytes(whole)[:caplen])  # as a capture with a snap length keeps it
        cut.wirelen = n
        out.append((f"truncated {n} B at {caplen}", cut))
    limit = parameter_defaults(REPO / "rtl" / "splitrx_top.sv", ("MAX_FRAME_BYTES",))
    largest = limit["MAX_FRAME_BYTES"] - 4
    sizes = [60, 61, 63, 64, 65, 127, 128, 255, 511, 1023, 1514, 1515, 1518, 1522, 2047, 2048]
    sizes += [2049, 4095, 4096, 6001, 8191, 8192, 9000, 9014, 9018, largest - 1, largest]
    dsts = [HOST, bc, "02:00:00:00:00:77", "33:33:00:00:00:01"]
    for i, n in enumerate(sizes):
        f = Ether(dst=dsts[i % 4], src=PEER) / IP() / UDP(sport=n) / Raw(bytes(range(256)) * 40)
        out.append((f"{n} B", Ether(bytes(f)[:n])))
    for n in (largest + 1, 12000):
        f = Ether(dst=HOST, src=PEER) / IP() / UDP() / Raw(bytes(n - 42))
        out.append((f"oversize {n} B", f))
    return out


def expected(frames: list[tuple[str, Packet]], runts: bool = False) -> tuple[dict, list[str]]:
    """Each owner's frames as its driver hands them up (short frames padded to 60 B, as
    captured otherwise) and dropped.csv's rows, from the frames and the MAC's rules: a true
    runt (marked, or any short frame with ``runts``) is dropped as runt, a frame over the
    MAC's limit as oversize, a MAC Control frame (0x8808) as mac_control."""
    limit = parameter_defaults(REPO / "rtl" / "splitrx_top.sv", ("MAX_FRAME_BYTES",))
    owners: dict[str, list[bytes]] = {"guest0": [], "guest1": [], "host-driver": []}
    rows = []
    for no, (_, p) in enumerate(frames):
        raw = bytes(p)
        marked = runts or b"runt" in (getattr(p, "comments", None) or [])
        if len(raw) < 60 and marked:
            rows.append(f"{no},{len(raw)},runt")
        elif len(raw) + 4 > limit["MAX_FRAME_BYTES"]:
            rows.append(f"{no},{len(raw)},oversize")
        elif raw[12:14] == b"\x88\x08":
            rows.append(f"{no},{len(on_wire(raw))},mac_control")
        else:
            owners[owner_of(raw)].append(on_wire(raw))
    return owners, rows


def write_capture(path: Path, frames: list[tuple[str, Packet]], fmt: str) -> None:
    """``fmt``: pcapng (with the runt comments), or pcap-le-us / pcap-be-ns."""
    if fmt == "pcapng":
        w: PcapWriter | PcapNgWriter = PcapNgWriter(str(path))
    else:
        w = PcapWriter(str(path), linktype=1, endianness="<" if "le" in fmt else ">",
                       nano=fmt.endswith("ns"), sync=True)  # fmt: skip
    for _, p in frames:
        w.write(p)
    w.close()


@pytest.mark.parametrize("fmt", ["pcapng", "pcap-le-us", "pcap-be-ns"])
def test_capture_formats_read_the_same_frames(tmp_path: Path, fmt: str) -> None:
    """pcap in both byte orders with micro- and nanosecond timestamps, and pcapng: the same
    frames, captured lengths and lengths on the wire; pcapng also carries the runt marks."""
    frames = kinds()
    path = tmp_path / f"k.{fmt}"
    write_capture(path, frames, fmt)
    cap = read_capture(str(path))
    assert cap.kind == fmt.split("-")[0]
    assert cap.byte_order == ("big-endian" if "be" in fmt else "little-endian")
    assert cap.timestamps == ("ns" if fmt.endswith("ns") else "us")
    assert [f.data for f in cap.frames] == [bytes(p) for _, p in frames]
    assert [f.wire_len for f in cap.frames] == [
        getattr(p, "wirelen", None) or len(p) for _, p in frames
    ]
    marked = [k for (k, _), f in zip(frames, cap.frames, strict=True) if f.runt]
    assert marked == (["runt 30 B", "runt 59 B"] if fmt == "pcapng" else [])
    s = cap.summary(
        False,
        parameter_defaults(REPO / "rtl" / "splitrx_top.sv", ("MAX_FRAME_BYTES",))[
            "MAX_FRAME_BYTES"
        ],
    )
    assert (s["truncated"], s["oversize"]) == (2, 2)
    short = sum(len(p) < 60 for _, p in frames)
    runts = 2 if fmt == "pcapng" else 0
    assert (s["runts"], s["padded"]) == (runts, short - runts), s


def test_regression_capture_goes_through_the_whole_system_byte_exact(tmp_path: Path) -> None:
    """The project's own capture (pcapng, made here with scapy) of every kind: Ethernet II
    with several EtherTypes, 802.3 LLC, SNAP, STP and IPX, VLAN and QinQ over both, short
    frames (padded to 60 B), marked true runts (dropped as runt), truncated frames (replayed
    as captured), sizes from 60 B to the MAC's limit, oversize frames and a PAUSE frame:
    each owner's capture holds exactly its frames in order, dropped.csv the rest."""
    frames = kinds()
    path = tmp_path / "regression.pcapng"
    write_capture(path, frames, "pcapng")
    out = tmp_path / "out"
    assert sim.main(["--pcap", str(path), "--pcap-out", str(out)]) == 0
    want, rows = expected(frames)
    got = owner_captures(out)
    for owner, frames_for in want.items():
        assert got[owner] == frames_for, owner
    assert (out / "dropped.csv").read_text().splitlines()[1:] == rows
    r = json.loads((BUILD_ROOT / "last-sim-report.json").read_text())["replay"]
    assert (r["frames"], r["truncated"], r["runts"], r["oversize"]) == (len(frames), 2, 2, 2), r
    assert r["format"] == "pcapng, little-endian, us timestamps"


def test_runts_option_sends_every_short_frame_of_a_pcap_unpadded(tmp_path: Path) -> None:
    """--runts: a pcap has no comments; every frame shorter than 60 B is a true runt."""
    frames = [kv for kv in kinds() if kv[0].startswith(("short", "runt", "arp", "ipv4"))]
    path = tmp_path / "short.pcap"
    write_capture(path, frames, "pcap-be-ns")
    out = tmp_path / "out"
    assert sim.main(["--pcap", str(path), "--runts", "--pcap-out", str(out)]) == 0
    want, rows = expected(frames, runts=True)
    assert [r.split(",")[2] for r in rows] == ["runt"] * 5
    got = owner_captures(out)
    assert {o: got[o] for o in want} == want
    assert (out / "dropped.csv").read_text().splitlines()[1:] == rows


@pytest.mark.parametrize(
    ("linktype", "name"),
    [(113, "Linux cooked capture"), (276, "Linux cooked capture v2"), (101, "raw IP")],
)
def test_other_link_types_are_refused_before_any_simulation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    linktype: int, name: str,
) -> None:  # fmt: skip
    def no_build(*a: object, **k: object) -> None:
        raise AssertionError("built the RTL for a capture it cannot replay")

    monkeypatch.setattr(sim, "build", no_build)
    path = tmp_path / "other.pcap"
    wrpcap(str(path), [bytes(IP() / UDP())], linktype=linktype)
    assert sim.main(["--pcap", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"link type {linktype} ({name}" in err, err

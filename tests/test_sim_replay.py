# SPDX-License-Identifier: MIT
"""`make sim PCAP=...`: captures replayed through the whole system (splitrx_top, the PCIe
model, the host driver, vhost backends and guests), each owner's frames byte-exact and in
order in its PCAP_OUT capture. The captures are made here with scapy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import LLC, SNAP, STP, Dot1AD, Dot1Q, Dot3, Ether
from scapy.packet import Packet, Raw
from scapy.utils import rdpcap, wrpcap

from tb import sim
from tb.lib.parse_ref import parameter_defaults
from tb.runner.build import BUILD_ROOT, REPO

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
    assert report["sent"] == n and report["replay"] == {"capture_frames": 3, "passes": -(-n // 3)}


def test_pcap_with_the_hostile_scenario_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcap, _ = small_capture(tmp_path)
    with pytest.raises(SystemExit) as exc:
        sim.main(["--pcap", str(pcap), "--scenario", "hostile"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--pcap" in err and "hostile" in err, err

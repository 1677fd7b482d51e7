# SPDX-License-Identifier: MIT
"""`make sim DUMP=dir`: in every scenario each guest's RAM image, and each xsk app's address
space, holds every frame its owner received, found from manifest.json alone with the virtio
1.x spec (used ring, descriptor chains, num_buffers) or the xsk ring layout
(sw/xsk_owner.py: completion ring entries into the UMEM); compared with what each owner's
driver handed up (PCAP_OUT)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import rdpcap, wrpcap

from tb import sim
from tb.runner.build import BUILD_ROOT
from tb.sim_scenarios import DUMP_BUFFERS, SCENARIOS
from tests.test_sim_scenarios import walk_used_ring

pytestmark = pytest.mark.sim

G0, G1 = "02:00:00:00:00:01", "02:00:00:00:00:02"


def walk_comp_ring(space: bytes, x: dict[str, Any]) -> list[bytes]:
    """An xsk app's frames from its address space: the completion ring's producer index,
    then each entry ``{le64 addr, le32 len, le16 offset, le16 flags}`` from ``first_index``,
    the frame at UMEM ``addr + offset``."""
    r = x["comp_ring"]

    def rd(addr: int, n: int) -> bytes:
        return space[addr - x["space_base"] : addr - x["space_base"] + n]

    (prod,) = struct.unpack("<I", rd(r["base"] + r["producer_offset"], 4))
    frames, i = [], r["first_index"]
    while i != prod:
        at = r["base"] + r["entries_offset"] + r["entry_bytes"] * (i % r["size"])
        addr, length, offset, _ = struct.unpack("<QIHH", rd(at, 16))
        frames.append(rd(x["umem_addr"] + addr + offset, length))
        i = (i + 1) & 0xFFFF_FFFF
    return frames


def owner_frames(out: Path, name: str) -> list[bytes]:
    return [bytes(p) for p in rdpcap(str(out / f"{name}.pcap"))]


def check_dump(dump: Path, out: Path, report: dict[str, Any]) -> int:
    """Every guest's and xsk app's frames in the dump equal what its driver handed up (a
    stalled guest: as many as the NIC placed for it). Returns the frames found."""
    manifest = json.loads((dump / "manifest.json").read_text())
    found = 0
    for g in manifest["guests"]:
        ram = (dump / f"guest{g['guest_id']}.bin").read_bytes()
        assert len(ram) == g["ram_size"]
        frames = walk_used_ring(ram, g["ram_gpa_base"], g["rx_queue"])
        if g["stalled"]:  # hostile: it never read its used ring
            assert len(frames) == report["placed"][g["name"]] > 0, g["name"]
            assert g["frames_received"] == 0
        else:
            assert frames == owner_frames(out, g["name"]), g["name"]
            assert len(frames) == g["frames_received"] == report["delivered"][g["name"]]
        found += len(frames)
    for x in manifest["xsks"]:
        space = (dump / f"{x['name']}.bin").read_bytes()
        frames = walk_comp_ring(space, x)
        assert frames == owner_frames(out, x["name"]) and len(frames) == x["frames_received"]
        found += len(frames)
    return found


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_dump_holds_every_frame_in_every_scenario(name: str, tmp_path: Path) -> None:
    args = ["--scenario", name, "--frames", "60", "--seed", "5"]
    dump, out = tmp_path / "dump", tmp_path / "out"
    assert sim.main([*args, "--dump", str(dump), "--pcap-out", str(out)]) == 0
    report = json.loads((BUILD_ROOT / "last-sim-report.json").read_text())
    assert report["checks_passed"], report
    found = check_dump(dump, out, report)
    in_dumps = [o for o in report["placed"] if not o.startswith("host-driver")]
    assert found > 0 and found == sum(report["placed"][o] for o in in_dumps), report


def test_dump_guests_get_all_their_buffers_past_the_nic_ring(tmp_path: Path) -> None:
    """A replay whose every frame goes to the two DUMP guests (nothing for an owner that
    must not drop): each guest's backend keeps handing the NIC the buffers it posted beyond
    the NIC's 32-entry ring, so each guest receives its first DUMP_BUFFERS frames and only
    the rest drop as no_buffer."""
    per_guest = DUMP_BUFFERS + 20
    frames = [
        Ether(dst=(G0, G1)[i % 2], src="02:00:00:00:00:aa") / IP() / UDP(sport=i) / Raw(b"x" * 30)
        for i in range(2 * per_guest)
    ]
    pcap = tmp_path / "guests.pcap"
    wrpcap(str(pcap), frames)
    dump, out = tmp_path / "dump", tmp_path / "out"
    assert sim.main(["--pcap", str(pcap), "--dump", str(dump), "--pcap-out", str(out)]) == 0
    report = json.loads((BUILD_ROOT / "last-sim-report.json").read_text())
    assert report["delivered"] == {"host-driver": 0, "guest0": DUMP_BUFFERS, "guest1": DUMP_BUFFERS}
    assert report["dropped"] == {"no_buffer": 40}, report
    assert check_dump(dump, out, report) == 2 * DUMP_BUFFERS
    want = [bytes(f) for f in frames]
    assert owner_frames(out, "guest0") == want[0 : 2 * DUMP_BUFFERS : 2]

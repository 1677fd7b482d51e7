# SPDX-License-Identifier: MIT
"""A real Linux guest receives from the RTL: QEMU boots the image of `make guest-image`, its
virtio-net device is our vhost-user back-end, and a few hundred frames go from the XGMII wire
through splitrx_top into the guest's RAM. The guest's receiver must read every frame byte for
byte in wire order, and the guest kernel's own counters must be exactly what the wire says.

Without QEMU or the image the test is skipped with the command that installs them; with
SPLITRX_REQUIRE_GUEST=1 (CI) that is a failure instead, so a CI run cannot pass by skipping
it. Also the pure parts of sw.qemu_guest: the QEMU command line, the receiver's lines, its
hash."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from sw.qemu_guest import (
    GuestConfig,
    GuestImage,
    GuestUnavailable,
    QemuGuest,
    RxLine,
    UdpLine,
    fnv1a64,
)
from tb.runner.build import BUILD_ROOT, REPO, build, run, top_sources
from tb.sim import GUEST_IMAGE

REQUIRE = "SPLITRX_REQUIRE_GUEST"
FRAMES = 300
SEED = 7


def guest_image_or_skip(folder: Path) -> GuestImage:
    """The guest image, or a skip naming the install command (a failure when CI asks
    for the guest with SPLITRX_REQUIRE_GUEST=1)."""
    try:
        return GuestImage.find(folder, REPO / "guest")
    except GuestUnavailable as exc:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"real Linux guest required ({REQUIRE}=1) but {exc}")
        pytest.skip(f"real Linux guest: {exc}")


def guest(name: str = "linux0", mac: str = "02:00:00:00:00:31", queue: int = 1,
          **kw: object) -> dict[str, object]:  # fmt: skip
    """One guest of a plan (tb/benches/linux_tb.py GuestPlan)."""
    return {"name": name, "mac": mac, "queue": queue, **kw}


def run_plan(plan: dict[str, object], test_dir: Path) -> dict[str, Any]:
    """Run tb.benches.linux_tb with ``plan`` in ``test_dir``; returns its report (also when
    the run found problems: the caller asserts on them). Skips without the guest."""
    guest_image_or_skip(GUEST_IMAGE)
    b = build("splitrx_top", top_sources("splitrx_top"))
    report = test_dir / "report.json"
    report.unlink(missing_ok=True)
    try:
        run(
            b,
            "tb.benches.linux_tb",
            extra_env={
                "SPLITRX_REPORT": str(report),
                "SPLITRX_LINUX_PLAN": json.dumps(plan),
                "SPLITRX_GUEST_IMAGE": str(GUEST_IMAGE),
                "SPLITRX_GUEST_WORKDIR": str(test_dir / "guest"),
            },
            test_dir=test_dir,
            log_file=test_dir / "sim.log",
        )
    except AssertionError as exc:
        if not report.exists():
            pytest.fail(f"{exc} (log {test_dir / 'sim.log'})")
    r: dict[str, Any] = json.loads(report.read_text())
    r["log"] = str(test_dir / "sim.log")
    return r


def shared_run(tag: str, plan: dict[str, object]) -> dict[str, Any]:
    """``run_plan`` once per pytest session, whichever xdist worker asks first: several
    named tests check one booted run."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    test_dir = BUILD_ROOT / "runs" / f"linux-{tag}-{uid}"
    test_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(test_dir) + ".lock"):
        done = test_dir / "shared-report.json"
        if done.exists():
            cached: dict[str, Any] = json.loads(done.read_text())
            return cached
        r = run_plan(plan, test_dir)
        done.write_text(json.dumps(r))
        return r


def no_problems(r: dict[str, Any]) -> None:
    assert r["checks_passed"] and r["problems"] == [], f"log {r['log']}:\n" + "\n".join(
        r["problems"]
    )


@pytest.mark.sim
def test_real_linux_guest_reads_every_frame_the_rtl_wrote_into_its_ram(tmp_path: Path) -> None:
    test_dir = BUILD_ROOT / "runs" / f"linux-guest-{os.getpid()}"
    test_dir.mkdir(parents=True, exist_ok=True)
    plan = {"guests": [guest()], "frames": FRAMES, "seed": SEED}
    r = run_plan(plan, test_dir)
    no_problems(r)
    g = r["linux"]["linux0"]
    # every frame the wire sent that the MAC kept reached the guest, and Linux counted it
    drops = sum(r["dropped"].values())
    assert r["sent"] == FRAMES and r["delivered"] + drops == FRAMES
    assert set(r["dropped"]) <= {"bad_fcs"} and r["delivered"] > 250
    assert g["counters"] == g["expected"]
    assert g["counters"]["rx_packets"] == r["delivered"] and g["counters"]["rx_dropped"] == 0
    assert g["counters"]["udp_in_datagrams"] > 0 and g["counters"]["tcp_in_csum_errors"] > 0
    assert g["receiver_matches_wire"] and g["receiver_frames"] == r["delivered"]
    assert g["datagrams_match"] and g["datagrams_read"] > 0
    # without VIRTIO_NET_F_GUEST_CSUM no frame is held as verified
    assert not g["csum"] and g["csum_valid_frames"] == 0 and g["csum_plain_frames"] > 0
    assert g["tx_frames"] > 0  # the guest's own frames (TCP resets) were drained
    assert r["pinned_pages_after"] == 0 and r["qemu_exit"] == {"linux0": 0}
    print(
        f"boot {r['boot_s']['linux0']:.1f} s, {r['delivered']} frames at "
        f"{r['frames_per_s']:.0f}/s, {r['wall_s']:.1f} s in all"
    )


def test_missing_guest_is_a_skip_with_the_install_command_or_a_failure_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="make guest-deps guest-image"):
        guest_image_or_skip(tmp_path)
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE}=1"):
        guest_image_or_skip(tmp_path)


def _guest(tmp_path: Path) -> QemuGuest:
    image = GuestImage(tmp_path / "vmlinuz", tmp_path / "initramfs.cpio", "6.1.0-test")
    cfg = GuestConfig(mac="02:00:00:00:00:31", mtu=1500, udp_ports=(9, 53))
    return QemuGuest(image, tmp_path, str(tmp_path / "vu.sock"), config=cfg)


def test_qemu_command_line_has_the_vhost_user_nic_and_no_other_network(tmp_path: Path) -> None:
    cmd = _guest(tmp_path).command()
    line = " ".join(cmd)
    assert cmd[cmd.index("-accel") + 1] == "tcg"  # KVM guests hang here before any output
    assert "memory-backend-memfd,id=mem,size=256M,share=on" in line
    assert cmd.count("-netdev") == 1 and "vhost-user,id=n0,chardev=vu" in line
    assert f"path={tmp_path / 'vu.sock'}" in line
    nic = cmd[cmd.index("-device") + 1]
    assert "mac=02:00:00:00:00:31" in nic and "vectors=0" in nic and "mrg_rxbuf=on" in nic
    assert "-nodefaults" in cmd and cmd[cmd.index("-nic") + 1] == "none"
    assert "user" not in line.split() and "slirp" not in line and "hostfwd" not in line
    append = cmd[cmd.index("-append") + 1]
    assert "splitrx.udp=9,53" in append and "splitrx.mtu=1500" in append


def test_receiver_lines_are_parsed(tmp_path: Path) -> None:
    g = _guest(tmp_path)
    for line in ("R ready", "F 1 60 00000000000000ff 1", "F 2 70 0000000000000001 0",
                 "U 9 6 18 00000000000000aa", "S rx_packets=3 rx_bytes=180",
                 "E unknown command 'x'", "garbage"):  # fmt: skip
        g._ctl_line(line)
    assert g.rx_ready and g.frames == [RxLine(1, 60, 0xFF, True), RxLine(2, 70, 1, False)]
    assert g.datagrams == [UdpLine(9, 6, 18, 0xAA)]
    assert g.stats == [{"rx_packets": 3, "rx_bytes": 180}]
    assert g.errors == ["unknown command 'x'", "unexpected line from the receiver: 'garbage'"]


def test_receiver_hash_is_fnv1a_64() -> None:
    # the published FNV-1a 64-bit test vectors
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8

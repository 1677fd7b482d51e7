# SPDX-License-Identifier: MIT
"""Two real Linux guests next to the host's own queue, one killed mid-traffic, and bad
input from our own vhost-user front-end (issue 21, "Two guests" and "Teardown and bad
input").

In `make test` one run serves the three named checks: guests linux0 (queue 1) and linux1
(queue 2), each steered by its MAC, and the host's queue 0; linux1's QEMU is SIGKILLed a
third of the way in with frames to it on the wire and in the NIC, and a new guest attaches to
its socket; then our fake guest (queue 3, sw.vhost_user_client) sends a malformed message
while it receives, and on fresh connections an overlapping memory table, an fd that cannot
be mapped and a ring outside every region. The `slow` test does it again with linux0 killed
and more traffic. Skipped without QEMU or the image (a failure with SPLITRX_REQUIRE_GUEST=1).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_linux_guest import guest, no_problems, shared_run

TEARDOWN = {
    "guests": [guest(), guest("linux1", "02:00:00:00:00:32", 2)],
    "host_queue": True,
    "frames": 120,
    "seed": 22,
    "kill": "linux1",
    "reattach": True,
    "bad_input": ["malformed", "overlap", "unmappable", "ring-outside"],
}
#: What each bad message's one error line says.
ERROR_SAYS = {
    "malformed": "message with version 2",
    "overlap": "overlaps region 0",
    "unmappable": "cannot map its fd",
    "ring-outside": "outside every memory region",
}


@pytest.fixture(scope="module")
def teardown_run() -> dict[str, Any]:
    r = shared_run("teardown", TEARDOWN)
    no_problems(r)
    return r


def guest_ok(g: dict[str, Any]) -> None:
    assert g["receiver_matches_wire"] and g["receiver_frames"] == g["delivered"] > 0
    assert g["counters"] == g["expected"] and g["datagrams_match"]


def killed_checks(r: dict[str, Any], victim: str, other: str) -> None:
    t = r["teardown"]
    [stop] = t["stops"]
    [c] = t["checks"]
    assert stop["owner"] == c["owner"] == victim
    # the back-end saw the socket close (not a protocol error): no error line for it
    assert stop["reason"] == "the front-end closed the connection"
    # mid-traffic: frames to it were on the wire and in the NIC as it died
    assert stop["lost_pending"] + stop["lost_completed"] > 0
    assert c["pages_checked"] >= 65536  # its 256 MiB of RAM, page by page
    assert c["pinned_after"] == c["iommu_mapped_after"] == c["ram_still_mapped"] == 0
    assert c["writes_after"] == 0 and c["tracker_violations"] == c["iommu_faults"] == 0
    assert r["sent_to"].get(f"{victim} (gone)", 0) > 0  # frames to its MAC went on meanwhile
    # the other guest and the host carried on; a new guest attached to the same socket
    guest_ok(r["linux"][other])
    assert r["host_delivered"] > 0
    new = r["linux"][victim]
    assert new["owner"] == f"{victim}.2" and len(new["boot_s"]) == 2
    guest_ok(new)
    assert r["qemu_exit"][victim] == 0 and r["pinned_pages_after"] == 0


@pytest.mark.sim
def test_two_guests_next_to_the_host_queue_each_receive_only_their_frames(
    teardown_run: dict[str, Any],
) -> None:
    r = teardown_run
    for name, queue in (("linux0", 1), ("linux1", 2)):
        g = r["linux"][name]
        assert g["queue"] == queue and r["sent_to"][name] > 0
        # the scoreboard matched each frame to the owner its MAC names, and the guest's
        # kernel counted exactly those: nothing of the other guest's or the host's
        guest_ok(g)
        assert g["counters"]["rx_packets"] == g["delivered"]
    assert r["sent_to"]["host"] > 0 and r["host_delivered"] > 0
    assert r["linux"]["linux0"]["mac"] != r["linux"]["linux1"]["mac"]


@pytest.mark.sim
def test_qemu_killed_mid_traffic_is_torn_down_and_nothing_is_written_into_its_ram(
    teardown_run: dict[str, Any],
) -> None:
    killed_checks(teardown_run, "linux1", "linux0")


@pytest.mark.sim
def test_bad_vhost_user_input_stops_that_device_alone_and_writes_nothing(
    teardown_run: dict[str, Any],
) -> None:
    r = teardown_run
    kinds = [x["kind"] for x in r["bad_input"]]
    assert kinds == TEARDOWN["bad_input"]
    for x in r["bad_input"]:
        [line] = x["error_lines"]
        assert ERROR_SAYS[x["kind"]] in line and line.endswith("device stopped"), line
        assert "\n" not in line
        assert x["socket_closed"] and x["memfd_unchanged"] and not x["device_running"]
        assert x["stopped_s"] < 5.0  # no hang
    malformed = r["bad_input"][0]
    assert malformed["frames_read"] > 0 and malformed["read_matches"]
    [fake] = r["teardown"]["fake"]  # only the malformed one had rings running
    assert fake["pinned_after"] == fake["iommu_mapped_after"] == fake["writes_after"] == 0
    assert fake["ram_still_mapped"] == 0
    # the simulation carried on for the others
    for name in ("linux0", "linux1"):
        guest_ok(r["linux"][name])
    assert r["expected_error_lines"] == len(kinds)


@pytest.mark.sim
@pytest.mark.slow
def test_slow_first_guest_killed_the_second_and_the_host_carry_on() -> None:
    plan = TEARDOWN | {"kill": "linux0", "frames": 300, "seed": 23, "bad_input": []}
    r = shared_run("teardown-linux0", plan)
    no_problems(r)
    killed_checks(r, "linux0", "linux1")

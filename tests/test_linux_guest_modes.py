# SPDX-License-Identifier: MIT
"""The real Linux guest in every mode (issue 21, "Modes and features"), each checked against
the guest kernel's own view: SPLIT_HOLE placement, mergeable RX buffers at MTU 9000,
VIRTIO_NET_F_GUEST_CSUM with wrong checksums on the wire, VIRTIO_RING_F_EVENT_IDX figures.

In `make test` one booted guest serves the four named checks at once (SPLIT_HOLE, mergeable,
MTU 9000, GUEST_CSUM, EVENT_IDX; one run per pytest session, whichever worker asks first).
The `slow` tests (`make test-long`) take each mode on its own, with more traffic, and the
settings the fast run does not: FULL, no mergeable buffers, event index off. Skipped without
QEMU or the image like tests/test_linux_guest.py (a failure with SPLITRX_REQUIRE_GUEST=1).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_linux_guest import guest, no_problems, shared_run

#: One guest in every mode at once: SPLIT_HOLE, mergeable, MTU 9000, GUEST_CSUM, EVENT_IDX.
EVERY_MODE = {
    "guests": [guest(mode="SPLIT_HOLE", mtu=9000, csum=True)],
    "frames": 120,
    "seed": 21,
    "jumbo": 0.3,
    "csum_udp": 0.3,
}


@pytest.fixture(scope="module")
def every_mode() -> dict[str, Any]:
    r = shared_run("every-mode", EVERY_MODE)
    no_problems(r)
    return r


def split_hole_checks(g: dict[str, Any]) -> None:
    """The guest read every frame byte-exact in the standard contiguous layout, although
    the NIC put the headers in host buffers: the host copied each into the hole."""
    assert g["placement"] == "SPLIT_HOLE"
    assert g["receiver_matches_wire"] and g["receiver_frames"] == g["delivered"]
    assert g["counters"] == g["expected"]
    b = g["backend"]
    assert g["split_frames"] > g["delivered"] // 2, g["split_frames"]
    assert b["split_frames"] == g["split_frames"]
    # at least an Ethernet + IPv4 + UDP header per split frame, copied by the host
    assert b["hdr_copy_bytes"] >= 42 * g["split_frames"]


def mergeable_checks(g: dict[str, Any]) -> None:
    """Jumbo frames at MTU 9000 over several of Linux's mergeable buffers, byte-exact."""
    assert g["mergeable"] and g["mtu"] == 9000
    assert g["largest_frame"] > 8000
    assert g["multi_buffer_frames"] > 0 and g["num_buffers_max"] >= 2
    assert g["receiver_matches_wire"] and g["counters"] == g["expected"]
    b = g["backend"]
    assert b["used_entries"] > b["frames"]  # num_buffers > 1: one used entry per buffer


def csum_checks(g: dict[str, Any]) -> None:
    """GUEST_CSUM: the guest counted InCsumErrors for exactly the UDP frames with a wrong
    checksum, read every good datagram, and held as verified (DATA_VALID) exactly the frames
    whose checksums the NIC checks and are right (guest_checks: no wrong one, no right one
    missed)."""
    c, e = g["counters"], g["expected"]
    assert g["csum"]
    assert c == e
    assert c["udp_in_csum_errors"] > 0 and c["udp6_in_csum_errors"] > 0
    assert g["datagrams_match"]
    assert g["datagrams_read"] == c["udp_in_datagrams"] + c["udp6_in_datagrams"] > 0
    assert g["csum_bad_frames"] > c["udp_in_csum_errors"]  # also IPv4 header and TCP ones
    assert g["csum_valid_frames"] == g["csum_plain_frames"] > 0


def event_idx_checks(g: dict[str, Any]) -> None:
    """The calls the back-end made are exactly what the guest's used_event asked for; the
    guest kicked at least whenever our avail_event asked it to, and at most that plus the
    arms that raced with its own posting; it took no more interrupts than it was sent."""
    rg = g["rings"]
    assert g["event_idx"]
    assert rg["rx_calls"] == rg["rx_calls_asked"] > 0
    assert rg["rx_calls"] <= rg["rx_used_updates"]
    assert rg["rx_kicks_asked"] <= rg["rx_kicks"] <= rg["rx_kicks_asked"] + rg["rx_kick_races"]
    assert rg["tx_calls"] == rg["tx_calls_asked"]
    assert 0 < g["virtio_irqs"] <= rg["rx_calls"] + rg["tx_calls"]


@pytest.mark.sim
def test_split_hole_guest_sees_the_standard_layout_header_copied_by_the_host(
    every_mode: dict[str, Any],
) -> None:
    split_hole_checks(every_mode["linux"]["linux0"])


@pytest.mark.sim
def test_mergeable_buffers_jumbo_frames_at_mtu_9000_over_several_buffers(
    every_mode: dict[str, Any],
) -> None:
    mergeable_checks(every_mode["linux"]["linux0"])


@pytest.mark.sim
def test_guest_csum_bad_udp_checksums_counted_exactly_and_every_good_one_arrives(
    every_mode: dict[str, Any],
) -> None:
    csum_checks(every_mode["linux"]["linux0"])


@pytest.mark.sim
def test_event_idx_calls_and_kicks_next_to_what_the_event_indexes_asked_for(
    every_mode: dict[str, Any],
) -> None:
    g = every_mode["linux"]["linux0"]
    event_idx_checks(g)
    print(f"linux0 rings during the traffic: {g['rings']}, {g['virtio_irqs']} interrupts")


# -- each mode on its own (make test-long) --------------------------------------------------------


@pytest.mark.sim
@pytest.mark.slow
def test_slow_split_hole_without_mergeable_buffers() -> None:
    r = shared_run("split-hole-big", {"guests": [guest(mode="SPLIT_HOLE", mergeable=False)],
                                      "frames": 300, "seed": 31})  # fmt: skip
    no_problems(r)
    g = r["linux"]["linux0"]
    split_hole_checks(g)
    assert not g["mergeable"] and g["num_buffers_max"] == 1


@pytest.mark.sim
@pytest.mark.slow
def test_slow_mergeable_jumbo_frames_in_full_placement() -> None:
    r = shared_run("jumbo-full", {"guests": [guest(mtu=9000)], "frames": 150, "seed": 32,
                                  "jumbo": 0.6})  # fmt: skip
    no_problems(r)
    g = r["linux"]["linux0"]
    mergeable_checks(g)
    assert g["placement"] == "FULL" and g["split_frames"] == 0


@pytest.mark.sim
@pytest.mark.slow
def test_slow_guest_csum_with_many_checksum_cases() -> None:
    r = shared_run("csum", {"guests": [guest(csum=True)], "frames": 300, "seed": 33,
                            "csum_udp": 0.5})  # fmt: skip
    no_problems(r)
    csum_checks(r["linux"]["linux0"])


@pytest.mark.sim
@pytest.mark.slow
def test_slow_event_idx_on_and_off_side_by_side() -> None:
    plan = {
        "guests": [guest(), guest("linux1", "02:00:00:00:00:32", 2, event_idx=False)],
        "frames": 240,
        "seed": 34,
    }
    r = shared_run("event-idx", plan)
    no_problems(r)
    on, off = r["linux"]["linux0"], r["linux"]["linux1"]
    event_idx_checks(on)
    rg = off["rings"]
    assert not off["event_idx"]
    # with flags the device calls whenever the guest's NO_INTERRUPT is clear, and the guest
    # kicks at every post while our NO_NOTIFY is clear: at least once per arm it passed
    assert rg["rx_calls"] == rg["rx_calls_asked"] > 0
    assert rg["rx_kicks"] >= rg["rx_kicks_asked"]
    assert 0 < off["virtio_irqs"] <= rg["rx_calls"] + rg["tx_calls"]
    print(f"event index on: {on['rings']}; off: {rg}")

# SPDX-License-Identifier: MIT
"""The `make sim` scenarios by name (shared by the CLI, which must not import cocotb, and
the cocotb side tb/sim_tb.py)."""

SCENARIOS = {
    "two-guests-host": "two virtio guests (FULL; SPLIT_HOLE at L4) and the host's own queue "
    "(SPLIT at L4); unicast to each, broadcast to the host, unknown unicast filtered, "
    "1 in 20 bad FCS",
    "jumbo-mergeable": "one virtio guest with mergeable 2 KiB buffers (SPLIT_HOLE); frames "
    "up to 9014 B span several buffers (num_buffers)",
    "hostile": "a well-behaved guest next to a hostile one that posts 16x its pinned-page "
    "quota and never consumes what it receives, on a saturated wire (64..256 B frames); then "
    "the hostile guest is torn down mid-traffic",
    "fuzz": "mutated frames (bit flips in the headers, truncations, bogus lengths, VLAN "
    "stacks) to a FULL guest and a SPLIT_HOLE guest: every frame delivered as the model "
    "predicts or dropped with a counted reason",
    "one-guest-full": "one virtio guest in FULL placement, promiscuous, 1 in 20 bad FCS",
}

# SPDX-License-Identifier: MIT
"""The `make sim` scenarios by name (shared by the CLI, which must not import cocotb, and
the cocotb side tb/benches/sim_tb.py)."""

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
    "split-xsk": "SPLIT through the host queue and the user-space ring owner (xsk app: the "
    "payload at 256 in its UMEM chunks, headers in kernel header buffers copied in front); "
    "unicast to each, broadcast to the host, unknown unicast filtered, frames up to 2048 B "
    "(longer than a chunk holds: too_long_for_group, recycled), 1 in 20 bad FCS",
    "four-guests-host": "four virtio guests (FULL; SPLIT_HOLE; mergeable SPLIT_HOLE; big "
    "packets in chains of three or two 4 KiB buffers) steered by MAC, and the host "
    "promiscuous on four SPLIT "
    "queues of 4-buffer groups, its unicast, broadcast and multicast spread by RSS "
    "(Microsoft key, UDP 4-tuple); jumbo frames to 9014 B, 1 in 20 bad FCS",
}

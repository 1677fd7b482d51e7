# SPDX-License-Identifier: MIT
"""tb.lib.pcie.byte_runs: the byte-enabled runs of a write TLP, against a byte-by-byte reference
built from the PCIe rule (first DWORD: first_be, last DWORD: last_be, the rest whole)."""

from __future__ import annotations

import os
import random

from cocotbext.pcie.core.tlp import Tlp, TlpType

from tb.lib.pcie import byte_runs


def reference(tlp: Tlp) -> list[tuple[int, bytes]]:
    data = tlp.get_data()
    n = tlp.length
    mask = []
    for i in range(n):
        be = tlp.first_be if i == 0 else tlp.last_be if i == n - 1 else 0xF
        mask += [be >> k & 1 for k in range(4)]
    runs, start = [], None
    for i, on in enumerate([*mask, 0]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((tlp.address + start, bytes(data[start:i])))
            start = None
    return runs


def test_byte_runs_match_the_byte_enables() -> None:
    seed = int(os.environ.get("SPLITRX_SEED", random.SystemRandom().randrange(1, 2**31)))
    print(f"seed {seed} (rerun with SPLITRX_SEED={seed})")
    rng = random.Random(seed)
    for _ in range(2000):
        tlp = Tlp()
        tlp.fmt_type = TlpType.MEM_WRITE_64
        n = rng.randint(1, 70)
        size = rng.randint(1, 4 * n - 3) if n > 1 else rng.randint(1, 4)
        tlp.set_addr_be_data(rng.randrange(1 << 40), rng.randbytes(size))
        if rng.random() < 0.5:  # enables a device may send: holes in the first/last DWORD
            tlp.first_be = rng.randrange(16)
            tlp.last_be = rng.randrange(16) if tlp.length > 1 else 0
        assert byte_runs(tlp) == reference(tlp), (tlp.length, tlp.first_be, tlp.last_be)


def test_a_whole_dword_write_is_one_run() -> None:
    tlp = Tlp()
    tlp.fmt_type = TlpType.MEM_WRITE_64
    tlp.set_addr_be_data(0x1000, bytes(range(256)))
    assert byte_runs(tlp) == [(0x1000, bytes(range(256)))]
    tlp.set_addr_be_data(0x2001, b"\xaa\xbb\xcc\xdd\xee")  # bytes 1..5: two partial DWORDs
    assert byte_runs(tlp) == [(0x2001, b"\xaa\xbb\xcc\xdd\xee")]

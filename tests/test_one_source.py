# SPDX-License-Identifier: MIT
"""Values with a single source are not written again: the ring geometry comes from
model/records.py (record layouts, and the register map for the index width), the phase bit
from the completion record's definition, the parser's defaults from rtl/rx_parser.sv, and a
QueueConfig is built by keyword only."""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

import pytest

from model import regmap
from model.nic_model import QueueConfig
from model.records import (
    CPL_BYTES,
    DESC_BYTES,
    INDEX_BITS,
    INDEX_MASK,
    MAX_RING_LOG2,
    RxCompletion,
    RxDescriptor,
)
from tb.lib import parse_ref

REPO = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("model", "sw", "tb", "tools", "tests") for p in (REPO / d).rglob("*.py")]
RING_NAMES = {"DESC_BYTES", "CPL_BYTES", "INDEX_BITS", "INDEX_MASK", "MAX_RING_LOG2"}


def module_assignments(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_ring_geometry_is_defined_once() -> None:
    where = {
        str(p.relative_to(REPO)): module_assignments(p) & RING_NAMES
        for p in SOURCES
        if module_assignments(p) & RING_NAMES
    }
    assert where == {"model/records.py": RING_NAMES}, where


def test_ring_geometry_follows_the_records_and_the_register_map() -> None:
    assert (DESC_BYTES, CPL_BYTES) == (RxDescriptor.size(), RxCompletion.size())
    caps = regmap.CAP_DATAPATH.fields
    assert (caps["desc_bytes"].reset, caps["cpl_bytes"].reset) == (DESC_BYTES, CPL_BYTES)
    widths = {regmap.RXQ.regs[r].fields["index"].width
              for r in ("DESC_TAIL", "DESC_HEAD", "CPL_HEAD", "CPL_TAIL")}  # fmt: skip
    assert widths == {INDEX_BITS} and INDEX_MASK == (1 << INDEX_BITS) - 1
    assert MAX_RING_LOG2 == INDEX_BITS - 1 < 1 << regmap.RXQ.regs["DESC_SIZE"].fields["log2"].width


def test_phase_bit_is_read_through_the_record_definition() -> None:
    rng = random.Random(7)
    print("seed 7")
    for _ in range(200):
        raw = rng.randbytes(CPL_BYTES)
        assert RxCompletion.phase_of(raw) == RxCompletion.unpack(raw).phase & 1
    # nobody reads it by position
    pat = re.compile(r"\[\s*-1\s*\]\s*&\s*1\b")
    bad = [str(p.relative_to(REPO)) for p in SOURCES if pat.search(p.read_text())]
    assert bad == []


def test_queue_config_is_built_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        QueueConfig(0x1000, 2, 0x2000, 3, 12)  # type: ignore[misc]
    pos = re.compile(r"QueueConfig\(\s*(0x|\d|[a-z_.]+\s*,)")
    bad = [str(p.relative_to(REPO)) for p in SOURCES if pos.search(p.read_text())]
    assert bad == ["tests/test_one_source.py"], bad


def test_parser_defaults_come_from_the_rtl(tmp_path: Path) -> None:
    sv = parse_ref.RX_PARSER_SV.read_text()
    assert parse_ref.parameter_defaults() == parse_ref.DEFAULTS
    assert (parse_ref.MAX_HDR_BYTES, parse_ref.MAX_EXT_HDRS) == (
        parse_ref.DEFAULTS["MAX_HDR_BYTES"], parse_ref.DEFAULTS["MAX_EXT_HDRS"],
    )  # fmt: skip
    # splitrx_core takes the defaults (no parameter override on its parser)
    core = (REPO / "rtl" / "splitrx_core.sv").read_text()
    assert re.search(r"\brx_parser\s+\w+\s*\(", core) and not re.search(r"\brx_parser\s*#", core)
    # a changed default is what the reference then uses
    changed = tmp_path / "rx_parser.sv"
    changed.write_text(re.sub(r"(MAX_EXT_HDRS\s*=\s*)\d+", r"\g<1>7", sv, count=1))
    assert parse_ref.parameter_defaults(changed)["MAX_EXT_HDRS"] == 7
    broken = tmp_path / "broken.sv"
    broken.write_text(sv.replace("MAX_HDR_BYTES", "MAX_HEADER_BYTES"))
    with pytest.raises(ValueError, match="no whole-number default for parameter MAX_HDR_BYTES"):
        parse_ref.parameter_defaults(broken)


def test_every_scenario_of_the_table_is_documented_and_offered() -> None:
    from tb.sim_scenarios import DEFAULT, SCENARIOS, TABLE

    assert DEFAULT in TABLE and list(SCENARIOS) == list(TABLE)
    row = next(
        line for line in (REPO / "docs" / "sim.md").read_text().splitlines()
        if line.startswith("| `SCENARIO=name`")
    )  # fmt: skip
    assert set(re.findall(r"`([a-z0-9-]+)`", row)) - {"SCENARIO=name", "--scenario"} == set(TABLE)
    helps = " ".join(
        line for line in (REPO / "Makefile").read_text().splitlines() if "SCENARIO=" in line
        or line.lstrip().startswith('@echo "                         ')
    )  # fmt: skip
    for name in TABLE:
        assert name in helps, name
    for sc in TABLE.values():  # every owner gets frames (shares are relative weights)
        assert all(w > 0 for _, w in sc.dests)
        owners = [g.mac for g in sc.guests] + [x.mac for x in sc.xsks]
        assert len(set(owners)) == len(owners) and all(m in dict(sc.dests) for m in owners)


def test_parser_sideband_layout_is_defined_once() -> None:
    from model.parse_meta import CSUM, HDR, SIDEBANDS, TUPLE, Meta

    # rx_parser checks the generated package's widths against its own header table
    sv = parse_ref.RX_PARSER_SV.read_text()
    m = re.search(
        r"\$bits\(hdr_t\) != (\d+) \|\| \$bits\(csum_t\) != (\d+) \|\| \$bits\(tuple_t\) != (\d+)",
        sv,
    )
    assert m and tuple(map(int, m.groups())) == (HDR.width, CSUM.width, TUPLE.width)
    pkg = (REPO / "rtl" / "splitrx_meta_pkg.sv").read_text()
    assert pkg.startswith("// SPDX-License-Identifier: MIT\n// GENERATED by tools/gen.py")
    # each field decodes from its own bits only, whatever the others hold
    default = Meta()
    for sb in SIDEBANDS:
        for f, lsb in sb.lsbs():
            value = 1  # valid for every enum, the bools and the numbers
            words = {s.sv_type: 0 for s in SIDEBANDS}
            words[sb.sv_type] = value << lsb
            got = Meta.decode(words["meta_hdr_t"], words["meta_csum_t"], words["meta_tuple_t"])
            assert got.diff(default) == [f"{f.name}: got {getattr(got, f.name)}, expected "
                                         f"{getattr(default, f.name)}"], f.name  # fmt: skip
            assert int(getattr(got, f.name)) == 1

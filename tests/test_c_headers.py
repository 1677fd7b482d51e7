# SPDX-License-Identifier: MIT
"""The C headers for driver authors (sw/include/splitrx_regs.h, splitrx_records.h, written by
`make regs`) compile as C11 with every warning an error, and every offset, field, reset
value, record size, field offset and enum value in them equals the Python definitions
(model/regmap.py, model/records.py). A C program built against them prints each value and
unpacks records packed by Python. (tests/test_generated.py: the headers are current.)"""

from __future__ import annotations

import enum
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from model import regmap
from model.records import (
    CPL_BYTES,
    DESC_BYTES,
    ENUMS,
    INDEX_MASK,
    MAX_RING_LOG2,
    RECORDS,
    RxCompletion,
    RxDescriptor,
)
from tools.gen import _c_name, _snake

REPO = Path(__file__).resolve().parent.parent
INCLUDE = REPO / "sw" / "include"


def compiler() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "no C compiler (gcc or cc) on PATH: the C headers cannot be checked"
    return cc


def field_values(prefix: str, reg: regmap.Reg) -> dict[str, int]:
    out = {f"{prefix}_RESET": reg.reset}
    for name, f in reg.fields.items():
        n = f"{prefix}_{name.upper()}"
        out |= {
            f"{n}_LSB": f.lsb,
            f"{n}_WIDTH": f.width,
            f"{n}_MASK": f.mask,
            f"{n}_RESET": f.reset,
        }
    return out


def expected() -> dict[str, int]:
    """C expression -> the value the Python definitions give it."""
    want = {
        "SPLITRX_BAR0_SIZE": regmap.BAR0_SIZE,
        "SPLITRX_MSIX_BIR": regmap.MSIX_BIR,
        "SPLITRX_DESC_BYTES": DESC_BYTES,
        "SPLITRX_CPL_BYTES": CPL_BYTES,
        "SPLITRX_INDEX_MASK": INDEX_MASK,
        "SPLITRX_MAX_RING_LOG2": MAX_RING_LOG2,
        "SPLITRX_CPL_PHASE_MASK": RxCompletion.PHASE_MASK,
    }
    for mem in ("MSIX_TABLE", "MSIX_PBA"):
        for k in ("OFFSET", "BYTES"):
            want[f"SPLITRX_{mem}_{k}"] = getattr(regmap, f"{mem}_{k}")
    for name, reg in regmap.REGISTERS.items():
        p = f"SPLITRX_{name}"
        count = getattr(regmap, f"{name}_COUNT", None)
        if count is None:
            want[p] = reg.offset
        else:
            stride = getattr(regmap, f"{name}_STRIDE")
            want |= {f"{p}_OFFSET": reg.offset, f"{p}_STRIDE": stride, f"{p}_COUNT": count}
            want |= {f"{p}_ADDR({i})": reg.offset + i * stride for i in range(count)}
        want |= field_values(p, reg)
    for name, rf in regmap.REGFILES.items():
        p = f"SPLITRX_{name}"
        want |= {f"{p}_OFFSET": rf.offset, f"{p}_STRIDE": rf.stride, f"{p}_COUNT": rf.entries}
        for rname, reg in rf.regs.items():
            q = f"{p}_{_c_name(rname)}"
            want[q] = reg.offset
            want |= {f"{p}_ADDR({i}, {q})": rf.addr(i, rname) for i in range(rf.entries)}
            want |= field_values(q, reg)
    for enum_cls in ENUMS:
        prefix = f"SPLITRX_{_snake(enum_cls.__name__).upper()}"
        for m in enum_cls:
            if m.value or not issubclass(enum_cls, enum.IntFlag):
                want[f"{prefix}_{m.name}"] = int(m.value)
    for rec in RECORDS:
        tag = f"struct splitrx_{rec.SV_NAME}"
        want[f"sizeof({tag})"] = rec.size()
        for f in rec.field_layouts():
            want[f"offsetof({tag}, {f.name})"] = f.offset
            want[f"sizeof((({tag} *)0)->{f.name}) * 8"] = f.width
    return want


def c_program(want: dict[str, int]) -> str:
    lines = [
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "#include <string.h>",
        '#include "splitrx_regs.h"',
        '#include "splitrx_records.h"',
        "",
        "static void unhex(const char *s, unsigned char *out, size_t n) {",
        "    for (size_t i = 0; i < n; i++) {",
        "        unsigned v;",
        '        if (sscanf(s + 2 * i, "%2x", &v) != 1) exit(2);',
        "        out[i] = (unsigned char)v;",
        "    }",
        "}",
        "",
        "int main(int argc, char **argv) {",
        "    if (argc != 3) return 2;",
    ]
    for expr in want:
        lines.append(f'    printf("%s=%llu\\n", "{expr}", (unsigned long long)({expr}));')
    for rec, arg in ((RxDescriptor, 1), (RxCompletion, 2)):
        tag = f"struct splitrx_{rec.SV_NAME}"
        lines += [
            "    {",
            f"        unsigned char raw[sizeof({tag})];",
            f"        {tag} r;",
            f"        unhex(argv[{arg}], raw, sizeof raw);",
            "        memcpy(&r, raw, sizeof r);",
        ]
        for f in rec.field_layouts():
            key = f"{rec.__name__}.{f.name}"
            lines.append(f'        printf("{key}=%llu\\n", (unsigned long long)r.{f.name});')
        lines.append("    }")
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)


def random_record(rec: type, rng: random.Random) -> object:
    return rec(**{f.name: rng.getrandbits(f.width) for f in rec.field_layouts()})


def test_headers_compile_and_every_value_matches_the_python_definitions(tmp_path: Path) -> None:
    assert (INCLUDE / "splitrx_regs.h").exists() and (INCLUDE / "splitrx_records.h").exists()
    want = expected()
    src = tmp_path / "check.c"
    src.write_text(c_program(want))
    exe = tmp_path / "check"
    cc = subprocess.run(
        [compiler(), "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(INCLUDE),
         str(src), "-o", str(exe)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert cc.returncode == 0, cc.stderr
    seed = random.SystemRandom().randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    desc, cpl = random_record(RxDescriptor, rng), random_record(RxCompletion, rng)
    run = subprocess.run(
        [str(exe), desc.pack().hex(), cpl.pack().hex()],  # type: ignore[attr-defined]
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    got = dict(line.split("=", 1) for line in run.stdout.splitlines())
    bad = [f"{k}: C {got.get(k)}, Python {v}" for k, v in want.items() if got.get(k) != str(v)]
    assert bad == [], "\n".join(bad[:20])
    for rec in (desc, cpl):
        for f in type(rec).field_layouts():  # type: ignore[attr-defined]
            key = f"{type(rec).__name__}.{f.name}"
            assert got[key] == str(getattr(rec, f.name)), key
    assert len(want) > 500  # every register, field, enum and record field was checked


def test_a_wrong_offset_fails_to_compile(tmp_path: Path) -> None:
    """The headers' own _Static_asserts catch a struct that drifted from its record."""
    bad = tmp_path / "splitrx_records.h"
    text = (INCLUDE / "splitrx_records.h").read_text()
    bad.write_text(text.replace("    uint32_t data_len;", "    uint16_t data_len;", 1))
    src = tmp_path / "t.c"
    src.write_text('#include "splitrx_records.h"\nint main(void) { return 0; }\n')
    cc = subprocess.run(
        [compiler(), "-std=c11", "-I", str(tmp_path), str(src), "-o", str(tmp_path / "t")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert cc.returncode != 0 and "splitrx_rx_desc" in cc.stderr, cc.stderr


@pytest.mark.parametrize("header", ["splitrx_regs.h", "splitrx_records.h"])
def test_each_header_stands_alone(header: str, tmp_path: Path) -> None:
    src = tmp_path / "t.c"
    src.write_text(f'#include "{header}"\n#include "{header}"\nint main(void) {{ return 0; }}\n')
    cc = subprocess.run(
        [compiler(), "-std=c11", "-Wall", "-Werror", "-I", str(INCLUDE), str(src),
         "-o", str(tmp_path / "t")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert cc.returncode == 0, cc.stderr

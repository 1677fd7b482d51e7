# SPDX-License-Identifier: MIT
"""XGMII helpers shared by testbenches."""

from __future__ import annotations

from typing import Any

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

# XGMII control characters
IDLE = 0x07
START = 0xFB
TERM = 0xFD
ERROR = 0xFE


class GapMonitor:
    """Measures inter-frame gaps on the XGMII bus itself: bytes from /T/ to the next /S/."""

    IDLE_WORD = int.from_bytes(bytes([IDLE] * 8), "little")

    def __init__(self, dut: Any, clk: Any = None) -> None:
        self.dut = dut
        self.clk = dut.clk if clk is None else clk
        self.gaps: list[int] = []
        self.starts = 0
        self.last_term_ns = 0.0
        self._pos = 0
        self._last_term = -1
        self._task = cocotb.start_soon(self._run())

    async def _run(self) -> None:
        rxd, rxc = self.dut.xgmii_rxd, self.dut.xgmii_rxc
        edge = RisingEdge(self.clk)
        while True:
            await edge
            ctrl = int(rxc.value)
            if ctrl:
                data = int(rxd.value)
                if ctrl != 0xFF or data != self.IDLE_WORD:
                    self._scan(ctrl, data)
            self._pos += 8

    def _scan(self, ctrl: int, data: int) -> None:
        for lane in range(8):
            if ctrl >> lane & 1:
                c = data >> (8 * lane) & 0xFF
                if c == TERM:
                    self._last_term = self._pos + lane
                    self.last_term_ns = get_sim_time("ns")
                elif c == START:
                    self.starts += 1
                    if self._last_term >= 0:
                        self.gaps.append(self._pos + lane - self._last_term)
                    self._last_term = -1

    def stop(self) -> None:
        self._task.cancel()

# SPDX-License-Identifier: MIT
"""Promiscuous mode is something the driver asks for: ``NicDriver.probe`` programs the
receive filter its caller wants (STEER_CTRL.promisc), whatever the device holds."""

from __future__ import annotations

import asyncio

import pytest

from model import regmap
from model.fake_nic import FakeNic
from model.hostmem import HostMemory
from model.iommu import Iommu
from sw.nic_driver import NicDriver

RID = 0x0100
PROMISC = regmap.STEER_CTRL.fields["promisc"]


@pytest.mark.parametrize("held", [0, 1])
@pytest.mark.parametrize("want", [False, True])
def test_probe_sets_the_receive_filter_the_caller_asks_for(held: int, want: bool) -> None:
    mem, io = HostMemory(), Iommu()
    nic = FakeNic(mem, io.attach(RID))
    nic.write_now(regmap.STEER_CTRL.offset, PROMISC.put(held))  # whatever it came up with
    drv = NicDriver(nic, mem, io.attach(RID))
    asyncio.run(drv.probe(promisc=want) if want else drv.probe())
    assert PROMISC.get(nic.read_now(regmap.STEER_CTRL.offset)) == int(want)

"""One poll of one device on the fake requester: records, rates and their sanity checks."""

from __future__ import annotations

import asyncio
from typing import Any

from poller.config.model import Column, Credential, Device, Secret, Table
from poller.oid import Oid
from poller.poll.device import PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.snmp.client import SnmpClient
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.types import Kind

UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")
HIGH_SPEED = Oid.parse("1.3.6.1.2.1.31.1.1.1.15")
IN_OCTETS = Oid.parse("1.3.6.1.2.1.31.1.1.1.6")
OUT_OCTETS = Oid.parse("1.3.6.1.2.1.2.2.1.16")

DEVICE = Device(
    name="sw", host="127.0.0.1", port=161,
    credential=Credential(name="c", version="2c", community=Secret("x")),
    profiles=("p",), scalar_groups=(),
    tables=(Table(name="interfaces", columns=(
        Column(name="ifHighSpeed", oid=HIGH_SPEED),
        Column(name="ifHCInOctets", oid=IN_OCTETS, bits=True),
        Column(name="ifOutOctets", oid=OUT_OCTETS),
    )),),
    interval_s=10.0, timeout_s=1.0, retries=0, max_repetitions=10, max_oids_per_request=10,
)


def poll_twice(
    second: dict[Oid, tuple[Kind, Any]], device: Device = DEVICE, **first: tuple[Kind, Any]
) -> tuple[PollOutcome, PollOutcome]:
    fake = FakeAgent({
        **{Oid.parse(k.replace("_", ".")): v for k, v in first.items()},
        UPTIME: (Kind.TIMETICKS, 1000),
        HIGH_SPEED + (1,): (Kind.GAUGE32, 1), HIGH_SPEED + (2,): (Kind.GAUGE32, 1000),
        IN_OCTETS + (1,): (Kind.COUNTER64, 0), IN_OCTETS + (2,): (Kind.COUNTER64, 0),
        OUT_OCTETS + (1,): (Kind.COUNTER32, 0), OUT_OCTETS + (2,): (Kind.COUNTER32, 0),
    })
    client = SnmpClient(FakeRequester({"127.0.0.1": fake}))
    tracker = CounterTracker()
    clock = iter([0.0, 0.0, 10.0, 10.0])
    outcomes = []
    for values in ({}, {UPTIME: (Kind.TIMETICKS, 2000), **second}):
        for oid, (kind, value) in values.items():
            fake.set(oid, kind, value)
        outcome = PollOutcome()
        asyncio.run(poll_device(device, target_for(device), client, tracker, outcome, lambda: next(clock)))
        outcomes.append(outcome)
    return outcomes[0], outcomes[1]


def rows(outcome: PollOutcome) -> dict[str, dict[str, Any]]:
    return {r["index"]: r for e, r in outcome.records if e == "row"}


def test_rates_above_the_interface_speed_are_dropped_with_a_reason() -> None:
    # 10 s apart: 10 MB in on a 1 Mbit/s port is impossible; on the 1 Gbit/s port it is 8 Mbit/s
    _, second = poll_twice({
        IN_OCTETS + (1,): (Kind.COUNTER64, 10_000_000), IN_OCTETS + (2,): (Kind.COUNTER64, 10_000_000),
        OUT_OCTETS + (1,): (Kind.COUNTER32, 1_000), OUT_OCTETS + (2,): (Kind.COUNTER32, 2**32 - 1),
    })
    slow, fast = rows(second)["1"], rows(second)["2"]
    assert slow["ifHCInOctets_bps"] is None and slow["ifHCInOctets_bps_reason"] == "above_if_speed"
    assert slow["ifOutOctets_rate"] == 100.0  # 800 bit/s: fine on 1 Mbit/s
    assert fast["ifHCInOctets_bps"] == 8_000_000.0 and "ifHCInOctets_bps_reason" not in fast
    assert fast["ifOutOctets_rate"] is None and fast["ifOutOctets_rate_reason"] == "above_if_speed"
    assert second.bps_totals == {"ifHCInOctets": 8_000_000.0}  # the dropped rate is not summed


def test_the_first_poll_gives_first_sample_reasons() -> None:
    first, _ = poll_twice({})
    row = rows(first)["1"]
    assert row["ifHCInOctets_bps"] is None and row["ifHCInOctets_bps_reason"] == "first_sample"
    assert row["ifHighSpeed"] == 1 and row["ifHCInOctets"] == 0
    assert first.status == "ok" and first.rows == 2 and first.uptime_ticks == 1000


def test_a_changed_counter_discontinuity_time_resets_that_rows_rates() -> None:
    import dataclasses

    marker = Oid.parse("1.3.6.1.2.1.31.1.1.1.19")
    (table,) = DEVICE.tables
    columns = (*table.columns, Column(name="ifCounterDiscontinuityTime", oid=marker))
    device = dataclasses.replace(DEVICE, tables=(dataclasses.replace(table, columns=columns),))
    start = {"1_3_6_1_2_1_31_1_1_1_19_1": (Kind.TIMETICKS, 0), "1_3_6_1_2_1_31_1_1_1_19_2": (Kind.TIMETICKS, 0)}
    _, second = poll_twice({
        marker + (1,): (Kind.TIMETICKS, 1500),  # interface 1's counters were reset at 15 s
        IN_OCTETS + (1,): (Kind.COUNTER64, 1000), IN_OCTETS + (2,): (Kind.COUNTER64, 1000),
    }, device, **start)
    reset, steady = rows(second)["1"], rows(second)["2"]
    assert reset["ifHCInOctets_bps"] is None
    assert reset["ifHCInOctets_bps_reason"] == "counter_discontinuity"
    assert steady["ifHCInOctets_bps"] == 800.0

"""Agents without 64-bit counters (SNMPv1, or v2c without ifXTable) on the built-in interfaces
profile: each row's rate comes from the 32-bit column, in the 64-bit rate field with `_from`
naming it; a table whose rows carry none of the counters asked for makes a poll warning, not a
silent `ok` without traffic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from poller.config.load import load_config
from poller.config.model import Device
from poller.oid import Oid
from poller.poll.device import NO_COUNTERS, PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.snmp.client import SnmpClient
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.types import Kind

UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")
IF_DESCR = Oid.parse("1.3.6.1.2.1.2.2.1.2")
IF_SPEED = Oid.parse("1.3.6.1.2.1.2.2.1.5")
IF_IN_OCTETS = Oid.parse("1.3.6.1.2.1.2.2.1.10")
IF_OUT_OCTETS = Oid.parse("1.3.6.1.2.1.2.2.1.16")
IF_HC_IN_OCTETS = Oid.parse("1.3.6.1.2.1.31.1.1.1.6")
ONLY_64_BIT = """
[[profiles.wide.tables]]
name = "interfaces"
columns = ["ifDescr", "ifHCInOctets", "ifHCOutOctets"]
bits = ["ifHCInOctets"]
"""


def _device(tmp_path: Path, profiles: str = "", use: str = '["interfaces"]') -> Device:
    path = tmp_path / "fleet.toml"
    path.write_text(f'[credentials.public]\ncommunity = "x"\n{profiles}\n[[devices]]\n'
                    f'name = "sw"\nhost = "127.0.0.1"\nprofiles = {use}\n')
    return load_config(path).devices[0]


def _agent(with_hc: bool) -> FakeAgent:
    """Two interfaces of 10 Mbit/s with ifTable counters; ifXTable's only with `with_hc`."""
    values: dict[Oid, tuple[Kind, Any]] = {UPTIME: (Kind.TIMETICKS, 100)}
    for i in (1, 2):
        values[IF_DESCR + (i,)] = (Kind.OCTETS, f"eth{i}".encode())
        values[IF_SPEED + (i,)] = (Kind.GAUGE32, 10_000_000)
        values[IF_IN_OCTETS + (i,)] = (Kind.COUNTER32, 1000)
        values[IF_OUT_OCTETS + (i,)] = (Kind.COUNTER32, 1000)
        if with_hc:
            values[IF_HC_IN_OCTETS + (i,)] = (Kind.COUNTER64, 5000)
    return FakeAgent(values)


def _poll_twice(device: Device, agent: FakeAgent) -> list[PollOutcome]:
    client = SnmpClient(FakeRequester({"127.0.0.1": agent}))
    tracker = CounterTracker()
    times = iter([0.0, 0.0, 10.0, 10.0])
    outcomes = []
    for step in range(2):
        if step:  # 10 s later: 12,500 octets more in on eth1 = 10 kbit/s
            agent.set(UPTIME, Kind.TIMETICKS, 1100)
            agent.set(IF_IN_OCTETS + (1,), Kind.COUNTER32, 1000 + 12_500)
        outcome = PollOutcome()
        asyncio.run(poll_device(device, target_for(device), client, tracker, outcome,
                                lambda: next(times)))
        outcomes.append(outcome)
    return outcomes


def _rows(outcome: PollOutcome) -> dict[str, dict[str, Any]]:
    return {r["index"]: r for event, r in outcome.records if event == "row"}


def test_rows_without_64_bit_counters_get_their_rate_from_the_32_bit_ones(tmp_path: Path) -> None:
    first, second = _poll_twice(_device(tmp_path), _agent(with_hc=False))
    row = _rows(second)["1"]
    assert row["ifHCInOctets_bps"] == 10_000.0 and row["ifHCInOctets_bps_from"] == "ifInOctets"
    assert row["ifHCOutOctets_bps"] == 0.0 and row["ifHCOutOctets_bps_from"] == "ifOutOctets"
    assert "ifInOctets_bps" not in row  # one rate per counter: sums never count it twice
    assert _rows(first)["1"]["ifHCInOctets_bps_reason"] == "first_sample"
    assert (second.status, second.warnings) == ("ok", [])


def test_rows_with_64_bit_counters_keep_them(tmp_path: Path) -> None:
    _, second = _poll_twice(_device(tmp_path), _agent(with_hc=True))
    row = _rows(second)["1"]
    assert row["ifHCInOctets_bps"] == 0.0 and "ifHCInOctets_bps_from" not in row
    assert row["ifHCOutOctets_bps_from"] == "ifOutOctets"  # no ifHCOutOctets in this agent


def test_a_table_without_any_counter_it_asks_for_warns(tmp_path: Path) -> None:
    device = _device(tmp_path, ONLY_64_BIT, '["wide"]')
    first, second = _poll_twice(device, _agent(with_hc=False))
    assert first.rows == 2 and all("ifHCInOctets_bps" not in r for r in _rows(first).values())
    # between label reads only the counters are walked: no row at all, still not a quiet ok
    assert second.rows == 0
    for outcome in (first, second):
        assert outcome.status == "ok"
        assert outcome.warnings == [{"part": "interfaces", "warning": NO_COUNTERS}]


def test_an_empty_table_does_not_warn(tmp_path: Path) -> None:
    device = _device(tmp_path, ONLY_64_BIT, '["wide"]')
    for outcome in _poll_twice(device, FakeAgent({UPTIME: (Kind.TIMETICKS, 100)})):
        assert (outcome.status, outcome.rows, outcome.warnings) == ("ok", 0, [])


def test_one_counter_of_the_table_is_enough_not_to_warn(tmp_path: Path) -> None:
    device = _device(tmp_path, ONLY_64_BIT, '["wide"]')
    _, second = _poll_twice(device, _agent(with_hc=True))
    assert second.warnings == [] and _rows(second)["1"]["ifHCInOctets_bps"] == 0.0

"""Index fields, labels on a slow cadence, lookups from other tables and the 64-bit preference,
through whole polls on the fake requester (which records every request made)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from poller.config.load import load
from poller.config.model import Column, Credential, Device, Lookup, Secret, Table
from poller.errors import ConfigError
from poller.oid import Oid
from poller.poll.device import PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.snmp.client import SnmpClient
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.types import Kind

UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")
IF_NAME = Oid.parse("1.3.6.1.2.1.31.1.1.1.1")
HC_IN = Oid.parse("1.3.6.1.2.1.31.1.1.1.6")
IN_OCTETS = Oid.parse("1.3.6.1.2.1.2.2.1.10")
AD_IFINDEX = Oid.parse("1.3.6.1.2.1.4.20.1.2")
SENSOR_VALUE = Oid.parse("1.3.6.1.2.1.99.1.1.1.4")
PHYS_NAME = Oid.parse("1.3.6.1.2.1.47.1.1.1.1.7")


def device(*tables: Table) -> Device:
    return Device(
        name="sw", host="127.0.0.1", port=161,
        credential=Credential(name="c", version="2c", community=Secret("x")),
        profiles=("p",), scalar_groups=(), tables=tables,
        interval_s=60.0, timeout_s=1.0, retries=0, max_repetitions=10, max_oids_per_request=10,
    )


class Run:
    """Polls one device again and again on one fake agent, with a clock the test moves."""

    def __init__(self, dev: Device, values: dict[Oid, tuple[Kind, Any]]) -> None:
        self.device, self.agent = dev, FakeAgent({UPTIME: (Kind.TIMETICKS, 100_000), **values})
        self.requester = FakeRequester({"127.0.0.1": self.agent})
        self.client = SnmpClient(self.requester)
        self.tracker, self.now = CounterTracker(), 0.0

    def poll(self, after_s: float = 60.0) -> tuple[dict[str, dict[str, Any]], PollOutcome]:
        self.now += after_s
        outcome = PollOutcome()
        asyncio.run(poll_device(self.device, target_for(self.device), self.client, self.tracker,
                                outcome, lambda: self.now))
        assert outcome.status == "ok", outcome.error
        rows = {r["index"]: r for e, r in outcome.records if e == "row"}
        return rows, outcome


def interfaces(labels: tuple[str, ...] = ("ifName",), interval_s: float = 900.0) -> Table:
    return Table(name="interfaces", labels=labels, labels_interval_s=interval_s, columns=(
        Column(name="ifName", oid=IF_NAME), Column(name="ifHCInOctets", oid=HC_IN, bits=True)))


def if_values(*indexes: int) -> dict[Oid, tuple[Kind, Any]]:
    out: dict[Oid, tuple[Kind, Any]] = {}
    for i in indexes:
        out[IF_NAME + (i,)] = (Kind.OCTETS, f"Gi0/{i}".encode())
        out[HC_IN + (i,)] = (Kind.COUNTER64, 1000 * i)
    return out


def test_labels_are_read_on_their_cadence_and_carried_from_the_cache() -> None:
    run = Run(device(interfaces()), if_values(1, 2))
    _, polled = run.poll()
    varbinds_full = polled.stats.varbinds
    second, cached = run.poll()
    assert second["1"]["ifName"] == "Gi0/1" and second["2"]["ifName"] == "Gi0/2"
    assert second["1"]["ifIndex"] == 1
    assert cached.stats.varbinds < varbinds_full
    run.agent.set(IF_NAME + (1,), Kind.OCTETS, b"renamed")
    assert run.poll(after_s=60)[0]["1"]["ifName"] == "Gi0/1"  # not yet due
    assert run.poll(after_s=900)[0]["1"]["ifName"] == "renamed"  # due


def test_a_new_row_reads_the_labels_at_once() -> None:
    run = Run(device(interfaces()), if_values(1))
    run.poll()
    for oid, (kind, value) in if_values(7).items():
        run.agent.set(oid, kind, value)
    rows, _ = run.poll()
    assert rows["7"]["ifName"] == "Gi0/7"


def test_an_agent_restart_reads_the_labels_at_once() -> None:
    run = Run(device(interfaces()), if_values(1))
    run.poll()
    run.agent.set(IF_NAME + (1,), Kind.OCTETS, b"after-restart")
    run.agent.set(UPTIME, Kind.TIMETICKS, 5)
    rows, outcome = run.poll()
    assert outcome.agent_restarted and rows["1"]["ifName"] == "after-restart"


def test_no_labels_reads_every_column_every_poll() -> None:
    run = Run(device(interfaces(labels=())), if_values(1, 2))
    _, first = run.poll()
    _, second = run.poll()
    assert first.stats.varbinds == second.stats.varbinds


def test_lookup_by_the_rows_own_index_and_by_a_field() -> None:
    sensors = Table(name="sensors", columns=(Column(name="entPhySensorValue", oid=SENSOR_VALUE),),
                    lookups=(Lookup(column=Column(name="entPhysicalName", oid=PHYS_NAME)),))
    addresses = Table(name="addresses",
                      columns=(Column(name="ipAdEntIfIndex", oid=AD_IFINDEX),),
                      lookups=(Lookup(column=Column(name="ifName", oid=IF_NAME),
                                      by="ipAdEntIfIndex"),))
    run = Run(device(sensors, addresses), {
        SENSOR_VALUE + (1003,): (Kind.INTEGER, 42), PHYS_NAME + (1003,): (Kind.OCTETS, b"CPU temp"),
        PHYS_NAME + (1,): (Kind.OCTETS, b"Chassis"),
        AD_IFINDEX + (10, 0, 0, 1): (Kind.INTEGER, 2), AD_IFINDEX + (10, 0, 0, 9): (Kind.INTEGER, 9),
        IF_NAME + (2,): (Kind.OCTETS, b"Gi0/2"),
    })
    for _ in range(2):  # the second poll takes them from the cache
        rows, _ = run.poll()
        assert rows["1003"]["entPhysicalName"] == "CPU temp"
        assert rows["1003"]["entPhysicalIndex"] == 1003
        assert rows["10.0.0.1"]["ipAdEntAddr"] == "10.0.0.1"
        assert rows["10.0.0.1"]["ifName"] == "Gi0/2"
        assert rows["10.0.0.9"]["ifName"] is None  # no interface 9


def both_widths() -> Table:
    return Table(name="interfaces", columns=(
        Column(name="ifInOctets", oid=IN_OCTETS), Column(name="ifHCInOctets", oid=HC_IN, bits=True)))


def test_64_bit_rate_preferred_and_32_bit_rate_never_written_beside_it() -> None:
    run = Run(device(both_widths()), {IN_OCTETS + (1,): (Kind.COUNTER32, 0),
                                      HC_IN + (1,): (Kind.COUNTER64, 0)})
    run.poll()
    run.agent.set(IN_OCTETS + (1,), Kind.COUNTER32, 600)
    run.agent.set(HC_IN + (1,), Kind.COUNTER64, 600)
    row = run.poll(after_s=60)[0]["1"]
    assert row["ifHCInOctets_bps"] == 80.0
    assert "ifInOctets_rate" not in row and "ifHCInOctets_bps_from" not in row
    assert (row["ifInOctets"], row["ifHCInOctets"]) == (600, 600)


def test_32_bit_rows_fall_back_to_the_32_bit_counter_with_its_name() -> None:
    # an agent with ifTable only: row 1 has no ifXTable entry, row 2 has both
    run = Run(device(both_widths()), {IN_OCTETS + (1,): (Kind.COUNTER32, 4294967000),
                                      IN_OCTETS + (2,): (Kind.COUNTER32, 0),
                                      HC_IN + (2,): (Kind.COUNTER64, 0)})
    first = run.poll()[0]
    assert first["1"]["ifHCInOctets_bps"] is None
    assert first["1"]["ifHCInOctets_bps_reason"] == "first_sample"
    run.agent.set(IN_OCTETS + (1,), Kind.COUNTER32, 304)  # wrapped: 600 octets later
    run.agent.set(IN_OCTETS + (2,), Kind.COUNTER32, 60)
    run.agent.set(HC_IN + (2,), Kind.COUNTER64, 120)
    rows = run.poll(after_s=60)[0]
    assert rows["1"]["ifHCInOctets_bps"] == 80.0
    assert rows["1"]["ifHCInOctets_bps_from"] == "ifInOctets"
    assert rows["2"]["ifHCInOctets_bps"] == 16.0 and "ifHCInOctets_bps_from" not in rows["2"]
    assert not any(k.startswith("ifInOctets_") for r in rows.values() for k in r)


def _profile(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(f'[[profiles.p.tables]]\nname = "t"\n{table}\n'
                    '[[devices]]\nname = "d"\nhost = "127.0.0.1"\nprofiles = ["p"]\n'
                    '[credentials.public]\ncommunity = "public"\n')
    return path


def test_profile_keys_for_labels_and_lookups(tmp_path: Path) -> None:
    config = load(_profile(tmp_path, 'columns = ["ifName", "ifHCInOctets", "ifDescr"]\n'
                                     'labels_interval = "30m"\nlookups = ["entPhysicalName"]'))
    table = config.devices[0].tables[0]
    assert table.labels == ("ifName", "ifDescr") and table.labels_interval_s == 1800.0
    assert [lookup.column.name for lookup in table.lookups] == ["entPhysicalName"]


@pytest.mark.parametrize(
    "table, message",
    [
        ('columns = ["ifName"]\nlabels = ["ifAlias"]',
         "profiles.p.tables[0].labels[0]: 'ifAlias' is not a column of this table"),
        ('columns = ["ifName", "ifHCInOctets"]\nlabels = ["ifHCInOctets"]',
         "profiles.p.tables[0].labels: 'ifHCInOctets' is a counter"),
        ('columns = ["ipAdEntNetMask"]\nlookups = [{ column = "ifName", by = "nope" }]',
         "profiles.p.tables[0].lookups[0].by: 'nope' is neither a column nor an index"),
        ('columns = ["ifName"]\nlookups = ["ifNmae"]',
         "profiles.p.tables[0].lookups[0]: unknown name 'ifNmae' (did you mean 'ifName'?)"),
        ('columns = ["ifName"]\nlookups = ["ifName"]',
         "profiles.p.tables[0].lookups[0]: 'ifName' is already a field"),
    ],
)
def test_bad_label_and_lookup_keys_fail_with_one_line(tmp_path: Path, table: str,
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_profile(tmp_path, table))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_lookup_by_an_index_field_is_allowed(tmp_path: Path) -> None:
    config = load(_profile(tmp_path, 'columns = ["ipAdEntNetMask"]\n'
                                     'lookups = [{ column = "ifName", by = "ipAdEntAddr" }]'))
    assert config.devices[0].tables[0].lookups[0].by == "ipAdEntAddr"

"""The daemon's data records against net-snmp, value by value.

`poller run --once` (with each engine) polls every snmpsim-data recording the tests serve and
snmpd with the built-in `system` and `interfaces` profiles and a profile of more columns and
tables (32-bit counters, ifPhysAddress, ifLastChange, ifSpecific, ipAddrTable, ipAddressTable,
lldpRemTable); `poller run` polls the advancing recordings and snmpd for two cycles. Every field
of every scalars and row record is checked against what snmpbulkwalk reads from the same agent:
the value after the rendering docs/records.md documents (`as_recorded`), every row
index the agent has and no other, the decoded index fields, a rate field for each counter and
none for anything else. Where a value moves between the net-snmp reads before and after the
daemon's (counters and sysUpTime of the advancing recordings and snmpd), the record's value must
lie between them; every other value must be equal. Rows between label reads carry the labels of
the read before.
"""

from __future__ import annotations

import ipaddress
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Agent
from tests.integration.test_daemon import read_records
from tests.integration.test_oracle import netsnmp_walk

#: {OID: (SMI type, value)} as net-snmp read it: octets in hex, TimeTicks and enums as numbers
Reading = dict[str, tuple[str, Any]]
Record = dict[str, Any]

# The objects' OIDs from their RFCs, not from poller's MIB table: a wrong name resolution in
# poller shows up as a value that net-snmp reads elsewhere.
SYSTEM = "1.3.6.1.2.1.1"
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
IP_ADDR = "1.3.6.1.2.1.4.20.1"
IP_ADDRESS = "1.3.6.1.2.1.4.34.1"
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"
#: what net-snmp walks: every object the profiles below read is under one of these
SUBTREES = (SYSTEM, "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1", "1.3.6.1.2.1.4.20",
            "1.3.6.1.2.1.4.34", "1.0.8802.1.1.2.1.4.1")
#: the subtrees of the two-cycle run's profiles (system, interfaces, ifs32)
CYCLE_SUBTREES = SUBTREES[:3]

SCALARS = {name: f"{SYSTEM}.{n}.0" for n, name in enumerate(
    ("sysDescr", "sysObjectID", "sysUpTime", "sysContact", "sysName", "sysLocation"), start=1)}


@dataclass(frozen=True)
class TableSpec:
    """A table as the fleet file asks for it, with what the test expects of its rows."""

    name: str
    columns: dict[str, str]  # field name -> column OID
    #: the row's index fields, decoded by the test from the index (and net-snmp's reading)
    index_fields: Callable[[tuple[int, ...], Reading], dict[str, Any]]
    bits: frozenset[str] = frozenset()
    #: the columns read every labels_interval and carried from the cache in between
    labels: frozenset[str] = frozenset()
    #: 32-bit column -> its 64-bit column, both asked for: the row has one rate, the 64-bit
    #: column's, from the 32-bit counter only when the row lacks the 64-bit one (`_from`)
    stand_ins: dict[str, str] = field(default_factory=dict)


def _if_index(index: tuple[int, ...], reading: Reading) -> dict[str, Any]:
    return {"ifIndex": index[0]} if len(index) == 1 else {}


def _ip_ad_ent_addr(index: tuple[int, ...], reading: Reading) -> dict[str, Any]:
    """ipAdEntAddr: the IpAddress index, which net-snmp also reads as the table's first column."""
    read = reading.get(f"{IP_ADDR}.1.{_dotted(index)}")
    return {"ipAdEntAddr": read[1]} if read is not None else {"ipAdEntAddr": "(not in net-snmp)"}


def _inet_address(index: tuple[int, ...], reading: Reading) -> dict[str, Any]:
    """ipAddressAddrType and ipAddressAddr (RFC 4001: type, length, octets; zone last)."""
    if len(index) < 2 or any(arc > 255 for arc in index[2:]):
        return {}
    kind, octets = index[0], bytes(index[2:])
    if index[1] != len(octets) or {1: 4, 2: 16, 3: 8, 4: 20}.get(kind) != len(octets):
        return {}
    address = ipaddress.ip_address(octets[:4] if kind in (1, 3) else octets[:16])
    zone = f"%{int.from_bytes(octets[-4:], 'big')}" if kind in (3, 4) else ""
    return {"ipAddressAddrType": kind, "ipAddressAddr": f"{address}{zone}"}


def _lldp_rem(index: tuple[int, ...], reading: Reading) -> dict[str, Any]:
    names = ("lldpRemTimeMark", "lldpRemLocalPortNum", "lldpRemIndex")
    return dict(zip(names, index)) if len(index) == 3 else {}


INTERFACES = TableSpec("interfaces", {
    "ifDescr": f"{IF}.2", "ifName": f"{IFX}.1", "ifAlias": f"{IFX}.18", "ifType": f"{IF}.3",
    "ifMtu": f"{IF}.4", "ifSpeed": f"{IF}.5", "ifHighSpeed": f"{IFX}.15",
    "ifPhysAddress": f"{IF}.6", "ifAdminStatus": f"{IF}.7", "ifOperStatus": f"{IF}.8",
    "ifLastChange": f"{IF}.9", "ifHCInOctets": f"{IFX}.6", "ifHCOutOctets": f"{IFX}.10",
    "ifHCInUcastPkts": f"{IFX}.7", "ifHCOutUcastPkts": f"{IFX}.11", "ifInDiscards": f"{IF}.13",
    "ifOutDiscards": f"{IF}.19", "ifInErrors": f"{IF}.14", "ifOutErrors": f"{IF}.20",
    "ifInUnknownProtos": f"{IF}.15", "ifCounterDiscontinuityTime": f"{IFX}.19",
    "ifInOctets": f"{IF}.10", "ifOutOctets": f"{IF}.16", "ifInUcastPkts": f"{IF}.11",
    "ifOutUcastPkts": f"{IF}.17",
}, _if_index, bits=frozenset({"ifHCInOctets", "ifHCOutOctets", "ifInOctets", "ifOutOctets"}),
    labels=frozenset({"ifName", "ifAlias", "ifDescr", "ifSpeed", "ifHighSpeed", "ifType",
                      "ifPhysAddress"}),
    stand_ins={"ifInOctets": "ifHCInOctets", "ifOutOctets": "ifHCOutOctets",
               "ifInUcastPkts": "ifHCInUcastPkts", "ifOutUcastPkts": "ifHCOutUcastPkts"})
IFS32 = TableSpec("ifs32", {
    "ifInOctets": f"{IF}.10", "ifOutOctets": f"{IF}.16", "ifInUcastPkts": f"{IF}.11",
    "ifPhysAddress": f"{IF}.6", "ifLastChange": f"{IF}.9", "ifSpecific": f"{IF}.22",
    "ifOutQLen": f"{IF}.21", "ifPromiscuousMode": f"{IFX}.16",
}, _if_index, labels=frozenset({"ifPhysAddress"}))
ADDRESSES = TableSpec("addresses", {
    "ipAdEntIfIndex": f"{IP_ADDR}.2", "ipAdEntNetMask": f"{IP_ADDR}.3",
    "ipAdEntBcastAddr": f"{IP_ADDR}.4", "ipAdEntReasmMaxSize": f"{IP_ADDR}.5",
}, _ip_ad_ent_addr)
INET_ADDRESSES = TableSpec("inet_addresses", {
    "ipAddressIfIndex": f"{IP_ADDRESS}.3", "ipAddressType": f"{IP_ADDRESS}.4",
    "ipAddressPrefix": f"{IP_ADDRESS}.5", "ipAddressOrigin": f"{IP_ADDRESS}.6",
    "ipAddressStatus": f"{IP_ADDRESS}.7",
}, _inet_address)
LLDP = TableSpec("lldp", {
    "lldpRemChassisIdSubtype": f"{LLDP_REM}.4", "lldpRemChassisId": f"{LLDP_REM}.5",
    "lldpRemPortId": f"{LLDP_REM}.7", "lldpRemPortDesc": f"{LLDP_REM}.8",
    "lldpRemSysName": f"{LLDP_REM}.9",
}, _lldp_rem)
MORE_TABLES = (IFS32, ADDRESSES, INET_ADDRESSES, LLDP)
ALL_TABLES = (INTERFACES, *MORE_TABLES)



def profile(name: str, tables: Iterable[TableSpec]) -> str:
    return "".join(f'[[profiles.{name}.tables]]\nname = "{t.name}"\ncolumns = {list(t.columns)}\n'
                   for t in tables)


#: the custom profiles; `system` and `interfaces` are poller's built-in ones
PROFILES = profile("more", MORE_TABLES) + profile("cycle", [IFS32])

# -- what docs/records.md says a value becomes ---------------------------------------------

#: octet-string columns whose textual convention is PhysAddress or MacAddress: always colon hex
MAC_COLUMNS = frozenset({"ifPhysAddress"})
_TEXT_CONTROLS = "\t\n\r"


def as_recorded(column: str, smi: str, value: Any) -> Any:
    """net-snmp's value (`-Ox -Ot -Oe -On`) as a data record carries it. Where the two render
    differently by design:

    - OctetString (net-snmp: hex): a MAC-address column as `aa:bb:cc:dd:ee:ff`; other bytes as
      text when they are printable UTF-8 (tab, CR and LF allowed; a single trailing NUL, the C
      string terminator some agents send, is not part of the text), else as `aa:bb:...` hex;
    - ObjectIdentifier (net-snmp: `.1.3...`): dotted, without the leading dot;
    - TimeTicks (net-snmp `-Ot`): hundredths of a second as an integer;
    - INTEGER enums (net-snmp `-Oe`): the number; IpAddress: dotted, as net-snmp prints it.
    """
    if smi != "OctetString":
        return value  # _parse already gave ints, dotted OIDs without the dot and dotted IPs
    data = bytes.fromhex(value)
    if column not in MAC_COLUMNS:
        text = _printable(data[:-1] if data.endswith(b"\x00") else data)
        if text is not None:
            return text
    return ":".join(f"{b:02x}" for b in data)


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in _TEXT_CONTROLS for c in text) else None


# -- reading the agents and running the daemon -------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One device of a fleet: an agent and a community (a recording of snmpsim, or snmpd)."""

    device: str
    agent: Agent
    community: str


def read(targets: Iterable[Target], subtrees: tuple[str, ...]) -> dict[str, Reading]:
    """net-snmp's reading of each target's subtrees, by device name, walks run side by side."""
    jobs = [(t, root) for t in targets for root in subtrees]
    readings: dict[str, Reading] = {t.device: {} for t, _ in jobs}
    with ThreadPoolExecutor(max_workers=8) as pool:
        walks = pool.map(lambda job: netsnmp_walk(job[0].agent, job[0].community, job[1]), jobs)
        for (target, _), items in zip(jobs, walks):
            readings[target.device].update((oid, (smi, value)) for oid, smi, value in items)
    return readings


def fleet(path: Path, targets: list[Target], engine: str, profiles: list[str],
          interval_s: float) -> Path:
    """A fleet file; a request is not retried, and may take two thirds of the interval."""
    text = (f'[daemon]\nengine = "{engine}"\n[output]\ndirectory = "{path.parent / "out"}"\n'
            f'[defaults]\ninterval = {interval_s}\ntimeout = {interval_s * 2 / 3:.2f}\n'
            'retries = 0\n'
            f'profiles = {profiles}\n{PROFILES}')
    for n, target in enumerate(targets):
        text += (f'[credentials.c{n}]\ncommunity = "{target.community}"\n[[devices]]\n'
                 f'name = "{target.device}"\nhost = "{target.agent.host}"\n'
                 f'port = {target.agent.port}\ncredential = "c{n}"\n')
    path.write_text(text)
    path.chmod(0o600)
    return path


def run_once(directory: Path, targets: list[Target], engine: str) -> list[Record]:
    config = fleet(directory / "fleet.toml", targets, engine,
                   ["system", "interfaces", "more"], 15)
    done = subprocess.run([sys.executable, "-m", "poller", "run", "--once", "--config",
                           str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return read_records(directory / "out", "poller.jsonl")


def run_cycles(directory: Path, targets: list[Target], polls: int) -> list[Record]:
    """The daemon until every device has `polls` summaries (bounded), then SIGTERM."""
    config = fleet(directory / "fleet.toml", targets, "builtin", ["system", "interfaces", "cycle"],
                   3)
    process = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            data = directory / "out" / "poller.jsonl"
            records = read_records(directory / "out", "poller.jsonl") if data.exists() else []
            done = {r["device"] for r in records if r["event"] == "poll" and r["seq"] == polls - 1}
            if done == {t.device for t in targets}:
                break
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and not err, err.decode()
    return read_records(directory / "out", "poller.jsonl")


@dataclass
class Poll:
    """One device poll's records, in the order written, and its summary."""

    summary: Record
    scalars: list[Record] = field(default_factory=list)
    rows: list[Record] = field(default_factory=list)


def polls_of(records: list[Record]) -> dict[str, list[Poll]]:
    """Each device's polls: a poll's records are written together, before its summary."""
    pending: dict[str, list[Record]] = {}
    out: dict[str, list[Poll]] = {}
    for record in records:
        if record["event"] != "poll":
            pending.setdefault(record["device"], []).append(record)
            continue
        mine = pending.pop(record["device"], [])
        out.setdefault(record["device"], []).append(Poll(
            record, [r for r in mine if r["event"] == "scalars"],
            [r for r in mine if r["event"] == "row"]))
    assert not pending, f"records after the last summary: {sorted(pending)}"
    return out


# -- the comparison ----------------------------------------------------------------------------

COUNTER_WIDTHS = {"Counter32": 32, "Counter64": 64}
#: types whose value may move between two reads of a live agent, as a counter does
MOVING = {"Counter32": 32, "Counter64": 64, "TimeTicks": 32}
RATE_REASONS = {"first_sample", "agent_restart", "counter_reset", "no_elapsed_time",
                "counter_discontinuity", "above_if_speed"}
ROW_FIELDS = {"timestamp", "event", "device", "table", "index"}
SCALAR_FIELDS = {"timestamp", "event", "device", "group"}


@dataclass
class Tally:
    """What a comparison looked at, and every disagreement it found."""

    values: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def verdict(self) -> None:
        shown = "\n".join(self.problems[:30])
        assert not self.problems, f"{len(self.problems)} disagreements with net-snmp:\n{shown}"


@dataclass(frozen=True)
class Bracket:
    """net-snmp's reads of one agent before and after the daemon's (the same for a static one)."""

    before: Reading
    after: Reading

    def get(self, oid: str) -> tuple[tuple[str, Any] | None, tuple[str, Any] | None]:
        return self.before.get(oid), self.after.get(oid)


def check_value(tally: Tally, where: str, column: str, got: Any,
                read: tuple[tuple[str, Any] | None, tuple[str, Any] | None]) -> str | None:
    """The record's value against net-snmp's reads before and after. Returns the SMI type."""
    before, after = read
    tally.values += 1
    if before is None or after is None:  # the object came or went between the reads
        known = before or after
        assert known is not None
        if got != as_recorded(column, *known):
            tally.fail(where, f"{got!r}: net-snmp read {known} in one of its reads only")
        return known[0]
    if before == after:
        if got != as_recorded(column, *before):
            tally.fail(where, f"{got!r} != {as_recorded(column, *before)!r} (net-snmp {before})")
        return before[0]
    smi, width = before[0], MOVING.get(before[0])
    if width is None or after[0] != smi:
        tally.fail(where, f"net-snmp read {before} then {after}: only counters may move")
    elif not isinstance(got, int) or not 0 <= got < 2 ** width:
        tally.fail(where, f"{got!r} is not a {smi}")
    elif (got - before[1]) % 2 ** width > (after[1] - before[1]) % 2 ** width:
        tally.fail(where, f"{got} is not between net-snmp's {before[1]} and {after[1]}")
    return smi


def check_rate(tally: Tally, where: str, record: Record, column: str, bits: bool,
               smi: str | None, first: bool) -> set[str]:
    """A counter has its rate field (null with `first_sample` on the first poll), nothing else
    has one. Returns the rate fields seen."""
    rate = f"{column}_bps" if bits else f"{column}_rate"
    reason = f"{rate}_reason"
    if smi not in COUNTER_WIDTHS:
        if rate in record or reason in record:
            tally.fail(where, f"a {smi} has a rate field")
        return set()
    if rate not in record:
        tally.fail(where, f"a {smi} without its rate field {rate}")
        return set()
    value, why = record[rate], record.get(reason)
    if first and (value, why) != (None, "first_sample"):
        tally.fail(where, f"first poll: {rate} = {value!r}, {reason} = {why!r}")
    elif value is None and why not in RATE_REASONS:
        tally.fail(where, f"{rate} is null with reason {why!r}")
    elif value is not None and (not isinstance(value, float) or value < 0 or why is not None):
        tally.fail(where, f"{rate} = {value!r}, {reason} = {why!r}")
    return {rate, reason} if why is not None else {rate}


def check_stand_in(tally: Tally, where: str, record: Record, column: str, wide: str,
                   bits: bool, smi: str | None, first: bool) -> set[str]:
    """A row without the 64-bit counter has the 32-bit counter's rate in the 64-bit rate field,
    with `<rate>_from` naming the 32-bit column."""
    fields = check_rate(tally, where, record, wide, bits, smi, first)
    from_field = f"{wide}_bps_from" if bits else f"{wide}_rate_from"
    tally.values += 1
    if record.get(from_field) != column:
        tally.fail(where, f"{from_field} = {record.get(from_field)!r}, expected {column!r}")
    return fields | {from_field}


def check_scalars(tally: Tally, device: str, poll: Poll, bracket: Bracket) -> None:
    where = f"{device} seq {poll.summary['seq']} scalars"
    if len(poll.scalars) != 1:
        tally.fail(where, f"{len(poll.scalars)} scalars records, expected 1")
        return
    record = poll.scalars[0]
    if record["group"] != "system" or set(record) != SCALAR_FIELDS | set(SCALARS):
        tally.fail(where, f"fields {sorted(record)}")
    for name, oid in SCALARS.items():
        read = bracket.get(oid)
        if read == (None, None):  # absent from the agent: a GET answers noSuchObject -> null
            tally.values += 1
            if record.get(name) is not None:
                tally.fail(f"{where} {name}", f"{record.get(name)!r}, net-snmp has no {oid}")
        else:
            check_value(tally, f"{where} {name}", name, record.get(name), read)


def agent_rows(table: TableSpec, reading: Reading) -> set[tuple[int, ...]]:
    """The row indexes the agent has in any of the table's columns."""
    out = set()
    for oid in reading:
        for column in table.columns.values():
            if oid.startswith(column + "."):
                out.add(tuple(int(arc) for arc in oid[len(column) + 1:].split(".")))
    return out


def check_table(tally: Tally, device: str, table: TableSpec, poll: Poll,
                bracket: Bracket) -> None:
    seq = poll.summary["seq"]
    where = f"{device} seq {seq} {table.name}"
    rows: dict[tuple[int, ...], Record] = {}
    for row in poll.rows:
        if row["table"] == table.name:
            index = tuple(int(arc) for arc in row["index"].split("."))
            if index in rows:
                tally.fail(where, f"row {row['index']} written twice")
            rows[index] = row
    before, after = agent_rows(table, bracket.before), agent_rows(table, bracket.after)
    if not before & after <= set(rows) <= before | after:
        tally.fail(where, f"rows {sorted(rows)} != net-snmp's {sorted(before | after)}")
    for index, row in sorted(rows.items()):
        tally.rows += 1
        check_row(tally, f"{where} row {row['index']}", table, index, row, bracket, seq == 0)


def check_row(tally: Tally, where: str, table: TableSpec, index: tuple[int, ...], row: Record,
              bracket: Bracket, first: bool) -> None:
    expected = set(ROW_FIELDS)
    decoded = table.index_fields(index, bracket.after or bracket.before)
    for name, value in decoded.items():
        tally.values += 1
        if row.get(name) != value:
            tally.fail(f"{where} {name}", f"index field {row.get(name)!r} != {value!r}")
    expected |= set(decoded)
    suffix = ".".join(map(str, index))
    for column, oid in table.columns.items():
        read = bracket.get(f"{oid}.{suffix}")
        if read == (None, None):
            continue  # the agent has no such instance: the row has no such field
        if column not in row and None in read:
            continue  # the instance came or went between net-snmp's reads
        expected.add(column)
        smi = check_value(tally, f"{where} {column}", column, row.get(column), read)
        wide = table.stand_ins.get(column)
        if wide is None:
            expected |= check_rate(tally, f"{where} {column}", row, column,
                                   column in table.bits, smi, first)
        elif bracket.get(f"{table.columns[wide]}.{suffix}") == (None, None):
            expected |= check_stand_in(tally, f"{where} {column}", row, column, wide,
                                       wide in table.bits, smi, first)
    if set(row) != expected:
        tally.fail(where, f"fields {sorted(set(row) - expected)} not expected, "
                          f"{sorted(expected - set(row))} missing")


def check_device(tally: Tally, device: str, polls: list[Poll], bracket: Bracket,
                 tables: tuple[TableSpec, ...]) -> None:
    for poll in polls:
        summary = poll.summary
        if summary["status"] != "ok" or summary["rows"] != len(poll.rows):
            tally.fail(device, f"poll summary {summary} for {len(poll.rows)} rows")
        check_scalars(tally, device, poll, bracket)
        for table in tables:
            check_table(tally, device, table, poll, bracket)


def _dotted(index: Iterable[int]) -> str:
    return ".".join(map(str, index))


# -- the runs ----------------------------------------------------------------------------------


@dataclass
class Observed:
    """Both --once runs and the two-cycle run, and net-snmp's readings around them."""

    once: dict[str, list[Record]]  # by engine
    cycles: list[Record]
    brackets: dict[str, Bracket]  # by device
    static: list[str]
    live: list[str]


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, snmpd: Agent, snmpsim: Agent,
             snmpsim_live: Agent) -> Observed:
    return observe(tmp_path_factory.mktemp, snmpd, snmpsim, snmpsim_live)


def observe(mktemp: Callable[[str], Path], snmpd: Agent, snmpsim: Agent,
            snmpsim_live: Agent) -> Observed:
    """net-snmp reads snmpd and the advancing recordings before and after the daemon's runs
    (twice --once on the recordings as recorded and snmpd, then two cycles on the advancing
    ones and snmpd), the recordings as recorded once. Work on the two snmpsims runs side by
    side, each in the order that keeps the daemon's reads between net-snmp's."""
    static = [Target(f"sim-{c}", snmpsim, c) for c in snmpsim.communities]
    live = [Target(f"live-{c}", snmpsim_live, c) for c in snmpsim_live.communities]
    agent = [Target("snmpd", snmpd, snmpd.communities[0])]
    with ThreadPoolExecutor(max_workers=1) as beside:
        before = read(agent, SUBTREES)
        live_before = beside.submit(read, live, CYCLE_SUBTREES)
        once = {engine: run_once(mktemp(f"once-{engine}"), static + agent, engine)
                for engine in ("builtin", "pysnmp")}
        before |= live_before.result()
        cycles = beside.submit(run_cycles, mktemp("cycles"), live + agent, polls=2)
        recorded = read(static, SUBTREES)
        cycles_records = cycles.result()
        live_after = beside.submit(read, live, CYCLE_SUBTREES)
        after = read(agent, SUBTREES) | live_after.result()
    brackets = {device: Bracket(before[device], after[device]) for device in before}
    brackets |= {device: Bracket(reading, reading) for device, reading in recorded.items()}
    return Observed(once, cycles_records, brackets, [t.device for t in static],
                    [t.device for t in live])


@pytest.mark.parametrize("engine", ["builtin", "pysnmp"])
def test_once_records_agree_with_netsnmp(observed: Observed, engine: str) -> None:
    """Every recording as recorded, and snmpd: every value, row and index field."""
    polls = polls_of(observed.once[engine])
    assert sorted(polls) == sorted(observed.static + ["snmpd"])
    tally = Tally()
    for device, device_polls in sorted(polls.items()):
        assert len(device_polls) == 1, device
        check_device(tally, device, device_polls, observed.brackets[device], ALL_TABLES)
    tally.verdict()
    for table in ALL_TABLES:  # each table has rows somewhere: none is compared in vain
        assert any(r.get("table") == table.name for r in observed.once[engine]), table.name
    assert tally.rows > 550 and tally.values > 7500, tally


def test_two_cycles_on_advancing_recordings_agree_and_keep_their_labels(
        observed: Observed) -> None:
    """The advancing recordings and snmpd over two polls: values between net-snmp's reads,
    rates from the second poll on, and the second poll's labels (from the cache, not read
    again) equal to the first's."""
    polls = polls_of(observed.cycles)
    assert sorted(polls) == sorted(observed.live + ["snmpd"])
    tally = Tally()
    for device, device_polls in sorted(polls.items()):
        assert [p.summary["seq"] for p in device_polls][:2] == [0, 1], device
        first, second = device_polls[:2]
        check_device(tally, device, [first, second], observed.brackets[device],
                     (INTERFACES, IFS32))
        same_rows = all(check_labels_kept(tally, device, table, first, second)
                         for table in (INTERFACES, IFS32))
        if same_rows and second.summary["varbinds"] >= first.summary["varbinds"]:
            tally.fail(device, "the second poll read the labels again: "
                               f"{second.summary['varbinds']} varbinds after "
                               f"{first.summary['varbinds']}")
    tally.verdict()
    rates = [r["ifHCInOctets_bps"] for d in polls.values() for r in d[1].rows
             if r.get("ifHCInOctets_bps") is not None]
    assert rates and any(rate > 0 for rate in rates)
    assert tally.rows > 900 and tally.values > 15_000, tally


def check_labels_kept(tally: Tally, device: str, table: TableSpec, first: Poll,
                      second: Poll) -> bool:
    """The label fields of every row in both polls are the same. Returns whether the polls had
    the same rows (a new row, as an interface created meanwhile on snmpd's host, has its labels
    read at once, and the rows the first poll had keep theirs)."""
    def labels(poll: Poll) -> dict[str, dict[str, Any]]:
        return {r["index"]: {k: v for k, v in r.items() if k in table.labels}
                for r in poll.rows if r["table"] == table.name}

    before, after = labels(first), labels(second)
    common = before.keys() & after.keys()
    if not common:
        tally.fail(f"{device} {table.name}", f"no row in both polls: {before} then {after}")
    for index in sorted(common):
        tally.values += len(after[index])
        if before[index] != after[index]:
            tally.fail(f"{device} {table.name} row {index}",
                       f"labels {after[index]} after {before[index]}")
    return before.keys() == after.keys()

"""What one poll of one device does: GET its scalars, walk its tables, join rows, add rates.

Pure logic over the SnmpClient interface: no scheduling, no files, no pysnmp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poller.config.model import Column, Device, Table
from poller.errors import SnmpError, SnmpTimeout
from poller.oid import Oid
from poller.poll.labels import LabelCache, walk_oids
from poller.poll.rates import CounterTracker, Series
from poller.poll.rows import index_fields, prefer_wide
from poller.snmp.client import SnmpClient
from poller.snmp.render import record_value, value_of
from poller.snmp.types import COUNTER_WIDTHS, Kind, RequestStats, Target, VarBind

#: read on every poll, whatever the profiles say: a decrease means the agent restarted
SYS_UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")

Record = tuple[str, dict[str, Any]]
#: a poll warning: the table's rows carry none of the counters the profile lists
NO_COUNTERS = "no_counters"


@dataclass(slots=True)
class PollOutcome:
    """What a poll produced so far. Filled as it goes, so a poll cut off by its deadline
    still hands over the records it had read."""

    records: list[Record] = field(default_factory=list)
    stats: RequestStats = field(default_factory=RequestStats)
    parts_ok: int = 0
    parts_failed: int = 0
    rows: int = 0
    uptime_ticks: int | None = None
    agent_restarted: bool = False
    error: SnmpError | None = None
    #: the parts that failed ("scalars", or a table's name) with their error types, in order
    failed_parts: list[dict[str, str]] = field(default_factory=list)
    #: the part being read now (what a poll cut off by its deadline was doing)
    running: str | None = None
    #: per bits-column sums over all rows, for the console line (e.g. total ifHCInOctets bps)
    bps_totals: dict[str, float] = field(default_factory=dict)
    #: what was read but is not what the profile asked for (a table whose rows carry none of
    #: its counters): the poll is `ok`, its records say what is missing
    warnings: list[dict[str, str]] = field(default_factory=list)

    def fail(self, exc: SnmpError, part: str) -> None:
        self.parts_failed += 1
        self.failed_parts.append({"part": part, "error_type": exc.error_type})
        if self.error is None:
            self.error = exc

    @property
    def error_message(self) -> str | None:
        """The first failure, naming its part: 'table interfaces: sw1 (...) returned ...'."""
        if self.error is None:
            return None
        part = self.failed_parts[0]["part"] if self.failed_parts else "scalars"
        return f"{part if part == 'scalars' else 'table ' + part}: {self.error}"

    @property
    def status(self) -> str:
        if self.parts_failed == 0:
            return "ok"
        if self.parts_ok > 0:
            return "partial"
        return "timeout" if isinstance(self.error, SnmpTimeout) else "error"


def target_for(device: Device) -> Target:
    return Target(
        name=device.name,
        host=device.host,
        port=device.port,
        credential=device.credential,
        timeout_s=device.timeout_s,
        retries=device.retries,
        max_repetitions=device.max_repetitions,
        max_oids_per_request=device.max_oids_per_request,
        walk=device.walk,
    )


async def poll_device(
    device: Device,
    target: Target,
    client: SnmpClient,
    tracker: CounterTracker,
    outcome: PollOutcome,
    clock: Any,
) -> None:
    """Poll `device` once, appending records to `outcome`. Raises nothing but CancelledError."""
    poll = _Poll(device, target, client, tracker, outcome, clock)
    outcome.running = "scalars"
    try:
        await poll.scalars()
    except SnmpTimeout as exc:
        # The first request went unanswered: the device is down or deaf to us; walking its
        # tables would only wait out the same timeout again for each one. (Also when what it
        # got was no valid answer: wrong request-ids, a wrong source, garbage.)
        outcome.fail(exc, "scalars")
        outcome.running = None
        return
    except SnmpError as exc:
        outcome.fail(exc, "scalars")
    for table in device.tables:
        # a table that fails writes none of its rows; the scalars and other tables stay
        outcome.running = table.name
        try:
            await poll.table(table)
        except SnmpError as exc:
            outcome.fail(exc, table.name)
    outcome.running = None
    if outcome.parts_failed == 0:
        # Only a complete poll proves that a row is gone; a failed walk must not forget counters.
        tracker.prune()


@dataclass(slots=True)
class _Poll:
    device: Device
    target: Target
    client: SnmpClient
    tracker: CounterTracker
    outcome: PollOutcome
    clock: Any
    #: when the scalars (and sysUpTime) were read: the time label reads are due against
    read_at_s: float | None = None

    async def scalars(self) -> None:
        device, outcome = self.device, self.outcome
        columns = [c for _, group in device.scalar_groups for c in group]
        oids = [SYS_UPTIME] + [c.oid for c in columns if c.oid != SYS_UPTIME]
        varbinds = await self.client.get(self.target, oids, outcome.stats)
        at_s = self.read_at_s = self.clock()
        by_oid = {vb.oid: vb for vb in varbinds}
        uptime = by_oid.get(SYS_UPTIME)
        if uptime is not None and uptime.kind is Kind.TIMETICKS and isinstance(uptime.value, int):
            outcome.uptime_ticks = uptime.value
        outcome.agent_restarted = self.tracker.note_uptime(outcome.uptime_ticks, at_s)
        for group, group_columns in device.scalar_groups:
            fields: dict[str, Any] = {"device": device.name, "group": group}
            fields.update(device.tags)
            for column in group_columns:
                vb = by_oid.get(column.oid)
                if vb is not None:
                    _put(fields, column, vb, self.tracker.series((group, column.name)),
                         self.tracker, at_s)
            outcome.records.append(("scalars", fields))
        outcome.parts_ok += 1

    async def table(self, table: Table) -> None:
        labels = label_cache(self.tracker)
        walked, full = await self._walk(table, labels)
        at_s = self.clock()
        if full and table.label_oids:
            labels.store(table, walked, at_s)
        if table.discontinuity is not None:  # read before the rates, which it may reset
            self._note_discontinuities(table, table.discontinuity, walked)
        rows = self._rows(table, walked, labels, full, at_s)
        self._finish(table, walked, rows, labels)

    async def _walk(self, table: Table, labels: LabelCache) -> tuple[dict[Oid, list[VarBind]], bool]:
        """The table's columns walked, with its labels when they are due; whether they were."""
        now_s = self.read_at_s if self.read_at_s is not None else self.clock()
        full = labels.due(table, now_s, self.outcome.agent_restarted)
        walked = await self.client.walk(self.target, walk_oids(table, full), self.outcome.stats)
        if not full and labels.has_new_rows(table, walked):
            # a new row: read its labels now rather than write it without them until the next read
            walked.update(await self.client.walk(self.target, table.label_oids, self.outcome.stats))
            full = True
        return walked, full

    def _note_discontinuities(self, table: Table, marker: Column,
                              walked: dict[Oid, list[VarBind]]) -> None:
        for vb in walked.get(marker.oid, ()):
            if isinstance(vb.value, int):
                row_key = (table.name, vb.oid.index_after(marker.oid))
                self.tracker.note_discontinuity(row_key, vb.value)

    def _rows(self, table: Table, walked: dict[Oid, list[VarBind]], labels: LabelCache,
              full: bool, at_s: float) -> dict[tuple[int, ...], dict[str, Any]]:
        """The table's rows by index, values and rates set. The hot loop of a poll: one pass
        over every varbind, names looked up once per column, nothing called per value that
        need not be."""
        rows: dict[tuple[int, ...], dict[str, Any]] = {}
        device_name, name, tags = self.device.name, table.name, self.device.tags
        rate, series_of = self.tracker.rate_or_reason, self.tracker.series
        for column in table.columns:
            varbinds = walked.get(column.oid)
            if not varbinds:
                continue
            # The walk keeps only OIDs inside the column's subtree: the rest is the row's index.
            start, field_name, hint = len(column.oid), column.name, column.hint
            series = series_of((name, field_name))
            for oid, kind, value in varbinds:
                index = oid[start:]
                row = rows.get(index)
                if row is None:
                    row = rows[index] = {
                        "device": device_name, "table": name, "index": ".".join(map(str, index)),
                    }
                    row.update(index_fields(table, index))
                    row.update(tags)
                    if not full:
                        row.update(labels.label_row(table, index))
                if value.__class__ is not int:
                    row[field_name] = value_of(kind, value, hint)
                    continue
                row[field_name] = value
                width = COUNTER_WIDTHS.get(kind)
                if width is not None:
                    _put_rate(row, column, rate(series, index, value, width, at_s))
        return rows

    def _finish(self, table: Table, walked: dict[Oid, list[VarBind]],
                rows: dict[tuple[int, ...], dict[str, Any]], labels: LabelCache) -> None:
        """Each row completed (lookups, 64-bit preference, sanity) and recorded in index order."""
        outcome = self.outcome
        for index in sorted(rows):
            row = rows[index]
            if table.lookups:
                labels.add_lookups(table, index, row)
            if table.wide_pairs:
                prefer_wide(table, row)
            if table.has_speed:
                _drop_impossible_rates(row)
            for name, bps_field in table.bits_fields:
                bps = row.get(bps_field)
                if bps is not None:
                    outcome.bps_totals[name] = outcome.bps_totals.get(name, 0.0) + bps
            outcome.records.append(("row", row))
        if table.counters and not any(walked.get(c.oid) for c in table.counters) \
                and (rows or labels.has_rows(table)):
            # e.g. a 64-bit-only profile on an SNMPv1 agent or one without ifXTable: rows with
            # names and states (or, between label reads, none at all) but no traffic, which
            # must not pass for a complete poll
            outcome.warnings.append({"part": table.name, "warning": NO_COUNTERS})
        outcome.rows += len(rows)
        outcome.parts_ok += 1


def label_cache(tracker: CounterTracker) -> LabelCache:
    """The device's label cache, kept with its counter state across polls."""
    if tracker.labels is None:
        tracker.labels = LabelCache()
    cache: LabelCache = tracker.labels
    return cache


#: octet counters of IF-MIB, whose rate can be checked against the interface's speed
_OCTET_COUNTERS = ("ifHCInOctets", "ifHCOutOctets", "ifInOctets", "ifOutOctets")
#: (rate field, bits per its unit, reason field) of each octet counter's rate, built once
_SPEED_CHECKED = tuple((f"{name}{suffix}", to_bits, f"{name}{suffix}_reason")
                       for name in _OCTET_COUNTERS for suffix, to_bits in (("_bps", 1), ("_rate", 8)))
#: slack over the nominal speed before a rate counts as impossible (timing jitter, rounding)
SPEED_SLACK = 1.1


def _drop_impossible_rates(row: dict[str, Any]) -> None:
    """A rate above what the interface can carry is a counter glitch, not traffic: null it with
    the reason, rather than draw a spike. Speed from ifHighSpeed (Mbit/s) or ifSpeed (bit/s)."""
    high, speed = row.get("ifHighSpeed"), row.get("ifSpeed")
    if isinstance(high, int) and high > 0:
        limit = high * 1_000_000.0
    elif isinstance(speed, int) and 0 < speed < 4_294_967_295:
        limit = float(speed)
    else:
        return
    limit *= SPEED_SLACK
    for rate_field, to_bits, reason_field in _SPEED_CHECKED:
        value = row.get(rate_field)
        if value is not None and value * to_bits > limit:
            row[rate_field] = None
            row[reason_field] = "above_if_speed"


def _put(
    fields: dict[str, Any],
    column: Column,
    vb: VarBind,
    series: Series,
    tracker: CounterTracker,
    at_s: float,
) -> None:
    """Set the column's value, and for counters its rate (and the reason when there is none)."""
    fields[column.name] = record_value(vb, column.hint)
    width = COUNTER_WIDTHS.get(vb.kind)
    if width is None or not isinstance(vb.value, int):
        return
    _put_rate(fields, column, tracker.rate_or_reason(series, (), vb.value, width, at_s))


def _put_rate(fields: dict[str, Any], column: Column, rate: float | str) -> None:
    """A counter's rate field (bits/s for `bits` columns), or null and the reason."""
    if rate.__class__ is float:
        fields[column.rate_field] = rate * 8 if column.bits else rate
    else:
        fields[column.rate_field] = None
        fields[column.reason_field] = rate

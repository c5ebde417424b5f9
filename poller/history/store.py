"""Records in, RRD updates out: which file a record goes to, which of its values, at what time.

A `row` record updates its row's file, a `scalars` record its group's file, each with the fields
its profile keeps (HistorySettings.fields). A null or missing value is stored as unknown (`U`),
never zero. A `poll` summary of a poll that did not read a part (status error, timeout, skipped;
or partial, for the parts in `failed_parts`) stores unknown in that part's files at its time, so
a missed poll is a gap, not a line drawn across it; a file nothing reaches for two steps turns
unknown by itself (the heartbeat).

RRD takes a file's updates in increasing time only, one per second at most: updates at or
before a file's last one are skipped and counted (a second import of the same records skips
them all). Not thread-safe: one thread (the writer's, or the import command's) owns a store.

Updates are held until written: `flush` writes them all, `flush_due` the files that fall due
(HistoryStore), so the daemon writes a minute (`[history] hold`, 60 s by default without
rrdcached) of a file's updates in one librrd call, whose cost is mostly the call's, not the
values'.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poller.config.model import Device, HistorySettings
from poller.history.layout import Series, create_args, group_path, row_path, step_of
from poller.history.rrd import RrdError, RrdFiles

#: the part of a device a file belongs to: ("table", name) or ("scalars", group)
Part = tuple[str, str]
#: a file's key: (device, table or "" for a scalar group, row index or group name)
_Key = tuple[str, str, str]
#: poll statuses whose polls read every part
_COMPLETE = frozenset({"ok"})
#: a held file is written once it holds this many updates (a short interval), whatever its hold
HOLD_MAX = 32


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """What is kept of one device: its step, and the series of each table and scalar group."""

    step_s: int
    tables: Mapping[str, Series]
    groups: Mapping[str, Series]


def plans_for(devices: Iterable[Device], settings: HistorySettings) -> dict[str, DevicePlan]:
    """Each device's plan, by name: a scalar group keeps what its profile keeps, a table what
    the device's profiles keep of its columns. Tables and groups that keep nothing are left out.
    Devices carry their tables and groups, so no profile is needed (a worker has none)."""
    plans = {}
    for device in devices:
        kept = tuple(dict.fromkeys(f for name in device.profiles
                                   for f in settings.fields_of(name)))
        tables = {table.name: Series.of(fields) for table in device.tables
                  if (fields := _within(kept, table.columns))}
        groups = {group: Series.of(fields) for group, columns in device.scalar_groups
                  if (fields := _within(settings.fields_of(group), columns))}
        plans[device.name] = DevicePlan(step_s=step_of(device.interval_s), tables=tables,
                                        groups=groups)
    return plans


def _within(kept: tuple[str, ...], columns: Iterable[Any]) -> tuple[str, ...]:
    names = {name for c in columns for name in (c.name, c.rate_field)}
    return tuple(f for f in kept if f in names)


def value_text(value: Any) -> str:
    """A record value as an RRD update takes it: numbers as they are, anything else unknown."""
    if value.__class__ is float:
        return repr(value) if math.isfinite(value) else "U"
    if value.__class__ is int:
        return str(value)
    return "U"


@dataclass(slots=True)
class _Target:
    """One file: what it holds, and its updates not yet written."""

    path: Path
    part: Part
    series: Series
    step_s: int
    #: `time:value:value...` lines in series order, not yet written
    pending: list[str] = field(default_factory=list)
    #: (last update time, data-source names) as the file says; None until asked
    state: tuple[int, tuple[str, ...]] | None = None
    #: the time of the first update held
    first_s: int = 0


@dataclass(slots=True)
class StoreCounts:
    """Updates by outcome, since the store was made."""

    stored: int = 0
    #: at or before the file's last update (RRD refuses those)
    skipped: int = 0
    #: librrd refused them (see last_error)
    failed: int = 0
    #: records of devices the store has no plan for
    ignored: int = 0


class HistoryStore:
    """`add` takes records, `flush` writes every update held, `flush_due` the files that fall
    due: a file not written yet; one whose held updates span `hold_s` or more (its newest is
    that much newer than its oldest), or HOLD_MAX of them; one whose step is longer than
    `hold_s` (a second value would come too late); and, when the next poll is late or missing,
    one whose oldest held update is one and a half holds old by the clock (in the records' own
    time). A hold of 0 (the default) makes `flush_due` write everything."""

    def __init__(self, settings: HistorySettings, plans: Mapping[str, DevicePlan],
                 files: RrdFiles, *, hold_s: int = 0) -> None:
        self.directory = settings.directory
        self.plans = plans
        self.files = files
        self.hold_s = hold_s
        #: the longest an update is held
        self._longest_s = hold_s + hold_s // 2
        self.counts = StoreCounts()
        self.last_error: str | None = None
        #: updates taken and not yet written (part of the `history_queued` figure)
        self.held = 0
        #: every file met, by (device, table or "", row index or group name)
        self._targets: dict[_Key, _Target] = {}
        #: the files with updates held, and when each is due: in the order their first held
        #: update came, which is the order they fall due (the first is due first)
        self._due: OrderedDict[_Key, int] = OrderedDict()
        #: files to write at the next flush_due, whatever the clock says
        self._full: list[_Key] = []
        #: per device and part: the files it has updated, for a missed poll's unknowns
        self._parts: dict[str, dict[Part, set[_Key]]] = {}

    # -- records in -------------------------------------------------------------------------------

    def add(self, event: str, record: Mapping[str, Any], at_s: int) -> None:
        """Take one record of `event` made at `at_s` (whole seconds since the epoch)."""
        plan = self.plans.get(record.get("device"))  # type: ignore[arg-type]
        if plan is None:
            if event in ("row", "scalars", "poll"):
                self.counts.ignored += 1
            return
        if event == "row":
            series = plan.tables.get(record.get("table"))  # type: ignore[arg-type]
            if series is not None:
                self._put((record["device"], record["table"], str(record.get("index"))),
                          record, series, plan, at_s)
        elif event == "scalars":
            series = plan.groups.get(record.get("group"))  # type: ignore[arg-type]
            if series is not None:
                self._put((record["device"], "", record["group"]), record, series, plan, at_s)
        elif event == "poll" and record.get("status") not in _COMPLETE:
            self._missed(record, at_s)

    def replace_plans(self, plans: Mapping[str, DevicePlan]) -> None:
        """A reload's plans: what is held is written first, under the plans it was taken by."""
        self.flush()
        self.plans = plans

    def _put(self, key: _Key, record: Mapping[str, Any], series: Series, plan: DevicePlan,
             at_s: int) -> None:
        target = self._targets.get(key)
        if target is None or target.series is not series:
            if target is not None and target.pending:
                self._flush_one(key)  # held under the old series: written as they are
            target = self._target(key, series, plan.step_s)
        self._hold(key, target, f"{at_s}:" + ":".join(
            [value_text(record.get(f)) for f in series.fields]), at_s)

    def _target(self, key: _Key, series: Series, step_s: int) -> _Target:
        """The file of `key`, new or made anew (a reload changed its series: what it held was
        written at the reload)."""
        device, table, name = key
        if table:
            path, part = row_path(self.directory, device, table, name), ("table", table)
        else:
            path, part = group_path(self.directory, device, name), ("scalars", name)
        target = self._targets[key] = _Target(path, part, series, step_s)
        self._parts.setdefault(device, {}).setdefault(part, set()).add(key)
        return target

    def _hold(self, key: _Key, target: _Target, line: str, at_s: int) -> None:
        pending = target.pending
        if not pending:
            target.first_s = at_s
            self._due[key] = at_s + self._longest_s
        pending.append(line)
        self.held += 1
        # a file not written yet is written at once: made when its row first comes (the pages
        # list it), and asked for its last update once
        if at_s - target.first_s >= self.hold_s or len(pending) == HOLD_MAX or \
                target.state is None or target.step_s > self.hold_s:
            self._full.append(key)

    def _missed(self, summary: Mapping[str, Any], at_s: int) -> None:
        """Unknown at `at_s` in the files of the parts this poll did not read."""
        parts = self._parts.get(summary["device"], {})
        if summary.get("status") == "partial":
            failed = {p.get("part") for p in summary.get("failed_parts") or ()
                      if isinstance(p, dict)}
            chosen = [keys for (kind, name), keys in parts.items()
                      if (name if kind == "table" else "scalars") in failed]
        else:
            chosen = list(parts.values())
        for keys in chosen:
            for key in keys:
                target = self._targets[key]
                self._hold(key, target, f"{at_s}" + ":U" * len(target.series.fields), at_s)

    # -- updates out ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every update held, one librrd call per file."""
        while self._due:
            self._flush_one(next(iter(self._due)))
        self._full.clear()

    def flush_due(self, now_s: float) -> None:
        """Write the files that fall due at `now_s` (see the class). A due time further ahead of
        `now_s` than a hold (the clock stepped back) counts as due, so a step of the clock holds
        nothing longer."""
        due, longest_s = self._due, self._longest_s
        while due:
            key, due_s = next(iter(due.items()))
            if now_s < due_s <= now_s + longest_s:
                break
            self._flush_one(key)
        for key in self._full:
            if key in due:
                self._flush_one(key)
        self._full.clear()

    def next_due(self) -> int | None:
        """When the first file falls due (the records' time), None when nothing is held."""
        return next(iter(self._due.values()), None)

    def _flush_one(self, key: _Key) -> None:
        del self._due[key]
        target = self._targets[key]
        pending, target.pending = target.pending, []
        self.held -= len(pending)
        try:
            self._write(target, pending)
        except RrdError as exc:
            self.counts.failed += len(pending)
            self.last_error = str(exc)
            target.state = None  # ask the file again next time

    def _write(self, target: _Target, pending: list[str]) -> None:
        timed = sorted((int(line[:line.index(":")]), line) for line in pending)
        last_s, ds_names = target.state or self._open(target, timed[0][0])
        order = _order(target.series, ds_names)
        lines = []
        for at_s, line in timed:
            if at_s <= last_s:
                self.counts.skipped += 1
                continue
            last_s = at_s
            if order is not None:
                values = line.split(":")[1:]
                line = ":".join([str(at_s), *(values[i] if i is not None else "U"
                                              for i in order)])
            lines.append(line)
        if lines:
            self.files.update(target.path, lines)
            self.counts.stored += len(lines)
        target.state = (last_s, ds_names)

    def _open(self, target: _Target, first_s: int) -> tuple[int, tuple[str, ...]]:
        """The file's state, creating the file first when there is none."""
        path = target.path
        state = self.files.state(path)
        if state is None:
            # a value stands for the step before it (a rate over the last interval): the file
            # starts a step before its first value, which then fills that step
            start_s = first_s - target.step_s
            if self.files.create(path, create_args(target.step_s, target.series.ds_names,
                                                   start_s)):
                return start_s, target.series.ds_names
            state = self.files.state(path)
            if state is None:
                raise RrdError(f"{path}: neither created nor found")
        return state


def _order(series: Series, ds_names: tuple[str, ...]) -> tuple[int | None, ...] | None:
    """Where each of the file's data sources is among the series' values (None: the series
    has no such field any more); None when they are the same. A file made before a change of
    `fields` keeps its data sources: new fields are not in it, dropped ones are unknown."""
    if ds_names == series.ds_names:
        return None
    position = {name: i for i, name in enumerate(series.ds_names)}
    return tuple(position.get(name) for name in ds_names)

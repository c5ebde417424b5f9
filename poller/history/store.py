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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poller.config.model import Device, HistorySettings
from poller.history.layout import Series, create_args, group_path, row_path, step_of
from poller.history.rrd import RrdError, RrdFiles

#: the part of a device a file belongs to: ("table", name) or ("scalars", group)
Part = tuple[str, str]
#: poll statuses whose polls read every part
_COMPLETE = frozenset({"ok"})


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
    series: Series
    step_s: int
    #: (time, values in series order) not yet written
    pending: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)


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
    def __init__(self, settings: HistorySettings, plans: Mapping[str, DevicePlan],
                 files: RrdFiles) -> None:
        self.directory = settings.directory
        self.plans = plans
        self.files = files
        self.counts = StoreCounts()
        self.last_error: str | None = None
        self._targets: dict[Path, _Target] = {}
        self._dirty: set[Path] = set()
        #: per file: (last update time, data-source names) as the file says
        self._state: dict[Path, tuple[int, tuple[str, ...]]] = {}
        #: per device and part: the files it has updated, for a missed poll's unknowns
        self._parts: dict[str, dict[Part, set[Path]]] = {}
        #: each series' file, by (device, table or "", index or group): building a path costs
        #: more than the rest of a record's handling
        self._paths: dict[tuple[str, str, str], Path] = {}

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
                key = (record["device"], record["table"], str(record.get("index")))
                path = self._paths.get(key) or self._paths.setdefault(
                    key, row_path(self.directory, *key))
                self._put(path, ("table", record["table"]), record, series, plan, at_s)
        elif event == "scalars":
            series = plan.groups.get(record.get("group"))  # type: ignore[arg-type]
            if series is not None:
                key = (record["device"], "", record["group"])
                path = self._paths.get(key) or self._paths.setdefault(
                    key, group_path(self.directory, record["device"], record["group"]))
                self._put(path, ("scalars", record["group"]), record, series, plan, at_s)
        elif event == "poll" and record.get("status") not in _COMPLETE:
            self._missed(record, at_s)

    def _put(self, path: Path, part: Part, record: Mapping[str, Any], series: Series,
             plan: DevicePlan, at_s: int) -> None:
        target = self._targets.get(path)
        if target is None or target.series is not series:
            target = self._targets[path] = _Target(series, plan.step_s)
            self._parts.setdefault(record["device"], {}).setdefault(part, set()).add(path)
        target.pending.append((at_s, tuple(value_text(record.get(f)) for f in series.fields)))
        self._dirty.add(path)

    def _missed(self, summary: Mapping[str, Any], at_s: int) -> None:
        """Unknown at `at_s` in the files of the parts this poll did not read."""
        parts = self._parts.get(summary["device"], {})
        if summary.get("status") == "partial":
            failed = {p.get("part") for p in summary.get("failed_parts") or ()
                      if isinstance(p, dict)}
            chosen = [paths for (kind, name), paths in parts.items()
                      if (name if kind == "table" else "scalars") in failed]
        else:
            chosen = list(parts.values())
        for paths in chosen:
            for path in paths:
                target = self._targets[path]
                target.pending.append((at_s, ("U",) * len(target.series.fields)))
                self._dirty.add(path)

    # -- updates out ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every pending update, one librrd call per file."""
        dirty, self._dirty = self._dirty, set()
        for path in dirty:
            target = self._targets[path]
            pending, target.pending = target.pending, []
            try:
                self._write(path, target, pending)
            except RrdError as exc:
                self.counts.failed += len(pending)
                self.last_error = str(exc)
                self._state.pop(path, None)  # ask the file again next time

    def _write(self, path: Path, target: _Target, pending: list[tuple[int, tuple[str, ...]]]
               ) -> None:
        pending.sort(key=lambda item: item[0])
        state = self._state.get(path) or self._open(path, target, pending[0][0])
        last_s, ds_names = state
        order = _order(target.series, ds_names)
        lines = []
        for at_s, values in pending:
            if at_s <= last_s:
                self.counts.skipped += 1
                continue
            last_s = at_s
            shown = values if order is None else tuple(
                values[i] if i is not None else "U" for i in order)
            lines.append(f"{at_s}:{':'.join(shown)}")
        if lines:
            self.files.update(path, lines)
            self.counts.stored += len(lines)
        self._state[path] = (last_s, ds_names)

    def _open(self, path: Path, target: _Target, first_s: int) -> tuple[int, tuple[str, ...]]:
        """The file's state, creating the file first when there is none."""
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

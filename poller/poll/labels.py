"""Labels on a slow cadence: columns that change rarely (ifName, ifAlias, ifSpeed...) and lookups
from other tables are walked every `labels_interval`, at once after the agent restarted or when
a row index appears that was not there at the last read, and taken from this cache in between,
so every row still carries them."""

from __future__ import annotations

from typing import Any

from poller.config.model import Table
from poller.oid import Oid
from poller.snmp.render import record_value
from poller.snmp.types import VarBind

Walked = dict[Oid, list[VarBind]]


class _TableLabels:
    __slots__ = ("lookups", "read_at", "rows")

    def __init__(self, read_at: float) -> None:
        self.read_at = read_at
        #: the label columns' values by row index, as records carry them
        self.rows: dict[tuple[int, ...], dict[str, Any]] = {}
        #: each lookup column's values by the other table's index
        self.lookups: dict[str, dict[tuple[int, ...], Any]] = {}


class LabelCache:
    """The labels of one device's tables, kept across its polls."""

    __slots__ = ("_tables",)

    def __init__(self) -> None:
        self._tables: dict[str, _TableLabels] = {}

    def due(self, table: Table, now_s: float, agent_restarted: bool) -> bool:
        """Whether this poll reads the labels (always, for a table without any)."""
        if not table.label_oids or agent_restarted:
            return True
        cached = self._tables.get(table.name)
        return cached is None or now_s - cached.read_at >= table.labels_interval_s

    def has_new_rows(self, table: Table, walked: Walked) -> bool:
        """Whether the counters show a row the last label read did not have."""
        cached = self._tables.get(table.name)
        if cached is None:
            return True
        rows = cached.rows
        for oid in table.counter_oids:
            # the walk keeps only OIDs under the column: the rest of each is the row's index
            start = len(oid)
            for vb in walked.get(oid, ()):
                if vb[0][start:] not in rows:
                    return True
        return False

    def store(self, table: Table, walked: Walked, at_s: float) -> None:
        """Keep what a label read returned, replacing the previous read."""
        cached = _TableLabels(at_s)
        labels = set(table.labels)
        for column in table.columns:
            for vb in walked.get(column.oid, ()):
                values = cached.rows.setdefault(vb.oid.index_after(column.oid), {})
                if column.name in labels:
                    values[column.name] = record_value(vb, column.hint)
        for lookup in table.lookups:
            column = lookup.column
            cached.lookups[column.name] = {vb.oid.index_after(column.oid):
                                           record_value(vb, column.hint)
                                           for vb in walked.get(column.oid, ())}
        self._tables[table.name] = cached

    def has_rows(self, table: Table) -> bool:
        """Whether the last label read of the table found any row."""
        cached = self._tables.get(table.name)
        return cached is not None and bool(cached.rows)

    def label_row(self, table: Table, index: tuple[int, ...]) -> dict[str, Any]:
        """The cached label values of one row (empty when none)."""
        cached = self._tables.get(table.name)
        return cached.rows.get(index, {}) if cached is not None else {}

    def add_lookups(self, table: Table, index: tuple[int, ...], row: dict[str, Any]) -> None:
        """Set each lookup's field: the other table's value at this row's index, or at the index
        that the lookup's `by` field holds; None when the other table has no such row."""
        cached = self._tables.get(table.name)
        if cached is None:
            return
        for lookup in table.lookups:
            key = index
            if lookup.by is not None:
                by = row.get(lookup.by)
                key = (by,) if isinstance(by, int) else ()
            row[lookup.column.name] = cached.lookups.get(lookup.column.name, {}).get(key)


def walk_oids(table: Table, full: bool) -> tuple[Oid, ...]:
    """The columns one poll walks: all of them and the lookups, or only those read every poll."""
    if full:
        return table.oids + tuple(lookup.column.oid for lookup in table.lookups)
    return table.counter_oids

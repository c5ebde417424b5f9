"""Profiles: the scalars and tables a device is asked for, built-in ones and the fleet file's,
with every name resolved offline and checked for what it is (a scalar needs its instance, a table
column must not have one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poller.config.model import (
    DEFAULT_LABELS,
    DEFAULT_LABELS_INTERVAL_S,
    Column,
    Lookup,
    Profile,
    Table,
)
from poller.config.reader import Reader, show
from poller.mib import names as mib
from poller.mib.names import MibNames
from poller.schema import RESERVED_FIELDS

BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    "system": {"scalars": ["sysDescr.0", "sysObjectID.0", "sysUpTime.0", "sysContact.0",
                           "sysName.0", "sysLocation.0"]},
    "interfaces": {"tables": [{
        "name": "interfaces",
        "columns": ["ifDescr", "ifName", "ifAlias", "ifType", "ifMtu", "ifSpeed", "ifHighSpeed",
                    "ifPhysAddress", "ifAdminStatus", "ifOperStatus", "ifLastChange",
                    "ifHCInOctets", "ifHCOutOctets", "ifHCInUcastPkts", "ifHCOutUcastPkts",
                    # the 32-bit counters, for the rows of an agent without ifXTable and for
                    # SNMPv1 (no Counter64): a rate comes from them only where the 64-bit
                    # counter is missing, with `_from` naming the column (poller.poll.rows)
                    "ifInOctets", "ifOutOctets", "ifInUcastPkts", "ifOutUcastPkts",
                    "ifInDiscards", "ifOutDiscards", "ifInErrors", "ifOutErrors",
                    "ifInUnknownProtos", "ifCounterDiscontinuityTime"],
        "bits": ["ifHCInOctets", "ifHCOutOctets", "ifInOctets", "ifOutOctets"],
    }]},
}


@dataclass(frozen=True, slots=True)
class ProfileSection:
    """Reads `[profiles]` with the loader's Reader, resolving names with the file's MIB names."""

    reader: Reader
    mibs: MibNames

    def profiles(self, raw: Any) -> dict[str, Profile]:
        raw = self.reader.table(raw, "profiles", raw if isinstance(raw, dict) else ())
        merged = {**BUILTIN_PROFILES, **raw}
        return {name: self.profile(name, entry, builtin=name not in raw)
                for name, entry in merged.items()}

    def profile(self, name: str, raw: Any, *, builtin: bool = False) -> Profile:
        where = f"profiles.{name}"
        raw = self.reader.table(raw, where, ("scalars", "tables"))
        scalars = raw.get("scalars", [])
        if not isinstance(scalars, list):
            raise self.reader.fail(f"{where}.scalars", f"expected an array, got {show(scalars)}")
        columns = tuple(self.column(item, f"{where}.scalars[{i}]", mib.SCALAR)
                        for i, item in enumerate(scalars))
        self.reader.unique((c.name for c in columns), f"{where}.scalars", "field name")
        tables_raw = raw.get("tables", [])
        if not isinstance(tables_raw, list):
            raise self.reader.fail(f"{where}.tables", "expected an array of tables ([[profiles.NAME.tables]])")
        tables = tuple(self.table_def(t, f"{where}.tables[{i}]") for i, t in enumerate(tables_raw))
        self.reader.unique((t.name for t in tables), f"{where}.tables", "table name")
        if not columns and not tables:
            raise self.reader.fail(where, "has neither scalars nor tables")
        return Profile(name=name, scalars=columns, tables=tables, builtin=builtin)

    def table_def(self, raw: Any, where: str) -> Table:
        reader = self.reader
        raw = reader.table(raw, where, ("name", "columns", "bits", "labels", "labels_interval",
                                        "lookups"))
        name = reader.name(raw.get("name"), f"{where}.name")
        columns_raw = raw.get("columns")
        if not isinstance(columns_raw, list) or not columns_raw:
            raise reader.fail(f"{where}.columns", "expected a non-empty array of columns")
        columns = [self.column(item, f"{where}.columns[{i}]", mib.COLUMN)
                   for i, item in enumerate(columns_raw)]
        reader.unique((c.name for c in columns), f"{where}.columns", "column name")
        known = [c.name for c in columns]
        bits = self.some_columns(raw.get("bits", []), f"{where}.bits", known)
        columns = [Column(name=c.name, oid=c.oid, bits=c.name in bits, mibs=self.mibs)
                   for c in columns]
        labels = self.labels(raw, where, known)
        interval = reader.duration(raw.get("labels_interval", DEFAULT_LABELS_INTERVAL_S),
                                   f"{where}.labels_interval", 1, 7 * 86_400)
        lookups = self.lookups(raw.get("lookups", []), f"{where}.lookups", known)
        index_names = [p.name for c in columns for p in self.mibs.index_of(c.oid) or ()]
        for i, lookup in enumerate(lookups):
            if lookup.by is not None and lookup.by not in known + index_names:
                raise reader.fail(f"{where}.lookups[{i}].by", f"{lookup.by!r} is neither a "
                                  f"column nor an index of this table (columns: {', '.join(known)})")
        return Table(name=name, columns=tuple(columns), labels=tuple(labels),
                     labels_interval_s=interval, lookups=lookups, mibs=self.mibs)

    def some_columns(self, raw: Any, where: str, known: list[str]) -> list[str]:
        """An array of names, each one of the table's columns (`bits`, `labels`)."""
        names = self.reader.strings(raw, where)
        for i, column in enumerate(names):
            if column not in known:
                raise self.reader.fail(f"{where}[{i}]", f"{column!r} is not a column of this "
                                                        f"table (columns: {', '.join(known)})")
        return names

    def labels(self, raw: dict[str, Any], where: str, known: list[str]) -> list[str]:
        """The columns read on the slow cadence: as written, else the usual label columns."""
        if "labels" in raw:
            labels = self.some_columns(raw["labels"], f"{where}.labels", known)
        else:
            labels = [c for c in known if c in DEFAULT_LABELS]
        for column in labels:
            obj = self.mibs.lookup(column)
            if obj is not None and obj.syntax in mib.COUNTER_SYNTAXES:
                raise self.reader.fail(f"{where}.labels", f"{column!r} is a counter: its rate "
                                       "needs every poll (labels are read on a slow cadence)")
        return labels

    def lookups(self, raw: Any, where: str, known: list[str]) -> tuple[Lookup, ...]:
        """`lookups = ["entPhysicalName", { column = "ifName", by = "ipAdEntIfIndex" }]`: labels
        from another table, by this row's index or by the value of one of its fields."""
        if not isinstance(raw, list):
            raise self.reader.fail(where, f"expected an array, got {show(raw)}")
        out = []
        for i, item in enumerate(raw):
            at = f"{where}[{i}]"
            by = None
            if isinstance(item, dict):
                item = self.reader.table(item, at, ("column", "by"))
                if "by" in item:
                    by = self.reader.name(item["by"], f"{at}.by")
                item, at = item.get("column"), f"{at}.column"
            column = self.column(item, at, mib.COLUMN)
            if column.name in known or column.name in RESERVED_FIELDS:
                raise self.reader.fail(at, f"{column.name!r} is already a field of this table's rows")
            out.append(Lookup(column=column, by=by))
        self.reader.unique((lookup.column.name for lookup in out), where, "lookup column")
        return tuple(out)

    def column(self, raw: Any, where: str, kind: str) -> Column:
        """A scalar (kind mib.SCALAR: GET as given) or a table column (mib.COLUMN: walked)."""
        if isinstance(raw, dict):
            raw = self.reader.table(raw, where, ("name", "oid"))
            name = self.reader.name(raw.get("name"), f"{where}.name")
            if name in RESERVED_FIELDS:
                raise self.reader.fail(f"{where}.name", f"{name!r} would shadow a record field "
                                                 f"(reserved: {', '.join(sorted(RESERVED_FIELDS))})")
            where = f"{where}.oid"
            text = self.reader.string(raw.get("oid"), where)
            _, oid = self.resolve(text, where)
        else:
            text = self.reader.string(raw, where)
            name, oid = self.resolve(text, where)
        self.check_kind(text.strip(), where, kind)
        return Column(name=name, oid=oid, mibs=self.mibs)

    def check_kind(self, text: str, where: str, kind: str) -> None:
        """A known scalar needs its instance to be read (sysUpTime.0); a table column must not
        have one (a walk of ifDescr.3 finds nothing under it)."""
        name, dot, _ = text.rpartition("::")[2].partition(".")
        known = self.mibs.kind_of(name)
        if known is None or text[:1].isdigit() or text.startswith("."):
            return
        if kind == mib.SCALAR and known == mib.SCALAR and not dot:
            raise self.reader.fail(where, f"{text!r} is the object, a GET needs the instance: "
                                   f"'{text}.0'")
        if kind == mib.SCALAR and known == mib.COLUMN and not dot:
            raise self.reader.fail(where, f"{text!r} is a table column: walk it in [[profiles.NAME.tables]] "
                                   f"columns, or GET one row like '{text}.1'")
        if kind == mib.COLUMN and known == mib.SCALAR:
            raise self.reader.fail(where, f"{text!r} is a scalar, not a table column "
                                   "(list it in the profile's scalars)")
        if kind == mib.COLUMN and dot:
            raise self.reader.fail(where, f"{text!r} names one instance; a table column is walked "
                                   f"whole: {text.partition('.')[0]!r}")

    def resolve(self, text: str, where: str) -> tuple[str, Any]:
        try:
            return self.mibs.resolve(text)
        except ValueError as exc:
            raise self.reader.fail(where, str(exc)) from None

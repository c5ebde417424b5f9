"""`[history]` in the fleet file: where the RRD files go, whether rrdcached takes the writes, and
which record fields each profile keeps.

```toml
[history]
directory = "/var/lib/poller/history"   # default; relative paths start at the working directory
rrdcached = "unix:/run/rrdcached.sock"  # or "/run/rrdcached.sock", "127.0.0.1:42217", "[::1]:42217"
[history.fields]
interfaces = ["ifHCInOctets_bps", "ifHCOutOctets_bps", "ifInErrors_rate", "ifOutErrors_rate"]
```

A profile not named under `fields` keeps every counter's rate field (`_rate`, or `_bps` for bits
columns) and every gauge column; `name = []` keeps nothing of it.

It lives with the config (not in poller.history) because the loader builds it and the config
stage imports no later stage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poller.config.model import Column, Profile
from poller.config.reader import Reader, show
from poller.mib import names as mib

DEFAULT_DIRECTORY = Path("/var/lib/poller/history")
KEYS = ("directory", "rrdcached", "fields")
COUNTER_SYNTAXES = frozenset({"Counter32", "Counter64"})
GAUGE_SYNTAXES = frozenset({"Gauge32", "CounterBasedGauge64"})

_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class HistorySettings:
    directory: Path = DEFAULT_DIRECTORY
    #: rrdcached's address as librrd takes it ("unix:/path" or "host:port"); None: write directly
    rrdcached: str | None = None
    #: profile name -> the record fields kept, in the order of the RRD's data sources
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def fields_of(self, profile: str) -> tuple[str, ...]:
        return next((kept for name, kept in self.fields if name == profile), ())


def default_fields(profile: Profile) -> tuple[str, ...]:
    """Every counter's rate field and every gauge column of `profile`, in column order. The
    32-bit twin of a 64-bit counter the table also reads is left out: its rate is never written
    (poller.poll.rows.prefer_wide moves it into the 64-bit field)."""
    narrow = {pair[1].name for table in profile.tables for pair in table.wide_pairs}
    columns = [*profile.scalars, *(c for table in profile.tables for c in table.columns)]
    kept: list[str] = []
    for column in columns:
        syntax = _syntax(column)
        if syntax in COUNTER_SYNTAXES and column.name not in narrow:
            kept.append(column.rate_field)
        elif syntax in GAUGE_SYNTAXES:
            kept.append(column.name)
    return tuple(dict.fromkeys(kept))


def candidate_fields(profile: Profile) -> tuple[str, ...]:
    """What a profile's `fields` may name: any column, or any column's rate field."""
    columns = [*profile.scalars, *(c for table in profile.tables for c in table.columns)]
    return tuple(dict.fromkeys(name for c in columns for name in (c.name, c.rate_field)))


def _syntax(column: Column) -> str | None:
    entry = mib.lookup(column.name)
    if entry is None:
        entry = mib.lookup(mib.name_of(column.oid))
    return entry.syntax if entry is not None else None


def read_history(reader: Reader, raw: Any, profiles: Mapping[str, Profile]) -> HistorySettings:
    """The `[history]` table (`raw`), checked; raises the reader's one-line ConfigError."""
    raw = reader.table(raw, "history", KEYS)
    directory = Path(reader.string(raw.get("directory", str(DEFAULT_DIRECTORY)),
                                   "history.directory"))
    address = None
    if "rrdcached" in raw:
        address = rrdcached_address(reader.string(raw["rrdcached"], "history.rrdcached"))
        if address is None:
            raise reader.fail("history.rrdcached", f"{show(raw['rrdcached'])} is not an address "
                              '(a unix socket "unix:/run/rrdcached.sock" or "/path", or '
                              '"host:port")')
    picked = _picked_fields(reader, raw.get("fields", {}), profiles)
    fields = tuple((name, picked.get(name, default_fields(profile)))
                   for name, profile in profiles.items())
    return HistorySettings(
        directory=directory if directory.is_absolute() else Path.cwd() / directory,
        rrdcached=address, fields=fields)


def _picked_fields(reader: Reader, raw: Any, profiles: Mapping[str, Profile]
                   ) -> dict[str, tuple[str, ...]]:
    raw = reader.table(raw, "history.fields", profiles)
    picked: dict[str, tuple[str, ...]] = {}
    for name, entry in raw.items():
        where = f"history.fields.{name}"
        names = reader.strings(entry, where) if entry != [] else []
        allowed = candidate_fields(profiles[name])
        for i, field_name in enumerate(names):
            if field_name not in allowed:
                raise reader.fail(f"{where}[{i}]", f"{field_name!r} is not a field of profile "
                                  f"{name!r} (fields: {', '.join(allowed)})")
        reader.unique(names, where, "field")
        picked[name] = tuple(names)
    return picked


def rrdcached_address(text: str) -> str | None:
    """librrd's spelling of an rrdcached address, or None when `text` is not one: an absolute
    socket path with or without `unix:`, or host:port (IPv6 hosts in brackets)."""
    text = text.strip()
    path = text.removeprefix("unix:")
    if path.startswith("/"):
        return f"unix:{path}"
    match = _HOST_PORT.match(text)
    if match and 1 <= int(match[2]) <= 65535:
        return text
    return None


def default_settings(profiles: Mapping[str, Profile],
                     directory: Path = DEFAULT_DIRECTORY) -> HistorySettings:
    """What an empty `[history]` table means: every profile keeps its default fields."""
    return HistorySettings(directory=directory, fields=tuple(
        (name, default_fields(profile)) for name, profile in profiles.items()))

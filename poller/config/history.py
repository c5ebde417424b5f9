"""`[history]` in the fleet file: where the RRD files go, whether rrdcached takes the writes, and
which record fields each profile keeps.

```toml
[history]
directory = "/var/lib/poller/history"   # default: STATE_DIRECTORY/history; relative to the cwd
rrdcached = "unix:/run/rrdcached.sock"  # or "/run/rrdcached.sock", "127.0.0.1:42217", "[::1]:42217"
[history.fields]
interfaces = ["ifHCInOctets_bps", "ifHCOutOctets_bps", "ifInErrors_rate", "ifOutErrors_rate"]
```

A profile not named under `fields` keeps its default fields: for the built-in `interfaces`
profile the in and out bits, errors and discards (what the row page graphs); for any other
profile every counter's rate field (`_rate`, or `_bps` for bits columns) and every gauge column.
`name = []` keeps nothing of it.

It lives with the config (not in poller.history) because the loader builds it and the config
stage imports no later stage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poller.config.model import Column, HistorySettings, Profile
from poller.config.reader import Reader, show
from poller.mib.names import STANDARD, MibNames

#: where the files go when neither [history] directory nor a state directory says
DEFAULT_DIRECTORY = HistorySettings().directory
__all__ = ["HistorySettings", "default_fields", "read_history", "rrdcached_address"]

KEYS = ("directory", "rrdcached", "fields", "hold")
#: what the writer holds by default when librrd writes the files itself
DEFAULT_HOLD_S = 60
MAX_HOLD_S = 600
COUNTER_SYNTAXES = frozenset({"Counter32", "Counter64"})
GAUGE_SYNTAXES = frozenset({"Gauge32", "CounterBasedGauge64"})

_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


#: what the built-in interfaces profile keeps: the row page's graphs (the 32-bit counters'
#: rates land in the 64-bit fields, poller.poll.rows.prefer_wide)
INTERFACES_KEPT = ("ifHCInOctets_bps", "ifHCOutOctets_bps", "ifInErrors_rate",
                   "ifOutErrors_rate", "ifInDiscards_rate", "ifOutDiscards_rate")


def default_fields(profile: Profile, mibs: MibNames = STANDARD) -> tuple[str, ...]:
    """Every counter's rate field and every gauge column of `profile`, in column order, the
    syntaxes as `mibs` (the Config's names) say. The 32-bit twin of a 64-bit counter the table
    also reads is left out: its rate is never written (poller.poll.rows.prefer_wide moves it
    into the 64-bit field)."""
    narrow = {pair[1].name for table in profile.tables for pair in table.wide_pairs}
    columns = [*profile.scalars, *(c for table in profile.tables for c in table.columns)]
    if profile.builtin and profile.name == "interfaces":
        return INTERFACES_KEPT
    kept: list[str] = []
    for column in columns:
        syntax = _syntax(column, mibs)
        if syntax in COUNTER_SYNTAXES and column.name not in narrow:
            kept.append(column.rate_field)
        elif syntax in GAUGE_SYNTAXES:
            kept.append(column.name)
    return tuple(dict.fromkeys(kept))


def candidate_fields(profile: Profile) -> tuple[str, ...]:
    """What a profile's `fields` may name: any column, or any column's rate field."""
    columns = [*profile.scalars, *(c for table in profile.tables for c in table.columns)]
    return tuple(dict.fromkeys(name for c in columns for name in (c.name, c.rate_field)))


def _syntax(column: Column, mibs: MibNames) -> str | None:
    entry = mibs.by_oid.get(column.oid) or mibs.lookup(column.name)
    return entry.syntax if entry is not None else None


def read_history(reader: Reader, raw: Any, profiles: Mapping[str, Profile], *,
                 mibs: MibNames = STANDARD, directory: Path = DEFAULT_DIRECTORY,
                 shared: bool = False) -> HistorySettings:
    """The `[history]` table (`raw`), checked; raises the reader's one-line ConfigError.
    `directory`: the default (the loader's: the state directory's `history`); `shared`: a
    member of a cluster, whose devices move between hosts."""
    raw = reader.table(raw, "history", KEYS)
    local = directory
    address = None
    if "rrdcached" in raw:
        address = rrdcached_address(reader.string(raw["rrdcached"], "history.rrdcached"))
        if address is None:
            raise reader.fail("history.rrdcached", f"{show(raw['rrdcached'])} is not an address "
                              '(a unix socket "unix:/run/rrdcached.sock" or "/path", or '
                              '"host:port")')
    hold_s = 0 if address is not None else DEFAULT_HOLD_S
    if "hold" in raw:
        hold_s = round(reader.duration(raw["hold"], "history.hold", 0, MAX_HOLD_S))
        if hold_s and shared and address is not None and is_remote(address):
            # a device's old owner would write its held minute after the new owner's values
            raise reader.fail("history.hold", f"{show(raw['hold'])} with [cluster] and rrdcached "
                              "on TCP: a device that moves to another host would reach its file "
                              "out of order and lose the held updates (0 only)")
    picked = _picked_fields(reader, raw.get("fields", {}), profiles)
    fields = tuple((name, picked.get(name, default_fields(profile, mibs)))
                   for name, profile in profiles.items())
    if address is not None and is_remote(address):
        return HistorySettings(directory=_remote_directory(reader, raw), rrdcached=address,
                               fields=fields, index_directory=local, hold_s=hold_s)
    if "directory" in raw:
        directory = reader.pathname(raw["directory"], "history.directory")
    directory = directory if directory.is_absolute() else Path.cwd() / directory
    return HistorySettings(directory=directory, rrdcached=address, fields=fields,
                           index_directory=directory, hold_s=hold_s)


def _remote_directory(reader: Reader, raw: dict[str, Any]) -> Path:
    """A directory under the base directory (`-b`) of an rrdcached on TCP: librrd sends it no
    absolute path (the files are on the cache daemon's host, where the names are its)."""
    directory = reader.pathname(raw.get("directory", "."), "history.directory")
    if directory.is_absolute() or ".." in directory.parts:
        raise reader.fail("history.directory", f"{show(str(directory))}: with rrdcached on TCP "
                          "the files are named under rrdcached's base directory (-b): a relative "
                          'path without "..", e.g. "poller"')
    return directory


def is_remote(address: str) -> bool:
    """An rrdcached reached over TCP (host:port), not a unix socket on this host."""
    return not address.startswith("unix:")


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


def default_settings(profiles: Mapping[str, Profile], directory: Path = DEFAULT_DIRECTORY,
                     mibs: MibNames = STANDARD) -> HistorySettings:
    """What an empty `[history]` table means: every profile keeps its default fields."""
    return HistorySettings(directory=directory, index_directory=directory, fields=tuple(
        (name, default_fields(profile, mibs)) for name, profile in profiles.items()))

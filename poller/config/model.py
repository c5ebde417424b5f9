"""The fleet configuration as frozen, slotted, keyword-only dataclasses (so a reload can diff
devices by equality). `load_config` (poller.config.load) builds them from a TOML file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Literal

from poller.config.cluster import ClusterSettings
from poller.mib.names import COUNTER_SYNTAXES, STANDARD, IndexPart, MibNames
from poller.oid import Oid

SnmpVersion = Literal["1", "2c", "3"]


ENGINES = ("builtin", "pysnmp", "builtin-v2c")
#: the two implementations (builtin-v2c mixes them by version): what tests compare
IMPLEMENTATIONS = ("builtin", "pysnmp")
DEFAULT_ENGINE = "builtin"


@dataclass(frozen=True, slots=True)
class Shard:
    """This host's part of the fleet: the devices whose hash mod `count` is `index`."""

    index: int = 0
    count: int = 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, name: str) -> bool:
        return self.count == 1 or name_hash(name) % self.count == self.index


def name_hash(name: str) -> int:
    """The stable hash of a device name: the first 8 bytes of SHA-1 of its UTF-8 bytes."""
    return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big")


@dataclass(frozen=True, slots=True)
class Secret:
    """A community or key. Prints as <secret>; only the SNMP boundary calls reveal()."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


@dataclass(frozen=True, slots=True, kw_only=True)
class Usm:
    """An SNMPv3 user (RFC 3414). Protocol names are canonical net-snmp spellings (`SHA-256`,
    `AES-256`, `AES-256-C`), or None when the security level leaves them out."""

    user: str
    #: "noAuthNoPriv", "authNoPriv" or "authPriv"
    level: str
    auth_protocol: str | None = None
    auth_key: Secret | None = None
    priv_protocol: str | None = None
    priv_key: Secret | None = None
    context: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    name: str
    version: SnmpVersion
    #: v1/v2c; empty for v3
    community: Secret = Secret("")
    #: v3 only
    usm: Usm | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One object to read: a scalar (oid ends in .0 or is fetched as given) or a table column."""

    name: str  # the field name in records, e.g. "ifHCInOctets" or "sysUpTime"
    oid: Oid
    #: for counters, write the rate as bits per second (`<name>_bps`, octets x 8) as MRTG does,
    #: instead of per second (`<name>_rate`)
    bits: bool = False
    # Derived once here, so a poll does no lookups or string building per varbind:
    #: how an OCTET STRING of this object renders ("mac", "text" or None)
    hint: str | None = field(init=False, compare=False)
    #: the record fields of a counter's rate and of the reason it is null
    rate_field: str = field(init=False, compare=False)
    reason_field: str = field(init=False, compare=False)
    #: the names the hint comes from: the loader passes its Config's
    mibs: InitVar[MibNames] = STANDARD

    def __post_init__(self, mibs: MibNames) -> None:
        rate_field = f"{self.name}_bps" if self.bits else f"{self.name}_rate"
        object.__setattr__(self, "hint", mibs.display_hint(self.name))
        object.__setattr__(self, "rate_field", rate_field)
        object.__setattr__(self, "reason_field", f"{rate_field}_reason")


#: a column whose change means the row's counters restarted (IF-MIB)
DISCONTINUITY = "ifCounterDiscontinuityTime"
#: columns that give an interface's speed, against which its octet rates are checked
SPEED_COLUMNS = frozenset({"ifHighSpeed", "ifSpeed"})
#: columns that change rarely: read every `labels_interval`, not every poll, unless a table says
DEFAULT_LABELS = frozenset({"ifName", "ifAlias", "ifDescr", "ifSpeed", "ifHighSpeed", "ifType",
                            "ifPhysAddress"})
DEFAULT_LABELS_INTERVAL_S = 900.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    """A label taken from another table's column by index: the row's own index, or the value of
    one of its fields (`by`, e.g. an ifIndex column) as the other table's index."""

    column: Column
    by: str | None = None


#: IF-MIB's 64-bit counters and the 32-bit ones they supersede
WIDE_COUNTERS = {
    "ifHCInOctets": "ifInOctets", "ifHCOutOctets": "ifOutOctets",
    "ifHCInUcastPkts": "ifInUcastPkts", "ifHCOutUcastPkts": "ifOutUcastPkts",
    "ifHCInMulticastPkts": "ifInMulticastPkts", "ifHCOutMulticastPkts": "ifOutMulticastPkts",
    "ifHCInBroadcastPkts": "ifInBroadcastPkts", "ifHCOutBroadcastPkts": "ifOutBroadcastPkts",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """Columns walked together and joined by index into one record per row."""

    name: str  # the `table` field in records, e.g. "interfaces"
    columns: tuple[Column, ...]
    #: names of the columns read on the slow cadence (and cached in between)
    labels: tuple[str, ...] = ()
    labels_interval_s: float = DEFAULT_LABELS_INTERVAL_S
    lookups: tuple[Lookup, ...] = ()
    # Derived once, for every poll of every device that walks this table:
    oids: tuple[Oid, ...] = field(init=False, compare=False)
    #: the columns read on every poll, and the label and lookup columns of the slow cadence
    counter_oids: tuple[Oid, ...] = field(init=False, compare=False)
    label_oids: tuple[Oid, ...] = field(init=False, compare=False)
    #: the INDEX clause, to decode a row's index into named fields (None: unknown table)
    index_parts: tuple[IndexPart, ...] | None = field(init=False, compare=False)
    #: (64-bit column, 32-bit column) pairs of the same counter both asked for
    wide_pairs: tuple[tuple[Column, Column], ...] = field(init=False, compare=False)
    #: (name, rate field) of the columns whose rates are bits/s (summed for the console line)
    bits_fields: tuple[tuple[str, str], ...] = field(init=False, compare=False)
    discontinuity: Column | None = field(init=False, compare=False)
    #: whether rows carry a speed to check octet rates against
    has_speed: bool = field(init=False, compare=False)
    #: the columns the MIB says are counters: a poll whose rows carry none of them says so
    counters: tuple[Column, ...] = field(init=False, compare=False)
    #: the names the INDEX clause comes from: the loader passes its Config's
    mibs: InitVar[MibNames] = STANDARD

    def __post_init__(self, mibs: MibNames) -> None:
        object.__setattr__(self, "oids", tuple(c.oid for c in self.columns))
        object.__setattr__(self, "bits_fields",
                           tuple((c.name, c.rate_field) for c in self.columns if c.bits))
        object.__setattr__(
            self, "discontinuity", next((c for c in self.columns if c.name == DISCONTINUITY), None)
        )
        object.__setattr__(self, "has_speed", any(c.name in SPEED_COLUMNS for c in self.columns))
        labels = set(self.labels)
        object.__setattr__(self, "counter_oids",
                           tuple(c.oid for c in self.columns if c.name not in labels))
        object.__setattr__(self, "label_oids",
                           tuple(c.oid for c in self.columns if c.name in labels)
                           + tuple(lookup.column.oid for lookup in self.lookups))
        parts = next((p for c in self.columns if (p := mibs.index_of(c.oid)) is not None), None)
        object.__setattr__(self, "index_parts", parts)
        by_name = {c.name: c for c in self.columns}
        pairs = tuple((by_name[wide], by_name[narrow]) for wide, narrow in WIDE_COUNTERS.items()
                      if wide in by_name and narrow in by_name)
        object.__setattr__(self, "wide_pairs", pairs)
        object.__setattr__(self, "counters", tuple(
            c for c in self.columns
            if (obj := mibs.by_oid.get(c.oid)) is not None and obj.syntax in COUNTER_SYNTAXES))


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    name: str
    scalars: tuple[Column, ...] = ()
    tables: tuple[Table, ...] = ()
    #: one of poller's own (`system`, `interfaces`), not replaced by the file
    builtin: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkLimits:
    """What bounds one table walk of a device, whatever its agent answers."""

    #: accept OIDs that do not increase (net-snmp's -Cc); an OID seen twice still ends the walk
    allow_non_increasing: bool = False
    #: rows per column: an endless table then costs what a 5,000-interface device costs
    max_rows: int = 5_000
    max_requests: int = 10_000
    #: seconds; 0: no cap beyond the poll deadline (the loader makes it 0.9 x the deadline)
    max_time_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    name: str
    host: str
    port: int
    credential: Credential
    profiles: tuple[str, ...]
    #: the plan, resolved at load: scalars per profile (record group = profile name), tables
    scalar_groups: tuple[tuple[str, tuple[Column, ...]], ...]
    tables: tuple[Table, ...]
    interval_s: float
    timeout_s: float
    retries: int
    max_repetitions: int
    max_oids_per_request: int
    tags: tuple[tuple[str, str], ...] = ()
    walk: WalkLimits = WalkLimits()

    @property
    def poll_deadline_s(self) -> float:
        """A poll ends (timeout) before its next tick, so one device never overruns quietly."""
        return self.interval_s * 0.9


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSettings:
    max_in_flight: int = 256
    drain_grace_s: float = 10.0
    #: how often the `stats` event (the poller's own health) is written
    stats_interval_s: float = 60.0
    #: "builtin" (the project's own codec and USM), "pysnmp" (the reference implementation) or
    #: "builtin-v2c" (the own codec for v1/v2c, pysnmp for SNMPv3)
    engine: str = "builtin"
    #: worker processes, each polling its stable share of the fleet (1: no extra process)
    workers: int = 1
    #: the part of the fleet this host polls (`--shard i/n`); 0/1 is all of it
    shard: Shard = Shard()
    #: where counter state survives restarts (poller.run.state_keeper); the loader fills it in:
    #: [daemon] state_directory, else $STATE_DIRECTORY (StateDirectory=), else one per fleet
    #: file under the user's state home (poller.config.settings.default_state_directory)
    state_directory: Path | None = None
    #: how often the counter state is written (0: only at stop)
    state_interval_s: float = 60.0
    #: how old a device's counter state may be to carry on from (0: 2.5 of its intervals, >= 60 s)
    state_max_age_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSettings:
    directory: Path = Path("/var/log/poller")
    data_file: str = "poller.jsonl"
    events_file: str = "events.jsonl"
    max_bytes: int = 50 * 1024 * 1024
    #: also rotate when the active file is this old (seconds; 0: by size only)
    max_age_s: float = 0.0
    backups: int = 5
    #: gzip rotated files (poller.jsonl.1.gz ...)
    compress: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HistorySettings:
    """`[history]`: where the RRD files go (poller.config.history reads it)."""

    #: where the RRD files are; with rrdcached on TCP, relative to its base directory (-b)
    directory: Path = Path("/var/lib/poller/history")
    #: rrdcached's address as librrd takes it ("unix:/path" or "host:port"); None: write directly
    rrdcached: str | None = None
    #: profile name -> the record fields kept, in the order of the RRD's data sources
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: where this host's fleet index files go (`directory`, unless rrdcached is on TCP: then
    #: the state directory's `history`, on this host)
    index_directory: Path = Path("/var/lib/poller/history")
    #: how long the writer holds a file's updates to write them in one librrd call (60 s when
    #: librrd writes the files, 0 through rrdcached, which holds them itself)
    hold_s: int = 0

    def fields_of(self, profile: str) -> tuple[str, ...]:
        return next((kept for name, kept in self.fields if name == profile), ())


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSettings:
    """`[web]`: where `poller web` listens and what it reads (poller.config.web reads it)."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: the RRD files and fleet index: [web] directory, else [history] directory
    directory: Path = Path("/var/lib/poller/history")
    password_file: Path | None = None
    user: str = "poller"
    #: the unix socket of the rrdcached holding the files' newest values ("unix:/path"): the
    #: pages read through it (`--daemon`); [web] rrdcached, else a unix [history] rrdcached
    rrdcached: str | None = None
    #: [history] rrdcached when on TCP and the pages cannot read through it: what they say
    #: (their values may be as old as its write delay)
    history_rrdcached: str | None = None

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: Path
    daemon: DaemonSettings
    output: OutputSettings
    credentials: Mapping[str, Credential]
    profiles: Mapping[str, Profile]
    devices: tuple[Device, ...]
    #: one-line notes for the operator that do not stop the load (e.g. a world-readable secret)
    warnings: tuple[str, ...] = ()
    #: `[history]`: None when the file has none (the daemon then keeps no RRD files)
    history: HistorySettings | None = None
    #: `[web]`: None when the file has none (`poller web` then takes the defaults)
    web: WebSettings | None = None
    #: the MIB names this file's profiles were resolved with (the standard ones plus [mibs])
    mibs: MibNames = field(default=STANDARD, compare=False)
    #: [cluster]: this host is one of several sharing the fleet through Redis (None: alone)
    cluster: ClusterSettings | None = None
    #: a community or key is written in the file itself (a pushed fleet must not hold one)
    inline_secrets: bool = field(default=False, compare=False)
    #: the longest poll interval of the fleet: how long the watchdog waits for a summary
    slowest_interval_s: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slowest_interval_s", slowest_interval_s(self.devices))


def slowest_interval_s(devices: Iterable[Device]) -> float:
    """The longest poll interval of `devices` (60 s for none)."""
    return max((d.interval_s for d in devices), default=60.0)


def fleet_diff(before: Mapping[str, Device], after: Iterable[Device]) -> dict[str, list[str]]:
    """What a reload does, by device name: `added`, `changed` and `unchanged` in the new file's
    order, `removed` in the old one's. Scheduler.apply acts on it; the supervisor, whose workers
    act on their shares, tells it."""
    wanted = {d.name: d for d in after}
    return {
        "added": [name for name in wanted if name not in before],
        "removed": [name for name in before if name not in wanted],
        "changed": [name for name, d in wanted.items() if name in before and before[name] != d],
        "unchanged": [name for name, d in wanted.items() if before.get(name) == d],
    }

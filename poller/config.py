"""The fleet configuration as frozen, slotted, keyword-only dataclasses (so a reload can diff
devices by equality). `load_config` (poller.config_load) builds them from a TOML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

from poller import mib
from poller.oid import Oid
from poller.shard import Shard

SnmpVersion = Literal["1", "2c"]


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
class Credential:
    name: str
    version: SnmpVersion
    community: Secret


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

    def __post_init__(self) -> None:
        rate_field = f"{self.name}_bps" if self.bits else f"{self.name}_rate"
        object.__setattr__(self, "hint", mib.display_hint(self.name))
        object.__setattr__(self, "rate_field", rate_field)
        object.__setattr__(self, "reason_field", f"{rate_field}_reason")


#: a column whose change means the row's counters restarted (IF-MIB)
DISCONTINUITY = "ifCounterDiscontinuityTime"
#: columns that give an interface's speed, against which its octet rates are checked
SPEED_COLUMNS = frozenset({"ifHighSpeed", "ifSpeed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """Columns walked together and joined by index into one record per row."""

    name: str  # the `table` field in records, e.g. "interfaces"
    columns: tuple[Column, ...]
    # Derived once, for every poll of every device that walks this table:
    oids: tuple[Oid, ...] = field(init=False, compare=False)
    #: the names of the columns whose rates are bits/s (summed for the console line)
    bits: tuple[str, ...] = field(init=False, compare=False)
    discontinuity: Column | None = field(init=False, compare=False)
    #: whether rows carry a speed to check octet rates against
    has_speed: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "oids", tuple(c.oid for c in self.columns))
        object.__setattr__(self, "bits", tuple(c.name for c in self.columns if c.bits))
        object.__setattr__(
            self, "discontinuity", next((c for c in self.columns if c.name == DISCONTINUITY), None)
        )
        object.__setattr__(self, "has_speed", any(c.name in SPEED_COLUMNS for c in self.columns))


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    name: str
    scalars: tuple[Column, ...] = ()
    tables: tuple[Table, ...] = ()
    #: one of poller's own (`system`, `interfaces`), not replaced by the file
    builtin: bool = False


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
    #: "builtin" (the project's own v1/v2c codec) or "pysnmp" (the reference implementation)
    engine: str = "builtin"
    #: worker processes, each polling its stable share of the fleet (1: no extra process)
    workers: int = 1
    #: the part of the fleet this host polls (`--shard i/n`); 0/1 is all of it
    shard: Shard = Shard()


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
class Config:
    path: Path
    daemon: DaemonSettings
    output: OutputSettings
    credentials: Mapping[str, Credential]
    profiles: Mapping[str, Profile]
    devices: tuple[Device, ...]
    #: one-line notes for the operator that do not stop the load (e.g. a world-readable secret)
    warnings: tuple[str, ...] = ()


def load_config(path: str | Path) -> Config:
    """Read and validate a fleet file; raises ConfigError with one line on any problem."""
    from poller.config_load import load

    return load(Path(path))

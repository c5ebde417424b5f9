"""What the supervisor and a worker process say to each other, pickled whole over their pipes:
orders go down (poller.run.workers.order_pipe), messages come up after the records written
before them (poller.run.workers.record_pipe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poller.config.model import DaemonSettings, Device, HistorySettings
from poller.run.grid import OwnerSeed

# -- orders, supervisor -> worker --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The first order: who the worker is and what it polls."""

    index: int
    devices: tuple[Device, ...]
    settings: DaemonSettings
    console: bool
    #: [history] as at the daemon's start: the worker keeps its own devices' RRD files
    history: HistorySettings | None = None
    #: on a shared grid ([cluster]): what builds the worker's owner of ticks
    owner: OwnerSeed | None = None


@dataclass(frozen=True, slots=True)
class Apply:
    """A reload's new share of the fleet."""

    devices: tuple[Device, ...]


@dataclass(frozen=True, slots=True)
class Drain:
    """Stop: in-flight polls get `grace_s` to finish."""

    grace_s: float


@dataclass(frozen=True, slots=True)
class Force:
    """Cut a drain short (a second stop signal), or stop at once (the supervisor is gone)."""


@dataclass(frozen=True, slots=True)
class Tell:
    """For the worker's owner of ticks: what the membership now says (after every beat)."""

    news: object


Order = Start | Apply | Drain | Force | Tell

# -- messages, worker -> supervisor ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """The worker's schedules run."""

    pid: int
    devices: int


@dataclass(frozen=True, slots=True)
class Alive:
    """Every ALIVE_INTERVAL_S: the watchdog's material (a stuck worker sends none)."""

    progress_age_s: float
    completed: int
    in_flight: int
    devices: int


@dataclass(frozen=True, slots=True)
class Stats:
    """The worker's `stats` record fields; the supervisor adds what its writer did."""

    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stopped:
    """The worker drained: its last message."""

    completed: int
    cancelled: int
    #: its owner of ticks' totals (snapshots sent), when it has one
    owner_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ask:
    """The worker's owner of ticks waits for the membership's next word: a beat now."""


Message = Ready | Alive | Stats | Stopped | Ask

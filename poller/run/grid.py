"""The slot grid shared by several hosts (poller.cluster): a device's ticks are whole milliseconds
of one clock every host agrees on (Redis time), at `phase + k x interval`, so every host
computes the same `scheduled_at` and (device, scheduled_at) names one poll cluster-wide. Which
host polls a tick is the Owner's to say; the scheduler only asks.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from poller.config.model import Device
from poller.poll.rates import CounterTracker


@dataclass(frozen=True, slots=True)
class Slot:
    """One tick of a device that this host polls: when (ms of the shared clock), and under
    which membership (the owner host and the epoch of the members that gave it the device)."""

    at_ms: int
    owner: str
    epoch: int
    #: a tick of an owner that died before it: polled late unless its snapshot shows it polled
    recover: bool = False

    @property
    def scheduled_at(self) -> str:
        return format_ms(self.at_ms)


class Owner(Protocol):
    """What a scheduler on the shared grid asks (poller.cluster.node.Node answers)."""

    def offset_s(self) -> float:
        """The shared clock minus this loop's clock, in seconds."""

    async def settled(self, at_ms: int) -> None:
        """Return once what this host knows of the membership decides the tick at `at_ms`."""

    def slot(self, name: str, at_ms: int, now_s: float) -> Slot | None:
        """The Slot when this host polls `name`'s tick at `at_ms` (loop time now `now_s`)."""

    def holds(self, at_ms: int, now_s: float) -> bool:
        """May this host still write what it polled of the tick at `at_ms` (and start it)."""

    async def taking_over(self, device: Device, tracker: CounterTracker,
                          at_ms: int) -> tuple[bool, int | None]:
        """This host starts owning the device at the tick `at_ms`: its counters restored from
        the last owner's snapshot into `tracker`. (poll?, next seq): poll False when that
        owner polled this tick already; seq None when there is nothing to carry on from."""

    async def claim(self, device: Device, seq: int, tracker: CounterTracker,
                    at_ms: int) -> bool:
        """A poll of the tick at `at_ms` ended: its counter state sent for the next owner before
        anything of it is written. True: write its records (the next owner knows the tick was
        polled); False: write nothing (this host lost the tick, the next owner polls it)."""

    def polled(self, device: Device, seq: int, tracker: CounterTracker, now_s: float,
               at_ms: int) -> object:
        """After a poll's records went to the writer without a claim (a poll cancelled at the
        end of a drain): its counter state, for the next owner."""


class WorkerOwner(Owner, Protocol):
    """The Owner of a worker process (poller.run.workers.worker): the supervisor, which is the
    member, tells it what each answer of the membership says; it keeps counter snapshots of
    its own devices."""

    def hear(self, news: object) -> bool:
        """The supervisor's latest word; True when ticks judged before must be judged again."""

    def assign(self, names: Sequence[str]) -> None:
        """The devices polled in this process (at the start and at every change)."""

    def start(self) -> None:
        """Start its own tasks, on the running loop."""

    async def flush(self) -> bool:
        """After the drain: what the last polls left for the next owner goes out (False when
        it could not)."""

    def counts(self) -> dict[str, int]:
        """Its totals, for the supervisor's records."""

    async def close(self) -> None:
        """Release what it took."""


class OwnerSeed(Protocol):
    """What a worker is given, in its Start order, to build its WorkerOwner: the class that
    builds it comes with the pickle, so nothing in `run` names it."""

    def grow(self, ask: Callable[[], None], silenced: Callable[[], bool]) -> WorkerOwner:
        """The owner; `ask` asks the supervisor for its next word now; `silenced` says the
        records can no longer be written, so no snapshot may go out."""


def interval_ms(device: Device) -> int:
    return max(1, round(device.interval_s * 1000))


def phase_ms(name: str, interval: int) -> int:
    """The same offset in [0, interval) as the scheduler's phase_s, in whole milliseconds."""
    return zlib.crc32(name.encode()) % interval


def first_tick_ms(device: Device, now_ms: float) -> int:
    """The earliest tick whose poll deadline has not passed: a slot a dead owner left is still
    polled late when it can be."""
    interval = interval_ms(device)
    phase = phase_ms(device.name, interval)
    deadline_ms = device.poll_deadline_s * 1000
    k = math.floor((now_ms - deadline_ms - phase) / interval) + 1
    return k * interval + phase


def format_ms(at_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, from whole milliseconds (the same text on every host)."""
    seconds, millis = divmod(at_ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"

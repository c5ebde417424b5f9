"""Which ticks are this host's, judged where the polls run: in the one process of a member, or in
each of its worker processes. The membership (poller.cluster.node.Node) beats in one process and
hands every answer on as a `Membership`, a small frozen value: pickled whole to a worker
(poller.run.workers), given as is to the one process's scheduler. A `TickOwner` answers the
scheduler's questions (poller.run.grid.Owner) from the latest one, and carries the counter
snapshots of its own devices to and from Redis on a connection of its own, so snapshots never
go through the process that beats.

- `settled` waits while a tick lies past the horizon of the last answer (`known_ms`), asking
  for the next beat at once (`ask`), and stops waiting once Redis counts as out of reach or the
  beats have stopped, as the membership says.
- `holds` says whether a tick may start, or what its poll got be written: the lease of the last
  answer runs (loop time: every process of a host reads the same monotonic clock), the tick was
  not lost since, or Redis is out of reach and the mode is not strict.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from poller.cluster.link import Link, Unavailable
from poller.cluster.views import Timeline, View
from poller.config.cluster import ClusterSettings
from poller.config.model import Device
from poller.poll.rates import CounterTracker
from poller.poll.snapshot import Clocks, Refused, export_device, import_device
from poller.run.grid import Slot

#: how often pending snapshots are tried again while Redis is out of reach
SNAPSHOT_FLUSH_S = 0.1


@dataclass(frozen=True, slots=True)
class Membership:
    """What the last answer of Redis (or its absence) says about this host's ticks."""

    views: tuple[View, ...] = ()
    #: loop time until which the lease is confirmed
    lease_until: float = -math.inf
    #: the Redis time (ms) up to which the views decide every tick
    known_ms: float = -math.inf
    #: the Redis time (ms) of the answer that said this host had been removed: ticks before it
    #: are its successors' to recover, never this host's to poll late
    lost_ms: float = -math.inf
    #: Redis counts as reachable (no lease ran out without an answer)
    available: bool = True
    #: beats go on: a tick past the horizon gets an answer
    beating: bool = False
    #: the shared clock (Redis time) minus the loop's, in seconds
    offset_s: float = 0.0
    #: after a graceful leave, the handover instant (Redis ms): ticks before it remain this
    #: host's to write until its drain ends, whatever the lease (nobody recovers them)
    handover_ms: float = -math.inf


@dataclass(frozen=True, slots=True)
class TickSeed:
    """What a worker process needs to build its TickOwner (poller.run.grid.OwnerSeed): pickled
    into its Start order, so the worker's code never names the cluster."""

    settings: ClusterSettings
    membership: Membership

    def grow(self, ask: Callable[[], None],
             silenced: Callable[[], bool] = lambda: False) -> TickOwner:
        link = Link(self.settings, timeout_s=min(self.settings.lease_s / 4, 2.0))
        return TickOwner(self.settings, link, self.membership, ask, silenced)


class TickOwner:
    """The scheduler's Owner on the shared grid, for the devices polled in this process."""

    def __init__(self, settings: ClusterSettings, link: Link, membership: Membership,
                 ask: Callable[[], None], silenced: Callable[[], bool] = lambda: False) -> None:
        self.settings = settings
        self.host = settings.host
        self.link = link
        self.timeline = Timeline(self.host)
        self.membership = membership
        self.timeline.merge(membership.views)
        self._ask = ask
        #: the records can no longer be written (a worker's parent is gone): no snapshot may
        #: say their polls were done
        self._silenced = silenced
        self._asked = False
        self._heard = asyncio.Event()
        self._pending: dict[str, tuple[bytes, int]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.snapshot_bytes = 0
        self.snapshots_sent = 0

    # -- what the membership says -------------------------------------------------------------

    def hear(self, news: object) -> bool:
        """The membership after a beat; True when it brought views not known here (ticks
        judged before are judged again: poller.run.scheduler.Scheduler.recheck)."""
        if not isinstance(news, Membership):
            raise TypeError(f"not a Membership: {type(news).__name__}")
        self.membership = news
        changed = self.timeline.merge(news.views)
        self._asked = False
        heard, self._heard = self._heard, asyncio.Event()
        heard.set()
        return changed

    def assign(self, names: Sequence[str]) -> None:
        """The devices polled in this process (their shares are computed once per view)."""
        self.timeline.set_fleet(names)

    # -- the scheduler's questions (poller.run.grid.Owner) -----------------------------------

    def offset_s(self) -> float:
        return self.membership.offset_s

    def now_ms(self) -> int:
        return int((asyncio.get_running_loop().time() + self.membership.offset_s) * 1000)

    def holds(self, at_ms: int, now_s: float) -> bool:
        """May the tick at `at_ms` be polled, or what its poll got be written, now: the lease
        is confirmed (or Redis is out of reach, not strict), and it was not lost since."""
        m = self.membership
        if at_ms < m.lost_ms:
            return False
        if now_s < m.lease_until or at_ms < m.handover_ms:
            return True
        return not self.settings.strict and not m.available

    async def settled(self, at_ms: int) -> None:
        """Return once what is known here decides the tick at `at_ms` (whether to poll it, or
        to write what its poll got): at once in the usual case (beats run a quarter lease
        apart, the horizon is half a lease on), else after the next answer of Redis (the tick
        lies past the horizon, or the lease ran out: a pause, after which the answer says
        whether this host was removed), or once Redis counts as out of reach (the last share
        goes on)."""
        loop = asyncio.get_running_loop()
        while (at_ms >= self.membership.known_ms or loop.time() >= self.membership.lease_until) \
                and self.membership.available and self.membership.beating:
            if not self._asked:  # one request per answer, however many ticks wait
                self._asked = True
                self._ask()
            await self._heard.wait()

    def slot(self, name: str, at_ms: int, now_s: float) -> Slot | None:
        if not self.holds(at_ms, now_s):
            return None
        epoch = self.timeline.owns(name, at_ms)
        if epoch is not None:
            return Slot(at_ms, self.host, epoch)
        epoch = self.timeline.recovers(name, at_ms)
        return None if epoch is None else Slot(at_ms, self.host, epoch, recover=True)

    async def taking_over(self, device: Device, tracker: CounterTracker,
                          at_ms: int) -> tuple[bool, int | None]:
        if not self.membership.available:
            return True, None
        try:
            raw = await self.link.get_snapshot(device.name)
            entry = orjson.loads(raw) if raw is not None else None
        except Unavailable:
            await self.link.reset()
            return True, None
        except orjson.JSONDecodeError:
            return True, None
        if not isinstance(entry, dict):
            return True, None
        last = entry.get("at_ms")
        if isinstance(last, int) and last >= at_ms:
            return False, None  # the last owner polled this tick
        try:
            return True, import_device(entry, device, tracker, self._clocks(),
                                       ttl_ms(device) / 1000)
        except Refused:
            return True, None

    def polled(self, device: Device, seq: int, tracker: CounterTracker, now_s: float,
               at_ms: int) -> None:
        if not self.holds(at_ms, now_s):
            return  # a poll that ended after this host lost the device: its state is stale
        entry = export_device(device, seq, tracker, self._clocks())
        entry["at_ms"] = at_ms  # the tick it polled: a successor does not poll it again
        self._pending[device.name] = (orjson.dumps(entry), ttl_ms(device))
        self._wake.set()

    def _clocks(self) -> Clocks:
        now = asyncio.get_running_loop().time()
        return Clocks(now, round(now + self.membership.offset_s, 3))

    # -- snapshots ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._snapshot_loop(), name="cluster-snapshots")

    async def flush(self) -> bool:
        """Send the pending snapshots (the last ones, at the end of a drain); while Redis is
        out of reach they wait, the newest of each device, for the next try."""
        if self._silenced():
            self._pending.clear()
        if not self._pending:
            return True
        if not self.membership.available:
            return False
        pending, self._pending = self._pending, {}
        try:
            self.snapshot_bytes += await self.link.put_snapshots(pending)
            self.snapshots_sent += len(pending)
        except Unavailable:
            for name, entry in pending.items():
                self._pending.setdefault(name, entry)
            await self.link.reset()
            return False
        return True

    async def _snapshot_loop(self) -> None:
        """Snapshots go out as soon as polls end (what a crash can lose is a millisecond's),
        in one pipeline for all that ended meanwhile."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.flush():  # not sent: tried again a little later
                await asyncio.sleep(SNAPSHOT_FLUSH_S)
                self._wake.set()

    def counts(self) -> dict[str, int]:
        """What `cluster_left` says of the snapshots sent from this process."""
        return {"snapshots": self.snapshots_sent, "snapshot_bytes": self.snapshot_bytes}

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.link.close()


def ttl_ms(device: Device) -> int:
    """How long a snapshot is worth keeping: three intervals, at least a minute."""
    return int(max(60.0, 3 * device.interval_s) * 1000)

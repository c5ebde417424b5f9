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
- `claim` comes between a poll's end and its records: the poll's counter snapshot, carrying the
  tick, goes to Redis first, and the records are written once Redis took it. A successor that
  finds the snapshot does not poll that tick again; a host paused or killed before the snapshot
  went out writes nothing of it, and the successor polls it. Either way the tick is written
  once (a kill -9 can still lose what the writer had not yet written).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
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
        self._pending: dict[str, _Entry] = {}
        #: the polls waiting for their snapshot to reach Redis (poller.cluster.owner.claim)
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
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

    async def claim(self, device: Device, seq: int, tracker: CounterTracker,
                    at_ms: int) -> bool:
        """Whether the poll of the tick at `at_ms`, just ended, is to be written: True once its
        snapshot reached Redis (whatever the lease says by then: the successor will not poll it
        again); False when this host no longer holds the tick (nothing of it is written, no
        snapshot says it was polled: the successor polls it). A send that fails, or that a
        pause kept back past the lease, is tried again once the next answer of Redis says the
        tick is still this host's. While Redis is out of reach, what `holds` says: the records
        do not wait, the snapshot waits for Redis."""
        loop = asyncio.get_running_loop()
        while not self._silenced():
            waiter = self.polled(device, seq, tracker, loop.time(), at_ms)
            if waiter is None:
                break
            if not self.membership.available or await waiter:
                return True  # out of reach, the records do not wait; or Redis took it
            await self.settled(at_ms)  # at once when the outage began meanwhile
        self._withdraw(device.name, at_ms)  # its records are not written: no snapshot either
        return False

    def polled(self, device: Device, seq: int, tracker: CounterTracker, now_s: float,
               at_ms: int) -> asyncio.Future[bool] | None:
        """The poll's snapshot queued for Redis; the future says whether Redis took it (None:
        the tick is no longer this host's, nothing is queued)."""
        if not self.holds(at_ms, now_s):
            return None  # a poll that ended after this host lost the device: its state is stale
        entry = export_device(device, seq, tracker, self._clocks())
        entry["at_ms"] = at_ms  # the tick it polled: a successor does not poll it again
        self._pending[device.name] = _Entry(orjson.dumps(entry), ttl_ms(device), at_ms)
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(device.name, []).append(waiter)
        self._wake.set()
        return waiter

    def _withdraw(self, name: str, at_ms: int) -> None:
        entry = self._pending.get(name)
        if entry is not None and entry.at_ms == at_ms:
            del self._pending[name]

    def _waiting(self, names: Iterable[str]) -> list[asyncio.Future[bool]]:
        """The polls waiting on these devices' snapshots, no longer kept here."""
        return [waiter for name in list(names) for waiter in self._waiters.pop(name, ())]

    @staticmethod
    def _answer(waiters: list[asyncio.Future[bool]], taken: bool) -> None:
        """Tell the polls whether Redis took their snapshots."""
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(taken)

    def _clocks(self) -> Clocks:
        now = asyncio.get_running_loop().time()
        return Clocks(now, round(now + self.membership.offset_s, 3))

    # -- snapshots ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._snapshot_loop(), name="cluster-snapshots")

    async def flush(self) -> bool:
        """Send the pending snapshots (the last ones, at the end of a drain); while Redis is
        out of reach they wait, the newest of each device, for the next try. A snapshot whose
        poll is still waiting goes only while this host holds its tick (after a pause the
        successor polls it)."""
        if self._silenced():
            self._answer(self._waiting(self._waiters), False)
            self._pending.clear()
        if not self._pending:
            return True
        if not self.membership.available:
            self._answer(self._waiting(self._waiters), False)
            return False
        self._drop_stale()
        if not self._pending:
            return True
        pending, self._pending = self._pending, {}
        waiters = self._waiting(pending)
        try:
            self.snapshot_bytes += await self.link.put_snapshots(
                {name: (entry.data, entry.ttl_ms) for name, entry in pending.items()})
            self.snapshots_sent += len(pending)
        except Unavailable:
            for name, entry in pending.items():
                self._pending.setdefault(name, entry)
            self._answer(waiters, False)
            await self.link.reset()
            return False
        self._answer(waiters, True)
        return True

    def _drop_stale(self) -> None:
        """The snapshots of polls still waiting whose tick this host no longer holds (it paused
        between the poll's end and now): not sent, and their polls write nothing."""
        now = asyncio.get_running_loop().time()
        stale = [name for name, entry in self._pending.items()
                 if name in self._waiters and not self.holds(entry.at_ms, now)]
        for name in stale:
            del self._pending[name]
        self._answer(self._waiting(stale), False)

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
        self._answer(self._waiting(self._waiters), False)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.link.close()


@dataclass(frozen=True, slots=True)
class _Entry:
    """One device's snapshot on its way to Redis."""

    data: bytes
    ttl_ms: int
    #: the tick it polled
    at_ms: int


def ttl_ms(device: Device) -> int:
    """How long a snapshot is worth keeping: three intervals, at least a minute."""
    return int(max(60.0, 3 * device.interval_s) * 1000)

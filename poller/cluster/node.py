"""This host as a member of the cluster: its lease, the views it knows, the shared clock, the
pushed fleet and the cluster's events, in the one process that beats (the member's only
process, or the supervisor of its workers). After every beat it hands on a `Membership`
(poller.cluster.owner), from which the processes that poll judge their ticks and carry the
counter snapshots (poller.cluster.owner.TickOwner).

- Every quarter lease one run of the membership script refreshes the lease, expires dead
  members and returns the views. The lease counts from when the request was sent, on this
  host's monotonic clock: past it, without a new answer, no new poll starts (a paused or cut
  off host never polls a tick its successors own), until an answer says it is a member again.
- What an answer decides: a view made after it applies half a lease after it at the earliest
  (the script's join delay), so the views known here decide every tick up to the answer's
  Redis time + half a lease (`known_ms`). A tick past that waits for the next answer
  (`settled`), asked for at once: a slow answer delays a poll, it never makes two hosts poll
  one tick.
- Redis unreachable (no answer until the lease ran out): the last known share keeps being
  polled and the connection is tried again forever, with backoff up to a quarter lease; with
  `strict`, nothing is polled until Redis answers. A failed beat within the lease is tried
  again at once, not taken for an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from poller import __version__
from poller.cluster.link import Beat, Link, Unavailable
from poller.cluster.owner import Membership
from poller.cluster.views import Timeline, View
from poller.config.cluster import ClusterSettings, cache_path
from poller.config.model import Device
from poller.output.sink import RecordSink
from poller.run.grid import format_ms

#: |host clock - Redis clock| above this is a `clock_skew` event
SKEW_THRESHOLD_S = 0.5
VIEW_CACHE = "cluster-view.json"


class Node:
    def __init__(self, settings: ClusterSettings, sink: RecordSink, state_directory: Path, *,
                 on_share: Callable[[frozenset[str]], None], on_fleet: Callable[[], None],
                 accept_fleet: Callable[[int, str], bool], fleet_version: Callable[[], int],
                 on_membership: Callable[[Membership], None]) -> None:
        self.settings = settings
        self.host = settings.host
        self.sink = sink
        self.lease_s = settings.lease_s
        self.beat_s = settings.lease_s / 4
        self.link = Link(settings, timeout_s=min(self.beat_s, 2.0))
        self.timeline = Timeline(self.host)
        self.view_cache = state_directory / VIEW_CACHE
        self._on_share, self._on_fleet, self._fleet_version = on_share, on_fleet, fleet_version
        self._on_membership, self._accept_fleet = on_membership, accept_fleet
        self.lease_until = -math.inf
        #: the Redis time (ms) up to which the views known here decide every tick
        self.known_ms = -math.inf
        #: the Redis time (ms) of the answer that said this host had been removed: ticks before
        #: it are its successors' to recover, never this host's to poll late
        self.lost_ms = -math.inf
        #: after a graceful leave: the Redis time (ms) from which the others own this host's ticks
        self.handover_ms = -math.inf
        self._cache_failed = 0
        self.available = True
        self._beating = False
        self._hurry = asyncio.Event()
        self.unavailable_since: float | None = None
        self.member = False
        self.skew_s: float | None = None
        self._skewed: bool | None = None
        self._offset_s = time.time() - time.monotonic()
        self._fleet: dict[str, Device] = {}
        self._running: frozenset[str] = frozenset()
        self._fetched = 0
        self._tasks: list[asyncio.Task[None]] = []

    # -- what the processes that poll are told ----------------------------------------------

    def now_ms(self) -> int:
        return int((asyncio.get_running_loop().time() + self._offset_s) * 1000)

    def membership(self) -> Membership:
        return Membership(tuple(self.timeline.views), self.lease_until, self.known_ms,
                          self.lost_ms, self.available, self._beating,
                          self._offset_s, self.handover_ms)

    def hurry(self) -> None:
        """A tick waits past the horizon: the next beat now."""
        self._hurry.set()

    def _publish(self) -> None:
        self._on_membership(self.membership())

    # -- the fleet and the share -------------------------------------------------------------

    def set_fleet(self, devices: tuple[Device, ...]) -> None:
        self._fleet = {d.name: d for d in devices}
        self.timeline.set_fleet(list(self._fleet))
        self._update_share()

    def running(self) -> tuple[Device, ...]:
        """The devices whose schedules run here, in the fleet's order."""
        return tuple(d for name, d in self._fleet.items() if name in self._running)

    def _update_share(self) -> None:
        slowest_ms = max((d.interval_s for d in self._fleet.values()), default=60.0) * 1000
        running = self.timeline.running(int(self.now_ms() - slowest_ms))
        if running != self._running:
            self._running = running
            self._on_share(running)

    # -- membership --------------------------------------------------------------------------

    async def join(self) -> None:
        """The first beat; with Redis out of reach, the last views this host knew."""
        if await self.beat() is None:
            self.timeline.merge(_read_views(self.view_cache))
            self._publish()
            self._update_share()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._beat_loop(), name="cluster-beat")]

    async def _beat_loop(self) -> None:
        backoff = 0.1
        self._beating = True
        try:
            while True:
                self._hurry.clear()  # a waiter the answer does not settle asks again
                ok = await self.beat() is not None
                if not ok:  # after a failure the backoff holds, however many ticks wait
                    await asyncio.sleep(backoff)
                    backoff = min(self.beat_s, backoff * 2)
                    continue
                backoff = 0.1
                with contextlib.suppress(TimeoutError):
                    # a tick past the horizon asks for the next beat now
                    await asyncio.wait_for(self._hurry.wait(), self.beat_s)
        finally:
            self._beating = False
            self._publish()  # nobody waits for an answer that will not come

    async def beat(self, leave: bool = False) -> Beat | None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            beat = await self.link.beat(self.host, int(self.lease_s * 1000), self.timeline.epoch,
                                        int(self.lease_s * 500), int(self.lease_s * 1000), leave)
        except Unavailable as exc:
            # an outage only when a beat sent after the lease ran out fails: one sent before
            # may have failed because this host was paused (SIGSTOP, a VM frozen) meanwhile,
            # and the next one tells whether it was removed
            if sent >= self.lease_until:
                self._unreachable(str(exc))
            self._publish()
            await self.link.reset()
            return None
        received = loop.time()
        self._offset_s = beat.now_ms / 1000 - (sent + received) / 2
        self.lease_until = sent + self.lease_s
        self.known_ms = beat.now_ms + int(self.lease_s * 500)
        self._reached(received)
        if beat.joined and self.member:
            self.lost_ms = beat.now_ms
            self.sink.event("cluster_lease_lost", host=self.host, epoch=beat.epoch)
        self.member = not leave
        changed = self.timeline.merge(beat.views)
        if changed:
            self._view_changed()
        self._publish()  # before the share: a device that starts here finds its views known
        self._update_share()
        self._check_skew(time.time() - (received - (sent + received) / 2), beat.now_ms)
        if not leave:
            await self._report(beat)
        return beat

    def _view_changed(self) -> None:
        view = self.timeline.views[-1]
        self.sink.event("cluster_view", host=self.host, epoch=view.epoch,
                        members=list(view.members), from_at=format_ms(view.from_ms),
                        devices=len(self.timeline.share(view)))
        try:
            _write_views(self.view_cache, self.timeline.views)
        except OSError:
            pass  # only a start while Redis is down needs it

    def _unreachable(self, error: str) -> None:
        if self.available:
            self.available = False
            self.unavailable_since = asyncio.get_running_loop().time()
            self.sink.event("cluster_unavailable", host=self.host, error=error,
                            strict=self.settings.strict)

    def _reached(self, now: float) -> None:
        if not self.available:
            self.available = True
            since = self.unavailable_since if self.unavailable_since is not None else now
            self.sink.event("cluster_recovered", host=self.host,
                            unavailable_s=round(now - since, 3))

    def _check_skew(self, wall_s: float, redis_ms: int) -> None:
        self.skew_s = wall_s - redis_ms / 1000
        skewed = abs(self.skew_s) > SKEW_THRESHOLD_S
        if skewed != self._skewed:
            self._skewed = skewed
            self.sink.event("clock_skew", host=self.host, skew_s=round(self.skew_s, 4),
                            threshold_s=SKEW_THRESHOLD_S, ok=not skewed)

    async def _report(self, beat: Beat) -> None:
        view = self.timeline.at(beat.now_ms)
        fields: dict[str, Any] = {
            "devices": len(self.timeline.share(view)) if view is not None else 0,
            "epoch": beat.epoch, "fleet_version": self._fleet_version(),
            "skew_ms": round((self.skew_s or 0.0) * 1000, 1), "pid": os.getpid(),
            "version": __version__, "updated_ms": beat.now_ms,
        }
        try:
            await self.link.report(self.host, fields, int(self.lease_s * 3000))
            if beat.fleet_version > max(self._fleet_version(), self._fetched):
                await self._fetch_fleet(beat.fleet_version)
        except Unavailable:
            pass  # the next beat says whether Redis is gone

    async def _fetch_fleet(self, version: int) -> None:
        """A newer pushed fleet this host can load: cached beside the state, then applied by a
        reload. One it cannot load (`accept_fleet` says why) leaves the last good cache."""
        fleet = await self.link.fleet()
        if fleet is None or fleet[0] < version:
            return
        fetched, self._fetched = self._fetched, fleet[0]  # a fleet refused here waits for a newer push
        if not self._accept_fleet(*fleet):
            return
        path = cache_path(self.view_cache.parent)
        try:
            _write_json(path, {"version": fleet[0], "text": fleet[1]})
        except OSError as exc:  # a full or read-only state directory: tried again next beat
            self._fetched = fetched
            if self._cache_failed != fleet[0]:
                self._cache_failed = fleet[0]
                self.sink.event("reload_failed", config=str(path), error=(
                    f"pushed fleet version {fleet[0]}: cannot cache it in {path.parent}: "
                    f"{exc.strerror or exc}"))
            return
        self.sink.event("cluster_fleet", host=self.host, version=fleet[0])
        self._on_fleet()

    # -- leaving -----------------------------------------------------------------------------

    async def leave(self) -> float | None:
        """Hand this host's devices over: the loop time from which the others poll them, or
        None when Redis is out of reach (they take over when the lease runs out)."""
        await self._stop_beats()
        beat = await self.beat(leave=True)
        if beat is None:
            return None
        # the ticks before the handover stay this host's until its drain ends, lease or not:
        # the leave gave the others nothing to recover, so a poll still running writes its record
        self.handover_ms = beat.last_from_ms
        self._publish()
        return beat.last_from_ms / 1000 - self._offset_s

    async def _stop_beats(self) -> None:
        beats = [t for t in self._tasks if t.get_name() == "cluster-beat"]
        for task in beats:
            task.cancel()
        await asyncio.gather(*beats, return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.link.close()


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)


def _write_views(path: Path, views: list[View]) -> None:
    _write_json(path, [v.to_json() for v in views])


def _read_views(path: Path) -> list[View]:
    try:
        return [View.parse(entry) for entry in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []

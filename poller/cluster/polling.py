"""`poller run` with [cluster]: this host's share of the fleet polled on the shared grid, in this
process or, with `workers` > 1, in worker processes (poller.run.workers), with the lifecycle of
every daemon (poller.run.lifecycle) around it.

This process is the member (poller.cluster.node.Node: beats, views, lease, pushed fleet, the
cluster's events). What polls judges its ticks itself (poller.cluster.owner.TickOwner): here
with one process; with workers, in each worker, from the Membership this process sends after
every beat. Each worker polls a stable part of the host's share (by the hash of the device name,
as without [cluster]), so a device does not move between workers when the members change.

A stop hands over before it drains: the others poll this host's devices from an instant
announced through Redis (half a lease on), this host polls up to it, then its last polls end
and their snapshots are sent, so the next owners carry on without a gap or a tick polled twice.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from poller.cluster.index_share import IndexPublisher
from poller.cluster.node import Node
from poller.cluster.owner import Membership, TickOwner, TickSeed
from poller.config.load import load_config, load_with_fleet
from poller.config.model import Config, Device, fleet_diff
from poller.config.shard import CommandLine
from poller.errors import ConfigError
from poller.output.recorder import Recorder
from poller.run.history_sink import check_librrd
from poller.run.lifecycle import Helpers, Lifecycle, Signals, run_loop
from poller.run.local import LocalPolling
from poller.run.state_keeper import keeper_settings
from poller.run.systemd import Notifier
from poller.run.workers.supervisor import SharedGrid, Supervisor


def run(config: Config, *, console: bool = False, command_line: CommandLine | None = None) -> int:
    """The daemon of one member, until SIGTERM/SIGINT. Returns the exit code."""
    if config.history is not None:
        check_librrd()
    recorder = Recorder(config.output, console=sys.stderr if console else None)
    notifier = Notifier()
    try:
        life = Lifecycle(config, recorder, notifier, command_line or CommandLine())
        return run_loop(life.serve(ClusterPolling(life, console)))
    finally:
        notifier.close()
        recorder.close()


class ClusterPolling:
    """A Polling (poller.run.lifecycle) over this host's share, kept up to date by the Node as
    members come and go: LocalPolling with its TickOwner, or a Supervisor of worker processes
    (`workers`, fixed at start as without [cluster])."""

    def __init__(self, life: Lifecycle, console: bool) -> None:
        config = life.config
        if config.cluster is None or config.daemon.state_directory is None:
            raise ValueError("ClusterPolling needs [cluster] and a state directory")
        self.life = life
        self.console = console
        self.settings = config.cluster
        self.fleet = config.devices
        self.workers = config.daemon.workers
        self.node = Node(config.cluster, life.recorder, config.daemon.state_directory,
                         on_share=self._on_share, on_fleet=self._on_fleet,
                         accept_fleet=self._accept_fleet, fleet_version=self._fleet_version,
                         on_membership=self._on_membership)
        self.inner: LocalPolling | Supervisor | None = None
        #: with one process: the scheduler's owner (workers have their own)
        self.owner: TickOwner | None = None
        #: with [history]: this host's fleet index files (its own and its workers') to Redis,
        #: for a `poller web` of the cluster (poller.cluster.index_share)
        self.index = IndexPublisher(config.cluster, config.history.index_directory) \
            if config.history is not None else None
        self.fetched_at_open = False

    def _fleet_version(self) -> int:
        cluster = self.life.config.cluster
        return cluster.fleet_version if cluster is not None else 0

    def _on_share(self, _names: frozenset[str]) -> None:
        if self.inner is not None:
            self._assign(self.node.running())

    def _assign(self, running: tuple[Device, ...]) -> None:
        if self.owner is not None:
            self.owner.assign([d.name for d in running])
        if self.inner is not None:
            self.inner.apply(running)

    def _on_membership(self, membership: Membership) -> None:
        """After every beat: whoever judges ticks hears it; ticks judged before new views
        came are judged again."""
        if isinstance(self.inner, Supervisor):
            self.inner.tell(membership)
        elif self.owner is not None and self.owner.hear(membership) and \
                self.inner is not None:
            self.inner.scheduler.recheck()

    def _accept_fleet(self, version: int, text: str) -> bool:
        """Can this host load the pushed fleet (its credentials, MIBs, the names its file
        needs)? If not, a `reload_failed` event says why and the running fleet stays."""
        path = self.life.config.path
        try:
            self.life.command_line.apply(load_with_fleet(path, version, text))
        except ConfigError as exc:
            self.life.recorder.event("reload_failed", config=str(path), error=str(exc))
            return False
        return True

    def _on_fleet(self) -> None:
        """A newer pushed fleet is in the cache: the reload path reads and applies it (while
        opening, `open` reads it before the first share is polled)."""
        if self.inner is None:
            self.fetched_at_open = True
        else:
            self.life.signals.queue.put_nowait(Signals.RELOAD)

    def _seed(self) -> TickSeed:
        return TickSeed(self.settings, self.node.membership())

    async def open(self) -> None:
        self.node.set_fleet(self.fleet)
        await self.node.join()  # its first answer brings a newer pushed fleet into the cache
        if self.fetched_at_open:
            self._adopt_cached_fleet()
        running = self.node.running()
        if self.workers > 1:
            self.inner = Supervisor(self.life, self.console, devices=running,
                                    grid=SharedGrid(self._seed, self.node.hurry))
        else:
            self.owner = self._seed().grow(self.node.hurry)
            self.owner.assign([d.name for d in running])
            self.inner = self._local(running, self.owner)
        await self.inner.open()

    def _local(self, running: tuple[Device, ...], owner: TickOwner) -> LocalPolling:
        config = self.life.config

        def on_stats(fields: dict[str, Any]) -> None:
            self.life.recorder.event("stats", **fields)
            self.life.notifier.status(self.status())

        return LocalPolling(
            running, self.life.recorder, config.daemon.engine,
            max_in_flight=config.daemon.max_in_flight, console=self.console,
            stats_interval_s=lambda: self.life.config.daemon.stats_interval_s,
            on_stats=on_stats, keeper=keeper_settings(config.daemon), owner=owner,
            history=config.history,
        )

    def _adopt_cached_fleet(self) -> None:
        """The fleet fetched at the join, before any device is polled: a host whose own file
        lists no devices starts with the pushed fleet rather than a reload later."""
        try:
            config = self.life.command_line.apply(load_config(self.life.config.path))
        except ConfigError as exc:  # the file changed since the check: the fleet stays
            self.life.recorder.event("reload_failed", config=str(self.life.config.path),
                                     error=str(exc))
            return
        self.life.config = config
        self.fleet = config.devices
        self.node.set_fleet(self.fleet)

    def _polling(self) -> LocalPolling | Supervisor:
        if self.inner is None:
            raise RuntimeError("not open")
        return self.inner

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()  # with [history]: the index saved as the drain left it
        if self.index is not None:
            await self.index.close()
        if self.owner is not None:
            await self.owner.close()
        await self.node.close()

    @property
    def devices(self) -> int:
        return self.inner.devices if self.inner is not None else 0

    @property
    def completed(self) -> int:
        return self.inner.completed if self.inner is not None else 0

    @property
    def ready(self) -> bool:
        return self.inner is None or self.inner.ready

    def start(self) -> None:
        self._polling().start()
        if self.owner is not None:
            self.owner.start()
        if self.index is not None:
            self.index.start()
        self.node.start()

    def started_fields(self) -> dict[str, Any]:
        return {"fleet_devices": len(self.fleet), **self._polling().started_fields()}

    def helpers(self) -> Helpers:
        return self._polling().helpers()

    def status(self) -> str:
        return f"{self.node.host}: {self._polling().status()} (epoch {self.node.timeline.epoch})"

    def progressing(self, now: float, slowest_interval_s: float, ping_interval_s: float) -> bool:
        # a member without devices now writes no summaries: its beats are its sign of life
        if not self.node.running():
            return now < self.node.lease_until + slowest_interval_s
        return self._polling().progressing(now, slowest_interval_s, ping_interval_s)

    def apply(self, devices: tuple[Device, ...]) -> dict[str, list[str]]:
        """A reload's fleet (the file, or a pushed fleet): the share follows."""
        before = {d.name: d for d in self.fleet}
        self.fleet = devices
        self.node.set_fleet(devices)
        self._assign(self.node.running())
        return fleet_diff(before, devices)

    def drain_fields(self, cause: str) -> dict[str, Any]:
        return self._polling().drain_fields(cause)

    async def drain(self, grace_s: float, stops: Sequence[object]) -> int:
        """Leave, poll up to the handover instant, then drain: the polls end and their last
        snapshots are sent (by each worker, before it says it stopped)."""
        loop = asyncio.get_running_loop()
        handover = await self.node.leave()
        if handover is not None:
            # poll up to the handover: the next owners start at its instant
            while loop.time() < handover + 0.05 and len(stops) < 2:
                await asyncio.sleep(0.05)
        polling = self._polling()
        cancelled = await polling.drain(grace_s, stops)
        if self.owner is not None:
            await self.owner.flush()
            counts = self.owner.counts()
        else:
            counts = polling.owner_counts() if isinstance(polling, Supervisor) else {}
        self.life.recorder.event("cluster_left", host=self.node.host,
                                 handed_over=handover is not None,
                                 snapshots=counts.get("snapshots", 0),
                                 snapshot_bytes=counts.get("snapshot_bytes", 0))
        return cancelled

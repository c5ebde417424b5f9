"""`poller run` with [cluster]: this host's share of the fleet polled in this process, on the
shared grid, with the lifecycle of every daemon (poller.run.lifecycle) around it.

A stop hands over before it drains: the others poll this host's devices from an instant
announced through Redis (half a lease on), this host polls up to it, then its last polls end
and their snapshots are sent, so the next owners carry on without a gap or a tick polled twice.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from poller.cluster.node import Node
from poller.config.load import load_config, load_with_fleet
from poller.config.model import Config, Device, fleet_diff
from poller.config.shard import CommandLine
from poller.errors import ConfigError
from poller.output.recorder import Recorder
from poller.run.lifecycle import Helpers, Lifecycle, Signals, run_loop
from poller.run.local import LocalPolling
from poller.run.state_keeper import keeper_settings
from poller.run.systemd import Notifier


def run(config: Config, *, console: bool = False, command_line: CommandLine | None = None) -> int:
    """The daemon of one member, until SIGTERM/SIGINT. Returns the exit code."""
    recorder = Recorder(config.output, console=sys.stderr if console else None)
    notifier = Notifier()
    try:
        life = Lifecycle(config, recorder, notifier, command_line or CommandLine())
        return run_loop(life.serve(ClusterPolling(life, console)))
    finally:
        notifier.close()
        recorder.close()


class ClusterPolling:
    """A Polling (poller.run.lifecycle): LocalPolling over this host's share, kept up to date
    by the Node as members come and go."""

    def __init__(self, life: Lifecycle, console: bool) -> None:
        config = life.config
        if config.cluster is None or config.daemon.state_directory is None:
            raise ValueError("ClusterPolling needs [cluster] and a state directory")
        self.life = life
        self.console = console
        self.fleet = config.devices
        self.node = Node(config.cluster, life.recorder, config.daemon.state_directory,
                         on_share=self._on_share, on_fleet=self._on_fleet,
                         accept_fleet=self._accept_fleet, fleet_version=self._fleet_version,
                         on_view=self._on_view)
        self.inner: LocalPolling | None = None
        self.ready = True
        self.fetched_at_open = False

    def _fleet_version(self) -> int:
        cluster = self.life.config.cluster
        return cluster.fleet_version if cluster is not None else 0

    def _on_share(self, _names: frozenset[str]) -> None:
        if self.inner is not None:
            self.inner.apply(self.node.running())

    def _on_view(self) -> None:
        """The members changed: ticks judged before this host knew are judged again."""
        if self.inner is not None:
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

    async def open(self) -> None:
        self.node.set_fleet(self.fleet)
        await self.node.join()  # its first answer brings a newer pushed fleet into the cache
        if self.fetched_at_open:
            self._adopt_cached_fleet()
        config = self.life.config

        def on_stats(fields: dict[str, Any]) -> None:
            self.life.recorder.event("stats", **fields)
            self.life.notifier.status(self.status())

        self.inner = LocalPolling(
            self.node.running(), self.life.recorder, config.daemon.engine,
            max_in_flight=config.daemon.max_in_flight, console=self.console,
            stats_interval_s=lambda: self.life.config.daemon.stats_interval_s,
            on_stats=on_stats, keeper=keeper_settings(config.daemon), owner=self.node,
        )
        await self.inner.open()

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

    def _polling(self) -> LocalPolling:
        if self.inner is None:
            raise RuntimeError("not open")
        return self.inner

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()
        await self.node.close()

    @property
    def devices(self) -> int:
        return self.inner.devices if self.inner is not None else 0

    @property
    def completed(self) -> int:
        return self.inner.completed if self.inner is not None else 0

    def start(self) -> None:
        self._polling().start()
        self.node.start()

    def started_fields(self) -> dict[str, Any]:
        return {"fleet_devices": len(self.fleet)}

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
        self._polling().apply(self.node.running())
        return fleet_diff(before, devices)

    def drain_fields(self, cause: str) -> dict[str, Any]:
        return {}

    async def drain(self, grace_s: float, stops: Sequence[object]) -> int:
        loop = asyncio.get_running_loop()
        handover = await self.node.leave()
        if handover is not None:
            # poll up to the handover: the next owners start at its instant
            while loop.time() < handover + 0.05 and len(stops) < 2:
                await asyncio.sleep(0.05)
        cancelled = await self._polling().drain(grace_s, stops)
        await self.node.flush()
        self.life.recorder.event(
            "cluster_left", host=self.node.host, handed_over=handover is not None,
            snapshots=self.node.snapshots_sent, snapshot_bytes=self.node.snapshot_bytes)
        return cancelled

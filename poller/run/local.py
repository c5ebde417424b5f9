"""Polling in this process: the scheduler, its SNMP client and its stats. The one-process daemon
polls this way, and so does each worker process, for its share of the fleet."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from poller.config.model import Device, HistorySettings
from poller.output.sink import RecordSink
from poller.run.console import console_writer
from poller.run.grid import Owner
from poller.run.history_sink import History
from poller.run.lifecycle import (
    Helpers,
    drain_or_force,
    freeze_after_first_round,
    polls_completing,
    stats_loop,
)
from poller.run.scheduler import Scheduler
from poller.run.state_keeper import KeeperSettings, StateKeeper
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester


class LocalPolling:
    """A Polling (poller.run.lifecycle) whose scheduler runs on this process's loop.

    `on_stats` takes each stats record's fields, every `stats_interval_s()` seconds: the daemon
    writes them, a worker ships them to its parent. With `history`, the data records also go to
    this process's history writer (`worker`: which worker this is, None for the daemon)."""

    def __init__(self, devices: tuple[Device, ...], sink: RecordSink, engine: str, *,
                 max_in_flight: int, console: bool, stats_interval_s: Callable[[], float],
                 on_stats: Callable[[dict[str, Any]], None],
                 keeper: KeeperSettings | None = None, history: HistorySettings | None = None,
                 worker: int | None = None, owner: Owner | None = None) -> None:
        self._devices = devices
        self._records = sink
        self._history = History(history, devices, worker) if history is not None else None
        self._sink: RecordSink = self._history.sink(sink) if self._history else sink
        self._engine = engine
        self._max_in_flight = max_in_flight
        self._console = console
        self._stats_interval_s = stats_interval_s
        self._on_stats = on_stats
        self._keeper = StateKeeper(keeper, sink) if keeper is not None else None
        self.ready = True  # READY=1 once the schedules start
        self._owner = owner  # [cluster]: the shared grid and who polls each tick

    async def open(self) -> None:
        self._client = SnmpClient(make_requester(self._engine))
        self.scheduler = Scheduler(
            self._devices, self._client, self._sink, max_in_flight=self._max_in_flight,
            console=console_writer(self._sink) if self._console else None,
            owner=self._owner,
        )

    async def close(self) -> None:
        await self._client.close()
        if self._history is not None:
            # after the drain: what the last polls handed over is written, then the index saved
            await asyncio.to_thread(self._history.close)

    @property
    def devices(self) -> int:
        return self.scheduler.devices

    @property
    def completed(self) -> int:
        return self.scheduler.completed

    def start(self) -> None:
        self._restore_state()
        self.scheduler.start()

    def _restore_state(self) -> None:
        """The last run's counters, before the first poll (after the `started` event)."""
        if self._keeper is not None:
            self._keeper.restore(self.scheduler.states())

    async def run_once(self) -> None:
        self._restore_state()
        await self.scheduler.run_once()
        await self._save_state()

    async def _save_state(self) -> None:
        if self._keeper is not None:
            await self._keeper.save(self.scheduler.states(), final=True)

    def started_fields(self) -> dict[str, Any]:
        return {}

    def helpers(self) -> Helpers:
        helpers = {"stats": stats_loop(self._stats_interval_s, self._report_stats),
                   "gc-freeze": freeze_after_first_round(self._devices)}
        if self._keeper is not None and self._keeper.settings.interval_s > 0:
            helpers["state"] = self._keeper.keep(self.scheduler.states)
        return helpers

    def _report_stats(self, loop_lag_s: float) -> None:
        fields = stats_fields(self.scheduler, self._records, loop_lag_s,
                              self._client.replies_dropped())
        if self._history is not None:
            fields.update(self._history.stats())
        self._on_stats(fields)

    def status(self) -> str:
        s = self.scheduler
        return f"polling {s.devices} devices; {s.completed} polls done, {s.in_flight} in flight"

    def progressing(self, now: float, slowest_interval_s: float, ping_interval_s: float) -> bool:
        return polls_completing(now, self.scheduler.last_progress, slowest_interval_s,
                                ping_interval_s)

    def apply(self, devices: tuple[Device, ...]) -> dict[str, list[str]]:
        if self._history is not None:
            self._history.apply(devices)
        return self.scheduler.apply(devices)

    def drain_fields(self, cause: str) -> dict[str, Any]:
        return {}

    async def drain(self, grace_s: float, stops: Sequence[object]) -> int:
        cancelled = await drain_or_force(self.scheduler, grace_s, stops)
        await self._save_state()
        return cancelled


def stats_fields(scheduler: Scheduler, sink: RecordSink, loop_lag_s: float,
                 replies_dropped: dict[str, int] | None = None) -> dict[str, Any]:
    """The `stats` record: the polls since the last one, their queueing lag, and the process.
    `replies_dropped`: the SNMP replies dropped since start, by reason (None: not counted)."""
    window = scheduler.take_window()
    lags = sorted(window.lags_s)

    def quantile(q: float) -> float | None:
        # nearest rank: the smallest value with at least q of all values at or below it
        return round(lags[max(0, math.ceil(len(lags) * q) - 1)], 6) if lags else None

    return {
        "devices": scheduler.devices,
        "polls": dict(sorted(window.statuses.items())),
        "overruns": window.overruns,
        "lag_p50_s": quantile(0.5),
        "lag_p99_s": quantile(0.99),
        "lag_max_s": round(lags[-1], 6) if lags else None,
        "in_flight": scheduler.in_flight,
        "records_written": sink.written,
        "records_dropped": sink.dropped,
        "replies_dropped": replies_dropped,
        "loop_lag_s": round(loop_lag_s, 6),
        "rss_mib": round(_rss_kib() / 1024, 1),
        "open_fds": _open_fds(),
    }


def _rss_kib() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None

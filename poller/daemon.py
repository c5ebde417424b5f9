"""Lifecycle: uvloop, the one SNMP engine, signals, start, drain. The only place that knows
about signals and the event loop policy."""

from __future__ import annotations

import asyncio
import gc
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any

import uvloop

from poller import __version__
from poller.config import Config, Device
from poller.poll import PollOutcome
from poller.records import Recorder
from poller.scheduler import Scheduler
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from poller.systemd import Notifier


def run(config: Config, *, once: bool = False, console: bool = False) -> int:
    """Run the daemon until SIGTERM/SIGINT (or one round with `once`). Returns the exit code."""
    recorder = Recorder(config.output, console=sys.stderr if console else None)
    notifier = Notifier()
    try:
        return uvloop.run(_Daemon(config, recorder, notifier, console).main(once))
    finally:
        notifier.close()
        recorder.close()


class _Daemon:
    """The one owner of the scheduler, the SNMP client and the signals."""

    def __init__(self, config: Config, recorder: Recorder, notifier: Notifier, console: bool) -> None:
        self.config = config
        self.recorder = recorder
        self.notifier = notifier
        self.console = console
        self.signals: asyncio.Queue[int] = asyncio.Queue()
        self.stops: list[int] = []
        self.started = time.monotonic()

    def on_signal(self, signum: int) -> None:
        # Record only; main() does the work, one signal at a time.
        if signum != signal.SIGHUP:
            self.stops.append(signum)
        self.signals.put_nowait(signum)

    async def main(self, once: bool) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self.on_signal, signum)
        client = SnmpClient(make_requester(self.config.daemon.engine))
        config = self.config
        self.scheduler = Scheduler(
            config.devices, client, self.recorder,
            max_in_flight=config.daemon.max_in_flight,
            console=_console_writer(self.recorder) if self.console else None,
        )
        self.recorder.event(
            "started", version=__version__, pid=os.getpid(), config=str(config.path),
            devices=len(config.devices), mode="once" if once else "daemon",
        )
        cancelled = 0
        try:
            if once:
                await self.scheduler.run_once()
            else:
                cancelled = await self._serve()
        finally:
            await client.close()
        self.recorder.event(
            "stopped", polls=self.scheduler.completed, cancelled=cancelled,
            uptime_s=round(time.monotonic() - self.started, 3),
        )
        return 0

    async def _serve(self) -> int:
        self.scheduler.start()
        self.notifier.ready(self._status())
        helpers = [asyncio.create_task(self._stats_loop(), name="stats"),
                   asyncio.create_task(self._freeze_after_first_round(), name="gc-freeze")]
        if self.notifier.watchdog_interval_s:
            helpers.append(asyncio.create_task(self._watchdog_loop(), name="watchdog"))
        try:
            while True:
                signum = await self.signals.get()
                if signum == signal.SIGHUP:
                    self._reload()
                    continue
                grace = self.config.daemon.drain_grace_s
                name = signal.Signals(signum).name
                self.notifier.stopping(f"draining ({name}), up to {grace:g} s")
                self.recorder.event("drain", signal=name, grace_s=grace)
                return await _drain_or_force(self.scheduler, grace, self.stops)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    def _reload(self) -> None:
        """Validate the file again; keep the running fleet when it is bad."""
        from poller.config import load_config
        from poller.errors import ConfigError

        self.notifier.reloading()
        try:
            new = load_config(self.config.path)
        except ConfigError as exc:
            self.recorder.event("reload_failed", config=str(self.config.path), error=str(exc))
            self.notifier.ready(f"reload failed, still polling {self.scheduler.devices} devices")
            return
        diff = self.scheduler.apply(new.devices)
        restart = [name for name in ("daemon", "output")
                   if getattr(new, name) != getattr(self.config, name)]
        self.config = new
        self.recorder.event(
            "reloaded", config=str(new.path), devices=len(new.devices),
            added=diff["added"], removed=diff["removed"], changed=diff["changed"],
            unchanged=len(diff["unchanged"]), needs_restart=restart,
        )
        self.notifier.ready(self._status())

    def _status(self) -> str:
        s = self.scheduler
        return f"polling {s.devices} devices; {s.completed} polls done, {s.in_flight} in flight"

    async def _stats_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            interval = self.config.daemon.stats_interval_s
            asked = loop.time()
            await asyncio.sleep(interval)
            loop_lag = max(0.0, loop.time() - asked - interval)
            self.recorder.event("stats", **stats_fields(self.scheduler, self.recorder, loop_lag))
            self.notifier.status(self._status())

    async def _freeze_after_first_round(self) -> None:
        """Once every device has polled once, the fleet's long-lived state (counter state,
        targets, decoded OIDs) exists: take it out of the cyclic collector's sight. Full
        collections over a 10,000-device fleet's state stalled the loop for 0.1-0.7 s each
        (measured); afterwards they scan only newer objects. Refcounting still frees them.
        The configuration is frozen at once, for the first round's collections."""
        gc.freeze()
        slowest = max((d.interval_s for d in self.config.devices), default=0.0)
        await asyncio.sleep(slowest + 1.0)
        gc.freeze()

    async def _watchdog_loop(self) -> None:
        """WATCHDOG=1 only while polls complete: a scheduler that stopped producing summaries
        for longer than its slowest device's interval (and then some) gets restarted."""
        loop = asyncio.get_running_loop()
        interval = self.notifier.watchdog_interval_s or 1.0
        while True:
            slowest = max((d.interval_s for d in self.config.devices), default=60.0)
            if polls_completing(loop.time(), self.scheduler.last_progress, slowest, interval):
                self.notifier.watchdog()
            await asyncio.sleep(interval)


def polls_completing(now: float, last_progress: float, slowest_interval_s: float,
                     ping_interval_s: float) -> bool:
    """The watchdog's test: a summary was written within two of the slowest device's intervals
    (every device writes one per interval, whatever happens to its polls)."""
    return now - last_progress < 2 * slowest_interval_s + ping_interval_s


def stats_fields(scheduler: Scheduler, recorder: Recorder, loop_lag_s: float) -> dict[str, Any]:
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
        "records_written": recorder.written,
        "records_dropped": recorder.dropped,
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


async def _drain_or_force(scheduler: Scheduler, grace_s: float, signals_seen: list[int]) -> int:
    """Drain; a second signal cuts the grace short (in-flight polls are cancelled at once)."""
    drain = asyncio.ensure_future(scheduler.drain(grace_s))
    while not drain.done():
        await asyncio.wait({drain}, timeout=0.1)
        if len(signals_seen) > 1:
            scheduler.cancel_polls()
    return drain.result()


def _console_writer(recorder: Recorder) -> Any:
    def write(device: Device, fields: dict[str, Any], outcome: PollOutcome, took_s: float) -> None:
        recorder.console_line(console_line(device, fields, outcome, took_s))

    return write


def console_line(device: Device, fields: dict[str, Any], outcome: PollOutcome, took_s: float) -> str:
    """One short human line per poll, for the terminal (`make run`)."""
    clock = datetime.now(timezone.utc).strftime("%H:%M:%S")
    status = fields.get("status", "?")
    parts = [f"{clock} {device.name:<16} {status:<8} {took_s * 1000:7.1f} ms",
             f"{outcome.stats.requests:3d} req {outcome.stats.varbinds:5d} vb {outcome.rows:3d} rows"]
    for column, bps in sorted(outcome.bps_totals.items()):
        label = "in" if "In" in column else "out" if "Out" in column else column
        parts.append(f"{label} {_si(bps)}bit/s")
    if "error_type" in fields:
        parts.append(f"[{fields['error_type']}] {fields.get('error', '')}")
    return "  ".join(parts)


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:6.2f} {unit}"
    return f"{value:6.1f} "

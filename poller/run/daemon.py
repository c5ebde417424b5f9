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
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import uvloop

from poller import __version__
from poller.config.model import Config, Device
from poller.config.shard import CommandLine, owned
from poller.output.recorder import Recorder
from poller.poll.device import PollOutcome
from poller.run import reload
from poller.run.scheduler import Scheduler
from poller.run.systemd import Notifier
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester

if TYPE_CHECKING:
    from poller.run.workers.record_pipe import ShippedRecords


def run(config: Config, *, once: bool = False, console: bool = False,
        command_line: CommandLine | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (or one round with `once`). Returns the exit code.

    `command_line` (--shard, --workers) wins over the file, also after a reload. With `workers`
    > 1 the parent supervises worker processes (poller.run.workers.supervisor); with 1, this process polls
    its shard itself, as it always has."""
    command_line = command_line or CommandLine()
    config = command_line.apply(config)
    recorder = Recorder(config.output, console=sys.stderr if console else None)
    notifier = Notifier()
    try:
        if config.daemon.workers > 1 and not once:
            from poller.run.workers.supervisor import Supervisor

            supervisor = Supervisor(config, recorder, notifier, console, command_line)
            return uvloop.run(_with_signals(supervisor.main))
        daemon = _Daemon(config, recorder, notifier, console, command_line)
        return uvloop.run(daemon.main(once))
    finally:
        notifier.close()
        recorder.close()


def run_worker() -> None:
    """A worker process's entry (`python -c ... UP_FD DOWN_FD`, started by poller.run.workers.supervisor):
    its first order says who it is and what it polls. Its parent alone decides when it stops,
    so the signals that reach a whole process group (systemd's SIGTERM to the control group, a
    terminal's Ctrl-C, a hang-up) are ignored here."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    from multiprocessing.connection import Connection

    from poller.run.workers.worker import Worker

    up = Connection(int(sys.argv[1]), readable=False)
    down = Connection(int(sys.argv[2]), writable=False)
    _, index, devices, settings, console = down.recv()
    raise SystemExit(uvloop.run(Worker(index, devices, settings, up, down, console).main()))


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


class Signals:
    """SIGTERM, SIGINT and SIGHUP as they arrive: handlers only record, the loop does the work,
    one signal at a time. `stops` counts the stop signals, so a second one can force."""

    RELOAD = signal.SIGHUP

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.stops: list[int] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self.on_signal, signum)

    def on_signal(self, signum: int) -> None:
        if signum != signal.SIGHUP:
            self.stops.append(signum)
        self.queue.put_nowait(signum)


async def _with_signals(main: Callable[[Signals], Awaitable[int]]) -> int:
    signals = Signals()
    signals.install()
    return await main(signals)


class _Daemon:
    """The one owner of the scheduler, the SNMP client and the signals."""

    def __init__(self, config: Config, recorder: Recorder, notifier: Notifier, console: bool,
                 command_line: CommandLine) -> None:
        self.config = config
        self.command_line = command_line
        self.recorder = recorder
        self.notifier = notifier
        self.console = console
        self.signals = Signals()
        #: fixed at start: a reload that changes it is listed in `needs_restart`
        self.shard = config.daemon.shard
        self.started = time.monotonic()

    async def main(self, once: bool) -> int:
        self.signals.install()
        client = SnmpClient(make_requester(self.config.daemon.engine))
        config = self.config
        devices = owned(config.devices, self.shard)
        self.scheduler = Scheduler(
            devices, client, self.recorder,
            max_in_flight=config.daemon.max_in_flight,
            console=console_writer(self.recorder) if self.console else None,
        )
        self.recorder.event(
            "started", version=__version__, pid=os.getpid(), config=str(config.path),
            devices=len(devices), mode="once" if once else "daemon", **shard_fields(config),
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
                   asyncio.create_task(freeze_after_first_round(self.config.devices),
                                       name="gc-freeze")]
        if self.notifier.watchdog_interval_s:
            helpers.append(asyncio.create_task(self._watchdog_loop(), name="watchdog"))
        try:
            while True:
                signum = await self.signals.queue.get()
                if signum == signal.SIGHUP:
                    self._reload()
                    continue
                grace = self.config.daemon.drain_grace_s
                name = signal.Signals(signum).name
                self.notifier.stopping(f"draining ({name}), up to {grace:g} s")
                self.recorder.event("drain", signal=name, grace_s=grace)
                return await drain_or_force(self.scheduler, grace, self.signals.stops)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    def _reload(self) -> None:
        """Validate the file again; keep the running fleet when it is bad."""
        new = reload.load_again(self.config, self.command_line, self.recorder, self.notifier,
                                self.scheduler.devices)
        if new is None:
            return
        mine = owned(new.devices, self.shard)
        diff = self.scheduler.apply(mine)
        reload.record_reloaded(self.recorder, self.config, new, len(mine), diff)
        self.config = new
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

    async def _watchdog_loop(self) -> None:
        """WATCHDOG=1 only while polls complete: a scheduler that stopped producing summaries
        for longer than its slowest device's interval (and then some) gets restarted."""
        loop = asyncio.get_running_loop()
        interval = self.notifier.watchdog_interval_s or 1.0
        while True:
            slowest = self.config.slowest_interval_s
            if polls_completing(loop.time(), self.scheduler.last_progress, slowest, interval):
                self.notifier.watchdog()
            await asyncio.sleep(interval)


async def freeze_after_first_round(devices: Sequence[Device]) -> None:
    """Once every device has polled once, the fleet's long-lived state (counter state,
    targets, decoded OIDs) exists: take it out of the cyclic collector's sight. Full
    collections over a 10,000-device fleet's state stalled the loop for 0.1-0.7 s each
    (measured); afterwards they scan only newer objects. Refcounting still frees them.
    The configuration is frozen at once, for the first round's collections. Run by the
    one-process daemon and by each worker, for its own share."""
    gc.freeze()
    await asyncio.sleep(max((d.interval_s for d in devices), default=0.0) + 1.0)
    gc.freeze()


def shard_fields(config: Config) -> dict[str, Any]:
    """What `started` says of this host's part of the fleet, when it has only a part."""
    if config.daemon.shard.count == 1:
        return {}
    return {"shard": str(config.daemon.shard), "fleet_devices": len(config.devices)}


def polls_completing(now: float, last_progress: float, slowest_interval_s: float,
                     ping_interval_s: float) -> bool:
    """The watchdog's test: a summary was written within two of the slowest device's intervals
    (every device writes one per interval, whatever happens to its polls)."""
    return now - last_progress < 2 * slowest_interval_s + ping_interval_s


def stats_fields(scheduler: Scheduler, recorder: Recorder | ShippedRecords,
                 loop_lag_s: float) -> dict[str, Any]:
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


async def drain_or_force(scheduler: Scheduler, grace_s: float,
                         signals_seen: Sequence[object]) -> int:
    """Drain; a second signal cuts the grace short (in-flight polls are cancelled at once)."""
    drain = asyncio.ensure_future(scheduler.drain(grace_s))
    while not drain.done():
        await asyncio.wait({drain}, timeout=0.1)
        if len(signals_seen) > 1:
            scheduler.cancel_polls()
    return drain.result()


def console_writer(recorder: Recorder | ShippedRecords) -> Any:
    def write(device: Device, fields: dict[str, Any], outcome: PollOutcome, took_s: float) -> None:
        recorder.console_line(console_line(device, fields, outcome, took_s))

    return write


def console_line(device: Device, fields: dict[str, Any], outcome: PollOutcome, took_s: float) -> str:
    """One short human line per poll, for the terminal (`make run`)."""
    clock = datetime.now(UTC).strftime("%H:%M:%S")
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

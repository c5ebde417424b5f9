"""One lifecycle for whoever polls: the one-process daemon (poller.run.local), the supervisor of
worker processes (poller.run.workers.supervisor), and in part each worker.

`started`, READY=1, SIGHUP's reload, the watchdog, SIGTERM/SIGINT's drain and `stopped` are the
same whoever polls; a `Polling` says only how its devices are polled, counted and stopped. The
only place that knows about signals and the event loop policy (uvloop)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import uvloop

from poller import __version__
from poller.config.model import Config, Device
from poller.config.shard import CommandLine, owned
from poller.output.recorder import Recorder
from poller.run import reload
from poller.run.scheduler import Scheduler
from poller.run.systemd import Notifier

#: a helper task of a Polling, by name
Helpers = dict[str, Coroutine[Any, Any, None]]


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """`main` to its end on a fresh uvloop event loop; its result."""
    return uvloop.run(main)


def ignore_stop_signals() -> None:
    """For a worker process: its parent alone decides when it stops, so the signals that reach a
    whole process group (systemd's SIGTERM to the control group, a terminal's Ctrl-C, a
    hang-up) are ignored."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


class Signals:
    """SIGTERM, SIGINT and SIGHUP as they arrive: handlers only record, the loop does the work,
    one signal at a time. `stops` counts the stop signals, so a second one can force."""

    RELOAD = signal.SIGHUP
    #: not a signal: put on the queue by a Polling that cannot go on (stop everything, exit 1)
    GIVE_UP = -1

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

    def give_up(self) -> None:
        self.queue.put_nowait(self.GIVE_UP)


class Polling(Protocol):
    """Who polls this host's devices: the scheduler in this process, or worker processes."""

    @property
    def devices(self) -> int:
        """Devices polled here now."""

    @property
    def completed(self) -> int:
        """Polls done so far."""

    @property
    def ready(self) -> bool:
        """Every schedule runs (READY=1 is due)."""

    async def open(self) -> None:
        """Whatever needs the running loop, before `started`."""

    def start(self) -> None:
        """Start polling."""

    def started_fields(self) -> dict[str, Any]:
        """What `started` says besides the common fields."""

    def helpers(self) -> Helpers:
        """Tasks to run while polling (stats, GC freeze), cancelled at the end."""

    def status(self) -> str:
        """The short live summary for systemd's STATUS=."""

    def progressing(self, now: float, slowest_interval_s: float, ping_interval_s: float) -> bool:
        """The watchdog's test (see polls_completing)."""

    def apply(self, devices: tuple[Device, ...]) -> dict[str, list[str]]:
        """A reload's devices for this host; returns the diff by name."""

    def drain_fields(self, cause: str) -> dict[str, Any]:
        """What `drain` says besides the signal and the grace."""

    async def drain(self, grace_s: float, stops: Sequence[object]) -> int:
        """Stop; a second stop cuts the grace short. Returns how many polls were cancelled."""

    async def close(self) -> None:
        """Release what `open` took."""


class Lifecycle:
    """The daemon's life around a Polling, from `started` to `stopped`."""

    def __init__(self, config: Config, recorder: Recorder, notifier: Notifier,
                 command_line: CommandLine) -> None:
        self.config = config
        self.recorder = recorder
        self.notifier = notifier
        self.command_line = command_line
        self.signals = Signals()
        #: fixed at start: a reload that changes it is listed in `needs_restart`
        self.shard = config.daemon.shard
        self.started = time.monotonic()
        self.announced = False
        self.stopping = False

    async def serve(self, polling: Polling) -> int:
        """Poll until a stop signal (or the Polling gives up), then drain. Returns the exit code."""
        self.signals.install()
        await polling.open()
        try:
            self.record_started(polling, "daemon")
            polling.start()
            if polling.ready:
                self.announce(polling)
            helpers = polling.helpers()
            if self.notifier.watchdog_interval_s:
                helpers["watchdog"] = self.watchdog_loop(polling)
            async with running(helpers):
                code, cancelled = await self._until_stopped(polling)
        finally:
            await polling.close()
        self.record_stopped(polling, cancelled)
        return code

    async def _until_stopped(self, polling: Polling) -> tuple[int, int]:
        while True:
            signum = await self.signals.queue.get()
            if signum == Signals.RELOAD:
                self.reload(polling)
            elif signum == Signals.GIVE_UP:
                return 1, await self.drain(polling, None, "worker_failed")
            else:
                return 0, await self.drain(polling, signal_name(signum), "signal")

    def record_started(self, polling: Polling, mode: str) -> None:
        self.recorder.event(
            "started", version=__version__, pid=os.getpid(), config=str(self.config.path),
            devices=polling.devices, mode=mode, **shard_fields(self.config),
            **polling.started_fields(),
        )

    def record_stopped(self, polling: Polling, cancelled: int) -> None:
        self.recorder.event("stopped", polls=polling.completed, cancelled=cancelled,
                            uptime_s=round(time.monotonic() - self.started, 3))

    def announce(self, polling: Polling) -> None:
        """READY=1, once, when polling first runs in full (not once stopping)."""
        if not (self.announced or self.stopping):
            self.announced = True
            self.notifier.ready(polling.status())

    def reload(self, polling: Polling) -> None:
        """Validate the file again; keep the running fleet when it is bad."""
        new = reload.load_again(self.config, self.command_line, self.recorder, self.notifier,
                                polling.devices)
        if new is None:
            return
        mine = owned(new.devices, self.shard)
        diff = polling.apply(mine)
        reload.record_reloaded(self.recorder, self.config, new, len(mine), diff)
        self.config = new
        self.notifier.ready(polling.status())

    async def drain(self, polling: Polling, signal: str | None, cause: str) -> int:
        self.stopping = True
        grace = self.config.daemon.drain_grace_s
        self.notifier.stopping(f"draining ({signal or cause}), up to {grace:g} s")
        self.recorder.event("drain", signal=signal, grace_s=grace, **polling.drain_fields(cause))
        return await polling.drain(grace, self.signals.stops)

    async def watchdog_loop(self, polling: Polling) -> None:
        """WATCHDOG=1 only while polls complete: polling that stopped producing summaries for
        longer than the slowest device's interval (and then some) gets restarted."""
        loop = asyncio.get_running_loop()
        interval = self.notifier.watchdog_interval_s or 1.0
        while True:
            if polling.progressing(loop.time(), self.config.slowest_interval_s, interval):
                self.notifier.watchdog()
            await asyncio.sleep(interval)


@asynccontextmanager
async def running(helpers: Helpers) -> AsyncIterator[None]:
    """The helpers run as tasks while the block does; they are cancelled and awaited after."""
    tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in helpers.items()]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def stats_loop(interval_s: Callable[[], float], report: Callable[[float], None]) -> None:
    """`report(loop_lag_s)` every `interval_s()`: the lag is how late the loop woke this task."""
    loop = asyncio.get_running_loop()
    while True:
        interval = interval_s()
        asked = loop.time()
        await asyncio.sleep(interval)
        report(max(0.0, loop.time() - asked - interval))


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


async def drain_or_force(scheduler: Scheduler, grace_s: float,
                         signals_seen: Sequence[object]) -> int:
    """Drain; a second signal cuts the grace short (in-flight polls are cancelled at once)."""
    drain = asyncio.ensure_future(scheduler.drain(grace_s))
    while not drain.done():
        await asyncio.wait({drain}, timeout=0.1)
        if len(signals_seen) > 1:
            scheduler.cancel_polls()
    return drain.result()


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


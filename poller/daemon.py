"""Lifecycle: uvloop, the one SNMP engine, signals, start, drain. The only place that knows
about signals and the event loop policy."""

from __future__ import annotations

import asyncio
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
from poller.snmp.pysnmp_requester import PysnmpRequester


def run(config: Config, *, once: bool = False, console: bool = False) -> int:
    """Run the daemon until SIGTERM/SIGINT (or one round with `once`). Returns the exit code."""
    recorder = Recorder(config.output, console=sys.stderr if console else None)
    try:
        return uvloop.run(_main(config, recorder, once, console))
    finally:
        recorder.close()


async def _main(config: Config, recorder: Recorder, once: bool, console: bool) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen: list[int] = []

    def on_signal(signum: int) -> None:
        # Record only; the loop below does the work. A second signal forces a quick exit.
        signals_seen.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    client = SnmpClient(PysnmpRequester())
    scheduler = Scheduler(
        config.devices,
        client,
        recorder,
        max_in_flight=config.daemon.max_in_flight,
        console=_console_writer(recorder) if console else None,
    )
    started = time.monotonic()
    recorder.event(
        "started",
        version=__version__,
        pid=os.getpid(),
        config=str(config.path),
        devices=len(config.devices),
        mode="once" if once else "daemon",
    )
    try:
        if once:
            await scheduler.run_once()
            cancelled = 0
        else:
            scheduler.start()
            await stop.wait()
            grace = config.daemon.drain_grace_s
            recorder.event("drain", signal=signal.Signals(signals_seen[0]).name, grace_s=grace)
            cancelled = await _drain_or_force(scheduler, grace, signals_seen)
    finally:
        await client.close()
    recorder.event(
        "stopped",
        polls=scheduler.completed,
        cancelled=cancelled,
        uptime_s=round(time.monotonic() - started, 3),
    )
    return 0


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

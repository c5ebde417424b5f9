"""The parent of `workers = N` worker processes (poller.run.workers.worker): it starts them, one per stable
share of this host's shard (poller.config.shard.split), writes every record they ship (the one writer
of the files), and speaks for all of them to systemd.

- READY=1 once every worker says its schedules run; WATCHDOG=1 only while every worker keeps
  writing summaries (each says how long ago its last one was, every second: a stuck worker says
  nothing, and the pings stop).
- SIGHUP: the file is read again here; a bad one is a `reload_failed` event and the fleet is
  kept; a good one gives every worker its new share. Shares only change with the devices: the
  shard and the worker count, which decide who owns what, apply at a restart (`needs_restart`),
  so no device moves from one worker to another while both run.
- SIGTERM/SIGINT: every worker drains (a second signal cuts the grace short), then `stopped`.
- A worker that exits unbidden is a `worker_exited` event and is started again after a backoff
  of 1, 2, 4, 8, 16 s; a sixth exit of the same worker within RESTART_WINDOW_S is a
  `worker_failed` event, the others drain, and the daemon exits 1 so that the service manager
  restarts it whole (Restart=on-failure) instead of poller hiding a crash loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from poller import __version__
from poller.config.model import Config, Device, fleet_diff
from poller.config.shard import CommandLine, owned, split
from poller.output.recorder import Recorder
from poller.run import reload
from poller.run.daemon import (
    Signals,
    polls_completing,
    shard_fields,
    signal_name,
)
from poller.run.systemd import Notifier
from poller.run.workers.order_pipe import OrderPipe
from poller.run.workers.record_pipe import KIND_MESSAGE, KINDS

RESTART_WINDOW_S = 600.0
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0)
#: a worker that does not exit this long after its drain grace is killed
KILL_AFTER_S = 15.0
#: put on the signal queue when a worker keeps dying: stop everything, exit 1
GIVE_UP = -1
PIPE_BYTES = 1 << 20


class RestartPolicy:
    """One worker's unbidden exits: how long to wait before starting it again, or None when it
    died more than len(BACKOFF_S) times within RESTART_WINDOW_S (give up)."""

    def __init__(self) -> None:
        self.exits: list[float] = []

    def on_exit(self, now: float) -> float | None:
        self.exits = [t for t in self.exits if now - t < RESTART_WINDOW_S] + [now]
        if len(self.exits) > len(BACKOFF_S):
            return None
        return BACKOFF_S[len(self.exits) - 1]


@dataclass(eq=False)
class _Handle:
    """One worker slot, across the processes that fill it."""

    index: int
    devices: tuple[Device, ...]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    process: subprocess.Popen[bytes] | None = None
    orders: OrderPipe | None = None
    #: which process of this slot a message comes from: late ones of a dead process are ignored
    generation: int = 0
    running: bool = False
    ready: bool = False
    #: loop time of the worker's last summary, as it last said
    progress_at: float = 0.0
    completed: int = 0
    completed_before: int = 0
    in_flight: int = 0
    cancelled: int = 0
    restarts: int = 0
    restart_timer: asyncio.TimerHandle | None = None


class Supervisor:
    def __init__(self, config: Config, recorder: Recorder, notifier: Notifier, console: bool,
                 command_line: CommandLine) -> None:
        self.config = config
        self.recorder = recorder
        self.notifier = notifier
        self.console = console
        self.command_line = command_line
        #: fixed at start: who owns which device
        self.settings = config.daemon
        self.shard = config.daemon.shard
        shares = split(owned(config.devices, self.shard), self.shard, config.daemon.workers)
        self.handles = [_Handle(i, share) for i, share in enumerate(shares)]
        self.stopping = False
        self.announced = False
        self.started = time.monotonic()

    async def main(self, signals: Signals) -> int:
        self.loop = asyncio.get_running_loop()
        self.signals = signals
        self.recorder.event(
            "started", version=__version__, pid=os.getpid(), config=str(self.config.path),
            devices=self.devices, mode="daemon", **shard_fields(self.config),
            workers=len(self.handles),
        )
        for handle in self.handles:
            self._start(handle)
        helpers = []
        if self.notifier.watchdog_interval_s:
            helpers.append(asyncio.create_task(self._watchdog_loop(), name="watchdog"))
        try:
            code = await self._serve()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        self.recorder.event(
            "stopped", polls=sum(h.completed for h in self.handles),
            cancelled=sum(h.cancelled for h in self.handles),
            uptime_s=round(time.monotonic() - self.started, 3),
        )
        return code

    @property
    def devices(self) -> int:
        return sum(len(h.devices) for h in self.handles)

    async def _serve(self) -> int:
        while True:
            signum = await self.signals.queue.get()
            if signum == Signals.RELOAD:
                self._reload()
                continue
            if signum == GIVE_UP:
                await self._drain(None, "worker_failed")
                return 1
            await self._drain(signal_name(signum), "signal")
            return 0

    # -- worker processes ---------------------------------------------------------------------

    def _start(self, handle: _Handle) -> None:
        up_read, up_write = os.pipe()
        down_read, down_write = os.pipe()
        for end in (up_write, down_write):
            try:
                fcntl.fcntl(end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass  # the default 64 KiB is enough, only less smooth
        # a process of its own (no fork of this one's threads and loop), given its two pipe ends
        process = subprocess.Popen(
            [sys.executable, "-c", "from poller.run.daemon import run_worker; run_worker()",
             str(up_write), str(down_read)],
            pass_fds=(up_write, down_read), stdin=subprocess.DEVNULL,
        )
        # the worker's ends live in the worker only, so that its exit is an end of file here
        os.close(up_write)
        os.close(down_read)
        orders = OrderPipe(Connection(down_write, readable=False), f"worker-{handle.index}-orders")
        orders.send("start", handle.index, handle.devices, self.settings, self.console)
        handle.generation += 1
        handle.process, handle.orders = process, orders
        handle.running, handle.ready = True, False
        handle.progress_at = self.loop.time()
        records = Connection(up_read, writable=False)
        threading.Thread(target=self._read, args=(handle, handle.generation, records, process),
                         name=f"worker-{handle.index}-records", daemon=True).start()

    def _read(self, handle: _Handle, generation: int, conn: Connection,
              process: subprocess.Popen[bytes]) -> None:
        """A thread per worker process: its lines go to the writer's queue as they come (never
        through the event loop), its messages to the loop, in the order it sent them."""
        try:
            while True:
                payload = conn.recv_bytes()
                kind = payload[:1]
                if kind == KIND_MESSAGE:
                    self._post(self._on_message, handle, generation, pickle.loads(payload[1:]))
                else:
                    self.recorder.lines(KINDS[kind], payload[1:].splitlines(keepends=True))
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
            process.wait()
            self._post(self._on_exit, handle, generation, process.returncode, process.pid)

    def _post(self, callback: Any, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop is closed: the daemon is past caring

    def _on_message(self, handle: _Handle, generation: int, message: tuple[Any, ...]) -> None:
        if generation != handle.generation:
            return
        kind = message[0]
        if kind == "alive":
            age_s, completed, handle.in_flight = message[1:4]
            handle.progress_at = self.loop.time() - age_s
            handle.completed = handle.completed_before + completed
        elif kind == "ready":
            handle.ready = True
            handle.progress_at = self.loop.time()
            self.recorder.event("worker_started", worker=handle.index, pid=message[1],
                                devices=message[2], restarts=handle.restarts)
            if not (self.announced or self.stopping) and all(h.ready for h in self.handles):
                self.announced = True
                self.notifier.ready(self._status())
        elif kind == "stats":
            fields = message[1]
            fields.update(records_written=self.recorder.written,
                          records_dropped=self.recorder.dropped)
            self.recorder.event("stats", worker=handle.index, **fields)
            self.notifier.status(self._status())
        elif kind == "stopped":
            handle.completed = handle.completed_before + message[1]
            handle.cancelled += message[2]

    def _on_exit(self, handle: _Handle, generation: int, exitcode: int | None, pid: int) -> None:
        if generation != handle.generation:
            return
        if handle.orders is not None:
            handle.orders.close()
            handle.orders = None
        handle.running = handle.ready = False
        handle.completed_before = handle.completed
        handle.in_flight = 0
        if self.stopping:
            return
        fields = {"worker": handle.index, "pid": pid, "devices": len(handle.devices),
                  **exit_fields(exitcode)}
        delay = handle.policy.on_exit(self.loop.time())
        if delay is None:
            self.recorder.event(
                "worker_failed", **fields, exits=len(handle.policy.exits),
                window_s=RESTART_WINDOW_S,
                error=f"worker {handle.index} exited {len(handle.policy.exits)} times within "
                      f"{RESTART_WINDOW_S:g} s: stopping, for the service manager to restart "
                      "poller",
            )
            self.signals.queue.put_nowait(GIVE_UP)
            return
        self.recorder.event("worker_exited", **fields, restart_in_s=delay)
        handle.restart_timer = self.loop.call_later(delay, self._restart, handle)

    def _restart(self, handle: _Handle) -> None:
        handle.restart_timer = None
        if not self.stopping:
            handle.restarts += 1
            self._start(handle)

    def _order(self, handle: _Handle, *order: Any) -> None:
        if handle.running and handle.orders is not None:
            handle.orders.send(*order)

    # -- reload and drain ----------------------------------------------------------------------

    def _reload(self) -> None:
        new = reload.load_again(self.config, self.command_line, self.recorder, self.notifier,
                                self.devices)
        if new is None:
            return
        before = {d.name: d for h in self.handles for d in h.devices}
        mine = owned(new.devices, self.shard)
        for handle, share in zip(self.handles, split(mine, self.shard, len(self.handles))):
            handle.devices = share
            self._order(handle, "apply", share)
        reload.record_reloaded(self.recorder, self.config, new, len(mine),
                               fleet_diff(before, mine))
        self.config = new
        self.notifier.ready(self._status())

    async def _drain(self, signal_name: str | None, cause: str) -> None:
        self.stopping = True
        for handle in self.handles:
            if handle.restart_timer is not None:
                handle.restart_timer.cancel()
        grace = self.config.daemon.drain_grace_s
        self.notifier.stopping(f"draining ({signal_name or cause}), up to {grace:g} s")
        self.recorder.event("drain", signal=signal_name, grace_s=grace, cause=cause,
                            workers=len(self.handles))
        for handle in self.handles:
            self._order(handle, "drain", grace)
        deadline = self.loop.time() + grace + KILL_AFTER_S
        forced = False
        while any(h.running for h in self.handles):
            await asyncio.sleep(0.05)
            if len(self.signals.stops) > 1 and not forced:
                forced = True
                for handle in self.handles:
                    self._order(handle, "force")
            if self.loop.time() > deadline:
                self._kill_stragglers()
                deadline = float("inf")

    def _kill_stragglers(self) -> None:
        for handle in self.handles:
            if handle.running and handle.process is not None:
                self.recorder.event("worker_killed", worker=handle.index, pid=handle.process.pid,
                                    error=f"still running {KILL_AFTER_S:g} s after the drain grace")
                handle.process.kill()

    # -- systemd -------------------------------------------------------------------------------

    def _status(self) -> str:
        completed = sum(h.completed for h in self.handles)
        in_flight = sum(h.in_flight for h in self.handles)
        return (f"polling {self.devices} devices in {len(self.handles)} workers; "
                f"{completed} polls done, {in_flight} in flight")

    async def _watchdog_loop(self) -> None:
        interval = self.notifier.watchdog_interval_s or 1.0
        while True:
            slowest, now = self.config.slowest_interval_s, self.loop.time()
            if all(polls_completing(now, h.progress_at, slowest, interval) for h in self.handles):
                self.notifier.watchdog()
            await asyncio.sleep(interval)


def exit_fields(exitcode: int | None) -> dict[str, Any]:
    """How a process ended, as record fields: killed by a signal, or its exit code."""
    if exitcode is not None and exitcode < 0:
        return {"signal": signal_name(-exitcode)}
    return {"exit_code": exitcode}


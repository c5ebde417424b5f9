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
- On a shared grid ([cluster], poller.cluster.polling) the supervisor is given this host's
  share (it changes with the members, and each device stays with the worker its name hashes
  to), starts each worker with the seed of its owner of ticks and tells every worker what each
  answer of the membership says (`tell`); a worker's Ask asks for the next answer now.
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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from poller.config.model import Device, fleet_diff
from poller.config.shard import owned, split
from poller.run.grid import OwnerSeed
from poller.run.lifecycle import Helpers, Lifecycle, polls_completing, signal_name
from poller.run.workers.messages import (
    Alive,
    Apply,
    Ask,
    Drain,
    Force,
    Message,
    Order,
    Ready,
    Start,
    Stats,
    Stopped,
    Tell,
)
from poller.run.workers.order_pipe import OrderPipe
from poller.run.workers.record_pipe import KIND_MESSAGE, KINDS

RESTART_WINDOW_S = 600.0
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0)
#: a worker that does not exit this long after its drain grace is killed
KILL_AFTER_S = 15.0
PIPE_BYTES = 1 << 20
#: how a worker process is started: its entry, then the two pipe ends it is given
WORKER_ENTRY = (sys.executable, "-m", "poller.run.workers.worker")


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


@dataclass(frozen=True, slots=True)
class SharedGrid:
    """What the member (poller.cluster.polling) gives the supervisor on a shared grid."""

    #: the seed of a worker's owner of ticks, with the membership as it is now
    seed: Callable[[], OwnerSeed]
    #: a worker waits for the membership's next word: ask Redis now
    on_ask: Callable[[], None]


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
    """A Polling (poller.run.lifecycle) by worker processes, one per share of this host's shard."""

    def __init__(self, life: Lifecycle, console: bool, *,
                 devices: tuple[Device, ...] | None = None, grid: SharedGrid | None = None) -> None:
        """`devices`: this host's devices (default: its shard of the file)."""
        self.life = life
        self.recorder = life.recorder
        self.console = console
        #: fixed at start: who owns which device
        self.settings = life.config.daemon
        self.history = life.config.history
        self.grid = grid
        if devices is None:
            devices = owned(life.config.devices, life.shard)
        shares = split(devices, life.shard, self.settings.workers)
        self.handles = [_Handle(i, share) for i, share in enumerate(shares)]
        self._owner_counts: Counter[str] = Counter()

    # -- the Polling ---------------------------------------------------------------------------

    async def open(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def close(self) -> None:
        pass  # every worker is gone by the end of the drain

    @property
    def devices(self) -> int:
        return sum(len(h.devices) for h in self.handles)

    @property
    def completed(self) -> int:
        return sum(h.completed for h in self.handles)

    @property
    def ready(self) -> bool:
        return all(h.ready for h in self.handles)

    def started_fields(self) -> dict[str, Any]:
        return {"workers": len(self.handles)}

    def start(self) -> None:
        for handle in self.handles:
            self._start(handle)

    def helpers(self) -> Helpers:
        return {}  # each worker runs its own

    def status(self) -> str:
        in_flight = sum(h.in_flight for h in self.handles)
        return (f"polling {self.devices} devices in {len(self.handles)} workers; "
                f"{self.completed} polls done, {in_flight} in flight")

    def progressing(self, now: float, slowest_interval_s: float, ping_interval_s: float) -> bool:
        """Every worker, not just most: a stuck one stops the pings."""
        return all(polls_completing(now, h.progress_at, slowest_interval_s, ping_interval_s)
                   for h in self.handles)

    def apply(self, devices: tuple[Device, ...]) -> dict[str, list[str]]:
        """Every worker gets its new share; the shares follow the devices only (the shard and
        the worker count apply at a restart), so no device moves between running workers."""
        before = {d.name: d for h in self.handles for d in h.devices}
        for handle, share in zip(self.handles, split(devices, self.life.shard, len(self.handles))):
            handle.devices = share
            self._order(handle, Apply(share))
        return fleet_diff(before, devices)

    def tell(self, news: object) -> None:
        """Every running worker's owner of ticks hears it (a worker started later gets it in
        its seed)."""
        for handle in self.handles:
            self._order(handle, Tell(news))

    def owner_counts(self) -> dict[str, int]:
        """The totals of the workers' owners of ticks, as each said when it stopped."""
        return dict(self._owner_counts)

    def drain_fields(self, cause: str) -> dict[str, Any]:
        return {"cause": cause, "workers": len(self.handles)}

    async def drain(self, grace_s: float, stops: Sequence[object]) -> int:
        for handle in self.handles:
            if handle.restart_timer is not None:
                handle.restart_timer.cancel()
            self._order(handle, Drain(grace_s))
        deadline = self.loop.time() + grace_s + KILL_AFTER_S
        forced = False
        while any(h.running for h in self.handles):
            await asyncio.sleep(0.05)
            if len(stops) > 1 and not forced:
                forced = True
                for handle in self.handles:
                    self._order(handle, Force())
            if self.loop.time() > deadline:
                self._kill_stragglers()
                deadline = float("inf")
        return sum(h.cancelled for h in self.handles)

    # -- worker processes ---------------------------------------------------------------------

    def _start(self, handle: _Handle) -> None:
        up_read, up_write = _pipe()
        down_read, down_write = _pipe()
        # a process of its own (no fork of this one's threads and loop), given its two pipe ends
        process = subprocess.Popen(
            [*WORKER_ENTRY, str(up_write), str(down_read)],
            pass_fds=(up_write, down_read), stdin=subprocess.DEVNULL,
        )
        # the worker's ends live in the worker only, so that its exit is an end of file here
        os.close(up_write)
        os.close(down_read)
        orders = OrderPipe(Connection(down_write, readable=False), f"worker-{handle.index}-orders")
        orders.send(Start(handle.index, handle.devices, self.settings, self.console,
                          self.history, self.grid.seed() if self.grid is not None else None))
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

    def _on_message(self, handle: _Handle, generation: int, message: Message) -> None:
        if generation != handle.generation:
            return
        match message:
            case Alive(age_s, completed, in_flight, _):
                handle.progress_at = self.loop.time() - age_s
                handle.completed = handle.completed_before + completed
                handle.in_flight = in_flight
            case Ready(pid, devices):
                handle.ready = True
                handle.progress_at = self.loop.time()
                self.recorder.event("worker_started", worker=handle.index, pid=pid,
                                    devices=devices, restarts=handle.restarts)
                if self.ready:
                    self.life.announce(self)
            case Stats(fields):
                # what was written is the parent's to say: it is the writer
                self.recorder.event("stats", worker=handle.index, **{
                    **fields, "records_written": self.recorder.written,
                    "records_dropped": self.recorder.dropped})
                self.life.notifier.status(self.status())
            case Stopped(completed, cancelled, owner_counts):
                handle.completed = handle.completed_before + completed
                handle.cancelled += cancelled
                self._owner_counts.update(owner_counts)
            case Ask():
                if self.grid is not None:
                    self.grid.on_ask()

    def _on_exit(self, handle: _Handle, generation: int, exitcode: int | None, pid: int) -> None:
        if generation != handle.generation:
            return
        if handle.orders is not None:
            handle.orders.close()
            handle.orders = None
        handle.running = handle.ready = False
        handle.completed_before = handle.completed
        handle.in_flight = 0
        if self.life.stopping:
            return
        fields = {"worker": handle.index, "pid": pid, "devices": len(handle.devices),
                  **exit_fields(exitcode)}
        delay = handle.policy.on_exit(self.loop.time())
        if delay is None:
            self._give_up(handle, fields)
            return
        self.recorder.event("worker_exited", **fields, restart_in_s=delay)
        handle.restart_timer = self.loop.call_later(delay, self._restart, handle)

    def _give_up(self, handle: _Handle, fields: dict[str, Any]) -> None:
        """A crash loop: everything stops and exits 1, for the service manager to see."""
        exits = len(handle.policy.exits)
        self.recorder.event(
            "worker_failed", **fields, exits=exits, window_s=RESTART_WINDOW_S,
            error=f"worker {handle.index} exited {exits} times within {RESTART_WINDOW_S:g} s: "
                  "stopping, for the service manager to restart poller",
        )
        self.life.signals.give_up()

    def _restart(self, handle: _Handle) -> None:
        handle.restart_timer = None
        if not self.life.stopping:
            handle.restarts += 1
            self._start(handle)

    def _order(self, handle: _Handle, order: Order) -> None:
        if handle.running and handle.orders is not None:
            handle.orders.send(order)

    def _kill_stragglers(self) -> None:
        for handle in self.handles:
            if handle.running and handle.process is not None:
                self.recorder.event("worker_killed", worker=handle.index, pid=handle.process.pid,
                                    error=f"still running {KILL_AFTER_S:g} s after the drain grace")
                handle.process.kill()


def _pipe() -> tuple[int, int]:
    """A pipe whose buffer is PIPE_BYTES where the system allows it (only the writing end's
    size matters, and it is the same pipe)."""
    read, write = os.pipe()
    try:
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass  # the default 64 KiB is enough, only less smooth
    return read, write


def exit_fields(exitcode: int | None) -> dict[str, Any]:
    """How a process ended, as record fields: killed by a signal, or its exit code."""
    if exitcode is not None and exitcode < 0:
        return {"signal": signal_name(-exitcode)}
    return {"exit_code": exitcode}

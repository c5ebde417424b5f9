"""One worker process: its share of the fleet polled on its own event loop (poller.run.local),
records shipped to the parent (poller.run.workers.record_pipe), orders taken from the parent
only. Started by the supervisor as `python -m poller.run.workers.worker UP_FD DOWN_FD`.

Orders come on `down` (poller.run.workers.messages: Start first, then Apply, Drain, Force, and
on a shared grid Tell); messages go up after the records written before them: Ready once its
schedules run, Alive every ALIVE_INTERVAL_S (the watchdog's material), Stats every stats
interval, Ask when its owner of ticks needs the membership's next word, Stopped at the end.

On a shared grid ([cluster]) the Start order brings the seed of the worker's owner of ticks
(poller.run.grid.OwnerSeed): it judges each tick from what the supervisor tells it, and sends
the counter snapshots of this worker's devices itself; the last ones go out after the drain,
before Stopped (not when the supervisor is gone: the records of those polls are lost too).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from multiprocessing.connection import Connection

from poller.run.lifecycle import ignore_stop_signals, run_loop, running
from poller.run.local import LocalPolling
from poller.run.state_keeper import keeper_settings
from poller.run.workers.messages import (
    Alive,
    Apply,
    Ask,
    Drain,
    Force,
    Order,
    Ready,
    Start,
    Stats,
    Stopped,
    Tell,
)
from poller.run.workers.record_pipe import ShippedRecords

ALIVE_INTERVAL_S = 1.0


class Worker:
    def __init__(self, start: Start, up: Connection, down: Connection) -> None:
        self.start = start
        self.index = start.index
        self.devices = start.devices
        self.settings = start.settings
        self.console = start.console
        self.up = up
        self.down = down
        #: Drain orders, then Force: drain_or_force cuts the grace short at the second
        self.stops: list[Order] = []
        self.silencing: asyncio.Task[None] | None = None

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.drain_ordered: asyncio.Future[float] = loop.create_future()
        self._build()
        await self.polling.open()
        loop.add_reader(self.down.fileno(), self._on_order)
        self.polling.start()
        if self.owner is not None:
            self.owner.start()
        self.records.message(Ready(os.getpid(), self.polling.devices))
        try:
            async with running({**self.polling.helpers(), "alive": self._alive_loop()}):
                grace = await self.drain_ordered
                cancelled = await self.polling.drain(grace, self.stops)
            if self.owner is not None and not self.records.broken:
                await self.owner.flush()
        finally:
            loop.remove_reader(self.down.fileno())
            await self.polling.close()
            if self.owner is not None:
                await self.owner.close()
        counts = self.owner.counts() if self.owner is not None else {}
        self.records.message(Stopped(self.polling.completed, cancelled, counts))
        return 0

    def _build(self) -> None:
        """The records shipped up the pipe, the owner of ticks (on a cluster member) and the
        polling of this worker's share, from the Start order."""
        start = self.start
        self.records = ShippedRecords(self.up.send_bytes, self.index)
        self.owner = start.owner.grow(self._ask, lambda: self.records.broken) \
            if start.owner is not None else None
        if self.owner is not None:
            self.owner.assign([d.name for d in self.devices])
        self.polling = LocalPolling(
            self.devices, self.records, self.settings.engine,
            # the fleet-wide cap, shared out: each worker takes its part of it
            max_in_flight=math.ceil(self.settings.max_in_flight / self.settings.workers),
            console=self.console, stats_interval_s=lambda: self.settings.stats_interval_s,
            on_stats=lambda fields: self.records.message(Stats(fields)),
            keeper=keeper_settings(self.settings, self.index), history=start.history,
            worker=self.index, owner=self.owner,
        )

    def _ask(self) -> None:
        self.records.message(Ask())

    def _on_order(self) -> None:
        try:
            order: Order = self.down.recv()
        except (EOFError, OSError):
            # the parent is gone: nobody is left to write records, so stop at once
            loop = asyncio.get_running_loop()
            loop.remove_reader(self.down.fileno())
            self.records.broken = True
            if self.owner is not None:
                # the records of the last polls are lost: no snapshot may say they were done
                self.silencing = loop.create_task(self.owner.close())
            order = Force()
        match order:
            case Apply(devices):
                if self.owner is not None:
                    self.owner.assign([d.name for d in devices])
                self.polling.apply(devices)
            case Tell(news):
                if self.owner is not None and self.owner.hear(news):
                    self.polling.scheduler.recheck()
            case Drain(grace_s):
                self._drain(grace_s)
            case Force():
                self._drain(0.0)
                self.stops.append(order)

    def _drain(self, grace_s: float) -> None:
        if not self.drain_ordered.done():
            self.stops.append(Drain(grace_s))
            self.drain_ordered.set_result(grace_s)

    async def _alive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            s = self.polling.scheduler
            # a worker without devices writes no summaries: its messages are its sign of life
            age = loop.time() - s.last_progress if s.devices else 0.0
            self.records.message(Alive(age, s.completed, s.in_flight, s.devices))
            await asyncio.sleep(ALIVE_INTERVAL_S)


def main() -> None:
    """The process's entry: its first order says who it is and what it polls."""
    ignore_stop_signals()
    up = Connection(int(sys.argv[1]), readable=False)
    down = Connection(int(sys.argv[2]), writable=False)
    start: Start = down.recv()
    raise SystemExit(run_loop(Worker(start, up, down).main()))


if __name__ == "__main__":
    main()

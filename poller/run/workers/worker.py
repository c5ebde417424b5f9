"""One worker process: its share of the fleet on its own event loop (poller.run.daemon.run_worker
starts it under uvloop), records shipped to the parent (poller.run.workers.record_pipe), orders taken from the
parent only.

Orders (pickled, on `down`): ("apply", devices) a reload's new share; ("drain", grace_s) stop;
("force",) cut the drain short. Messages (on `up`, after the records written before them):
("ready", pid, devices) once its schedules run; ("alive", progress_age_s, completed, in_flight,
devices) every ALIVE_INTERVAL_S, the watchdog's material; ("stats", fields) every stats_interval;
("stopped", completed, cancelled) at the end.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

from poller.config.model import DaemonSettings, Device
from poller.run.scheduler import Scheduler
from poller.run.workers.record_pipe import ShippedRecords
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester

ALIVE_INTERVAL_S = 1.0


class Worker:
    def __init__(self, index: int, devices: tuple[Device, ...], settings: DaemonSettings,
                 up: Any, down: Any, console: bool) -> None:
        self.index = index
        self.devices = devices
        self.settings = settings
        self.up = up
        self.down = down
        self.console = console
        #: "drain" orders, then "force": drain_or_force cuts the grace short at the second
        self.stops: list[str] = []
        self.started = time.monotonic()

    async def main(self) -> int:
        from poller.run.daemon import console_writer, drain_or_force, freeze_after_first_round

        loop = asyncio.get_running_loop()
        self.records = ShippedRecords(self.up.send_bytes, self.index)
        self.drain_ordered: asyncio.Future[float] = loop.create_future()
        client = SnmpClient(make_requester(self.settings.engine))
        self.scheduler = Scheduler(
            self.devices, client, self.records,
            # the fleet-wide cap, shared out: each worker takes its part of it
            max_in_flight=math.ceil(self.settings.max_in_flight / self.settings.workers),
            console=console_writer(self.records) if self.console else None,
        )
        loop.add_reader(self.down.fileno(), self._on_order)
        self.scheduler.start()
        self.records.message("ready", os.getpid(), self.scheduler.devices)
        helpers = [asyncio.create_task(self._alive_loop()), asyncio.create_task(self._stats_loop()),
                   asyncio.create_task(freeze_after_first_round(self.devices))]
        try:
            grace = await self.drain_ordered
            cancelled = await drain_or_force(self.scheduler, grace, self.stops)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            loop.remove_reader(self.down.fileno())
            await client.close()
        self.records.message("stopped", self.scheduler.completed, cancelled)
        return 0

    def _on_order(self) -> None:
        try:
            order = self.down.recv()
        except (EOFError, OSError):
            # the parent is gone: nobody is left to write records, so stop at once
            asyncio.get_running_loop().remove_reader(self.down.fileno())
            self.records.broken = True
            order = ("force",)
        if order[0] == "apply":
            self.scheduler.apply(order[1])
        elif order[0] == "drain":
            self._drain(order[1])
        elif order[0] == "force":
            self._drain(0.0)
            self.stops.append("force")

    def _drain(self, grace_s: float) -> None:
        if not self.drain_ordered.done():
            self.stops.append("drain")
            self.drain_ordered.set_result(grace_s)

    async def _alive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            s = self.scheduler
            # a worker without devices writes no summaries: its messages are its sign of life
            age = loop.time() - s.last_progress if s.devices else 0.0
            self.records.message("alive", age, s.completed, s.in_flight, s.devices)
            await asyncio.sleep(ALIVE_INTERVAL_S)

    async def _stats_loop(self) -> None:
        from poller.run.daemon import stats_fields

        loop = asyncio.get_running_loop()
        while True:
            interval = self.settings.stats_interval_s
            asked = loop.time()
            await asyncio.sleep(interval)
            loop_lag = max(0.0, loop.time() - asked - interval)
            fields = stats_fields(self.scheduler, self.records, loop_lag)
            self.records.message("stats", fields)

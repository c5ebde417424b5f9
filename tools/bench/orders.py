"""`python -m tools.bench.orders [DEVICES]`: what the supervisor's orders to its workers cost its
event loop, with a fleet of DEVICES (default 10,000) over `workers = 2`.

It builds the real Supervisor from a generated fleet file (the devices of `make bench-scale`, on
127.0.0.1 ports that nobody answers), starts the real worker processes with a ticker running on
the loop, and reports for each worker: the pickled size of its `start` order (as the pipe carries
it), how long `_start` held the loop, and the longest gap the ticker saw (idle, the start
orders, then `apply` orders of the same shares, then a killed worker's restart after its 1 s
backoff; the worker processes starting compete for the same cores). Then every worker drains.
Quote the figures as before/after ratios of the same machine.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import uvloop

from poller.config.load import load_config
from poller.config.shard import CommandLine
from poller.output.recorder import Recorder
from poller.run.lifecycle import Lifecycle
from poller.run.systemd import Notifier
from poller.run.workers.messages import Apply, Start
from poller.run.workers.supervisor import Supervisor
from tools.bench.scale import Settings, fleet_toml

#: every wait below is bounded
READY_WITHIN_S = 60.0


class Ticker:
    """The loop's longest stall: a task that asks to wake every millisecond."""

    def __init__(self) -> None:
        self.max_gap_s = 0.0
        self.task = asyncio.create_task(self._run())

    def reset(self) -> float:
        gap, self.max_gap_s = self.max_gap_s, 0.0
        return gap

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(0.001)
            self.max_gap_s = max(self.max_gap_s, loop.time() - asked - 0.001)


async def _until(condition: Any, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("bench-orders: the workers did not get there in time")
        await asyncio.sleep(0.05)


async def measure(supervisor: Supervisor) -> dict[str, Any]:
    await supervisor.open()
    # the sizes first: pickling the orders here is no part of what the ticker measures
    workers: list[dict[str, Any]] = [{"devices": len(h.devices), "start_order_bytes": len(ForkingPickler.dumps(
        Start(h.index, h.devices, supervisor.settings, False)))} for h in supervisor.handles]
    result: dict[str, Any] = {"devices": supervisor.devices, "workers": workers}
    ticker = Ticker()
    await asyncio.sleep(0.5)
    result["idle_max_loop_gap_ms"] = round(ticker.reset() * 1000, 1)
    for handle, worker in zip(supervisor.handles, workers):
        started = time.perf_counter()
        supervisor._start(handle)
        worker["start_held_loop_ms"] = round((time.perf_counter() - started) * 1000, 1)
    await asyncio.sleep(0.05)
    result["start_max_loop_gap_ms"] = round(ticker.reset() * 1000, 1)
    await _until(lambda: all(h.ready for h in supervisor.handles), READY_WITHIN_S)
    ticker.reset()
    started = time.perf_counter()
    for handle in supervisor.handles:
        supervisor._order(handle, Apply(handle.devices))
    result["apply_held_loop_ms"] = round((time.perf_counter() - started) * 1000, 1)
    await asyncio.sleep(0.05)
    result["apply_max_loop_gap_ms"] = round(ticker.reset() * 1000, 1)
    victim = supervisor.handles[0]
    assert victim.process is not None
    victim.process.send_signal(signal.SIGKILL)
    await _until(lambda: victim.restarts == 1 and victim.ready, READY_WITHIN_S)
    result["restart_max_loop_gap_ms"] = round(ticker.reset() * 1000, 1)
    supervisor.life.signals.stops.append(signal.SIGTERM)
    await supervisor.life.drain(supervisor, "SIGTERM", "signal")
    ticker.task.cancel()
    return result


def main() -> int:
    devices = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    settings = Settings(sizes=(devices,), seconds=0, small_seconds=0, interval_s=60.0,
                        warmup_s=0, responders=1, ports=devices, keep_records=False)
    with tempfile.TemporaryDirectory(prefix="poller-bench-orders-") as tmp:
        path = Path(tmp) / "fleet.toml"
        path.write_text(fleet_toml(settings, devices, Path(tmp)).replace(
            "[daemon]", "[daemon]\nworkers = 2\ndrain_grace = 1", 1))
        config = load_config(path)
        recorder = Recorder(config.output)
        try:
            supervisor = Supervisor(Lifecycle(config, recorder, Notifier(""), CommandLine()), False)
            result = uvloop.run(measure(supervisor))
        finally:
            recorder.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

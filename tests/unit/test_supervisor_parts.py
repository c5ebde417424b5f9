"""The supervisor's parts that need no worker process: its orders reach a worker whole, in
order, without ever waiting on the worker; and its watchdog judges by the slowest interval of
the config it runs, measured once per config."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from poller.config import model as config_module
from poller.config.load import load_config
from poller.config.shard import CommandLine
from poller.output.records import Recorder
from poller.run.systemd import Notifier
from poller.run.workers.order_pipe import OrderPipe
from poller.run.workers.supervisor import Supervisor

#: more than any pipe holds (Linux caps an unprivileged pipe at 1 MiB by default)
BIG = b"x" * (4 << 20)
#: a bound for what must happen at once, far beyond any scheduling delay
PROMPTLY_S = 10.0


def test_orders_never_wait_for_the_worker_and_arrive_whole_and_in_order() -> None:
    down, up = os.pipe()
    pipe = OrderPipe(Connection(up, readable=False), "test-orders")
    given = threading.Thread(target=lambda: [pipe.send("apply", n, BIG) for n in range(3)])
    given.start()
    given.join(PROMPTLY_S)  # nobody reads yet: 12 MiB could not be written by now
    try:
        assert not given.is_alive(), "sending an order waited for the worker to read it"
        pipe.send("drain", 5.0)
        pipe.close()
        with Connection(down, writable=False) as worker:
            received = [worker.recv() for _ in range(4)]
            with pytest.raises(EOFError):  # closed once every order was written
                worker.recv()
    finally:
        if given.is_alive():
            os.close(down)  # a blocked writer gets EPIPE and ends
    assert [order[:2] for order in received] == [("apply", 0), ("apply", 1), ("apply", 2),
                                                ("drain", 5.0)]
    assert all(order[2] == BIG for order in received[:3])


def test_orders_to_a_worker_that_is_gone_are_dropped_and_the_pipe_still_closes() -> None:
    down, up = os.pipe()
    pipe = OrderPipe(Connection(up, readable=False), "test-orders-gone")
    os.close(down)  # the worker exited before reading anything
    pipe.send("start", 0, BIG)
    pipe.send("apply", BIG)
    pipe.close()
    deadline = time.monotonic() + PROMPTLY_S
    while any(t.name == "test-orders-gone" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the order thread outlived its worker"
        time.sleep(0.01)


class Told(Notifier):
    """What the supervisor tells systemd, in a list."""

    def __init__(self) -> None:
        super().__init__("")
        self.sent: list[tuple[str, ...]] = []
        self.watchdog_interval_s = 0.001

    def send(self, *fields: str) -> None:
        self.sent.append(fields)


def fleet(path: Path, intervals_s: list[int]) -> Path:
    text = f'[daemon]\nworkers = 2\n[output]\ndirectory = "{path.parent}"\n'
    text += '[credentials.public]\ncommunity = "public"\n'
    for n, interval in enumerate(intervals_s):
        text += f'[[devices]]\nname = "d{n}"\nhost = "127.0.0.1"\ninterval = {interval}\n'
    path.write_text(text)
    return path


def test_the_watchdog_judges_by_the_slowest_interval_measured_once_per_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fleet(tmp_path / "fleet.toml", [60, 120])
    config = load_config(path)
    recorder = Recorder(config.output)
    notifier = Told()
    supervisor = Supervisor(config, recorder, notifier, False, CommandLine())
    measured: list[int] = []
    real = config_module.slowest_interval_s
    monkeypatch.setattr(config_module, "slowest_interval_s",
                        lambda devices: measured.append(len(devices)) or real(devices))

    async def pings_while_silent_for(silent_s: float) -> int:
        supervisor.loop = asyncio.get_running_loop()
        for handle in supervisor.handles:
            handle.progress_at = supervisor.loop.time() - silent_s
        notifier.sent.clear()
        watchdog = asyncio.create_task(supervisor._watchdog_loop())
        await asyncio.sleep(0.05)
        watchdog.cancel()
        return notifier.sent.count(("WATCHDOG=1",))

    try:
        # 250 s without a summary: too long when the slowest device polls every 120 s ...
        assert asyncio.run(pings_while_silent_for(250.0)) == 0
        fleet(path, [60, 300])
        supervisor._reload()
        # ... and not once the reload brought a device that polls every 300 s
        assert asyncio.run(pings_while_silent_for(250.0)) >= 1
    finally:
        recorder.close()
    assert measured == [2]  # once, at the reload: not at every ping

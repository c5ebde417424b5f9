"""The supervisor's parts that need no worker process: its watchdog judges by the slowest
interval of the config it runs, measured once per config."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from poller import supervisor as supervisor_module
from poller.config import load_config
from poller.records import Recorder
from poller.shard import CommandLine
from poller.supervisor import Supervisor
from poller.systemd import Notifier


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
    real = supervisor_module.slowest_interval_s
    monkeypatch.setattr(supervisor_module, "slowest_interval_s",
                        lambda config: measured.append(len(config.devices)) or real(config))

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

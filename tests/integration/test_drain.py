"""SIGTERM while polls of a slow device are in flight: the daemon drains within its grace,
cancels the rest with a summary each, and a second signal cuts the grace short. No line torn."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SNMPD_COMMUNITY, Agent
from tests.slow_agent import SlowRelay

DEVICES = 4


@pytest.fixture()
def slow(snmpd: Agent) -> Iterator[SlowRelay]:
    relay = SlowRelay(snmpd.port, delay_s=4.0)
    yield relay
    relay.close()


def fleet(tmp_path: Path, port: int, grace_s: float) -> Path:
    text = f"""
[daemon]
drain_grace = {grace_s}
[output]
directory = "{tmp_path / 'out'}"
[defaults]
interval = 10
timeout = 8
retries = 0
[credentials.public]
community = "{SNMPD_COMMUNITY}"
"""
    for n in range(DEVICES):
        text += f'[[devices]]\nname = "slow-{n}"\nhost = "127.0.0.1"\nport = {port}\n'
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def stop_during_polls(config: Path, signals: list[signal.Signals]) -> tuple[float, int]:
    daemon = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                              stderr=subprocess.PIPE)
    time.sleep(5.0)  # a poll takes 8-9 s of each 10 s: every device is in one ~85 % of the time
    sent = time.monotonic()
    for signum in signals:
        daemon.send_signal(signum)
        time.sleep(0.3)
    _, err = daemon.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    return time.monotonic() - sent, daemon.returncode


def check_records(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    events = [json.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    data = [json.loads(line) for line in (out / "poller.jsonl").read_bytes().splitlines()]
    polls = [r for r in data if r["event"] == "poll"]
    for n in range(DEVICES):
        seqs = sorted(p["seq"] for p in polls if p["device"] == f"slow-{n}")
        assert seqs == list(range(len(seqs)))
    return events[-1], polls


def test_sigterm_drains_within_the_grace_and_cancels_the_rest(tmp_path: Path, slow: SlowRelay) -> None:
    elapsed, code = stop_during_polls(fleet(tmp_path, slow.port, grace_s=1.0), [signal.SIGTERM])
    assert code == 0
    assert elapsed < 1.0 + 2.0  # the grace, plus shutdown
    stopped, polls = check_records(tmp_path / "out")
    assert stopped["event"] == "stopped" and stopped["cancelled"] >= 1
    cancelled = [p for p in polls if p.get("error_type") == "cancelled"]
    assert len(cancelled) == stopped["cancelled"]
    assert {p["status"] for p in cancelled} == {"error"}


def test_a_second_signal_cuts_the_grace_short(tmp_path: Path, slow: SlowRelay) -> None:
    config = fleet(tmp_path, slow.port, grace_s=30.0)
    elapsed, code = stop_during_polls(config, [signal.SIGTERM, signal.SIGINT])
    assert code == 0
    assert elapsed < 3.0  # far below the 30 s grace and the polls' own 9 s deadline
    stopped, _ = check_records(tmp_path / "out")
    assert stopped["event"] == "stopped" and stopped["cancelled"] >= 1

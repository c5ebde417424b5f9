"""Counter state survives the process (against net-snmp's snmpd): `run --once` from cron writes
real rates from its second run on, a restart after SIGTERM or SIGKILL carries on with real rates,
and `seq` never repeats; without the state (another directory) the same runs say first_sample."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SNMPD_COMMUNITY, Agent

BITS = "ifHCInOctets_bps"


def _fleet(tmp: Path, port: int, *, state: Path, interval_s: float = 60,
           state_interval_s: float = 60, workers: int = 1, names: tuple[str, ...] = ("sw",)) -> Path:
    text = f"""
[daemon]
workers = {workers}
state_directory = "{state}"
state_interval = {state_interval_s}
drain_grace = 2
[output]
directory = "{tmp / "out"}"
[defaults]
interval = {interval_s}
timeout = {min(1.0, interval_s / 4):g}
retries = 1
[credentials.public]
community = "{SNMPD_COMMUNITY}"
"""
    for name in names:
        text += f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
    path = tmp / "fleet.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def _records(tmp: Path, name: str) -> list[dict[str, Any]]:
    path = tmp / "out" / name
    return [json.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def _run_once(config: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "poller", "run", "--once", "--config", str(config)],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _rows(records: list[dict[str, Any]], seq: int, device: str = "sw") -> list[dict[str, Any]]:
    """The interface rows of `device`'s poll `seq` (rows come before their poll's summary)."""
    rows: list[dict[str, Any]] = []
    for record in records:
        if record.get("device") != device:
            continue
        if record["event"] == "poll":
            if record["seq"] == seq:
                return rows
            rows = []
        elif record["event"] == "row" and record.get("table") == "interfaces":
            rows.append(record)
    raise AssertionError(f"no poll {seq} of {device}")


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_run_once_from_cron_gives_real_rates_from_the_second_run(tmp_path: Path, snmpd: Agent) -> None:
    config = _fleet(tmp_path, snmpd.port, state=tmp_path / "state")
    _run_once(config)
    time.sleep(1.5)
    _run_once(config)
    data, events = _records(tmp_path, "poller.jsonl"), _records(tmp_path, "events.jsonl")
    polls = [r for r in data if r["event"] == "poll"]
    assert [p["seq"] for p in polls] == [0, 1] and {p["status"] for p in polls} == {"ok"}
    restored = [e for e in events if e["event"] == "state_restored"]
    assert [(e["restored"], e["none"]) for e in restored] == [(0, 1), (1, 0)]

    first, second = _rows(data, 0), _rows(data, 1)
    assert first and all(r[BITS] is None and r[f"{BITS}_reason"] == "first_sample" for r in first)
    before = {r["index"]: r for r in first}
    for row in second:
        assert isinstance(row[BITS], float), row
        # the rate spans the two runs: the counter's delta over the time between the reads
        elapsed = _epoch(row["timestamp"]) - _epoch(before[row["index"]]["timestamp"])
        delta_bits = 8 * (row["ifHCInOctets"] - before[row["index"]]["ifHCInOctets"])
        assert row[BITS] == pytest.approx(delta_bits / elapsed, rel=0.2, abs=50)


def test_without_the_state_the_second_run_starts_afresh(tmp_path: Path, snmpd: Agent) -> None:
    _run_once(_fleet(tmp_path, snmpd.port, state=tmp_path / "state-a"))
    _run_once(_fleet(tmp_path, snmpd.port, state=tmp_path / "state-b"))
    second = _rows(_records(tmp_path, "poller.jsonl"), 0)
    assert second and all(r[f"{BITS}_reason"] == "first_sample" for r in second)


def _start(config: Path) -> subprocess.Popen[bytes]:
    daemon = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                              stderr=subprocess.PIPE)
    time.sleep(0.5)
    if daemon.poll() is not None:
        assert daemon.stderr is not None
        raise AssertionError(f"the daemon exited {daemon.returncode}: {daemon.stderr.read()!r}")
    return daemon


def _wait_polls(tmp: Path, count: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(r["event"] == "poll" for r in _records(tmp, "poller.jsonl")) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} polls in {timeout_s} s")


def _wait_for_a_state_write(directory: Path, timeout_s: float = 10) -> None:
    """Until a state file is written anew (its modification time changes)."""
    def stamps() -> set[tuple[str, float]]:
        return {(p.name, p.stat().st_mtime) for p in directory.glob("counters*.jsonl")}
    first = stamps()
    deadline = time.monotonic() + timeout_s
    while stamps() == first:
        assert time.monotonic() < deadline, "no state written"
        time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
@pytest.mark.parametrize("workers", [1, 2], ids=["one_process", "workers"])
def test_a_restart_carries_on_with_real_rates_and_never_repeats_a_seq(
        tmp_path: Path, snmpd: Agent, stop: signal.Signals, workers: int) -> None:
    names = ("a", "b", "c")
    state = tmp_path / "state"
    # polls every second, state written every 4 s: stopped 2.5 s after a write, the state is
    # behind by two polls or more, which a SIGKILL does not let the daemon write
    config = _fleet(tmp_path, snmpd.port, state=state, interval_s=1, state_interval_s=4,
                    workers=workers, names=names)
    daemon = _start(config)
    try:
        _wait_polls(tmp_path, 2 * len(names))
        _wait_for_a_state_write(state)
        time.sleep(2.5)
        daemon.send_signal(stop)
        daemon.wait(20)
        before = len([r for r in _records(tmp_path, "poller.jsonl") if r["event"] == "poll"])
        # restarted with the other process layout: the state files are read across workers
        config = _fleet(tmp_path, snmpd.port, state=state, interval_s=1, state_interval_s=4,
                        workers=3 - workers, names=names)
        daemon = _start(config)
        _wait_polls(tmp_path, before + 2 * len(names))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(20)
    data, events = _records(tmp_path, "poller.jsonl"), _records(tmp_path, "events.jsonl")
    assert sum(e["restored"] for e in events if e["event"] == "state_restored") == len(names)
    restart = _epoch([e for e in events if e["event"] == "started"][1]["timestamp"])
    for name in names:
        seqs = [r["seq"] for r in data if r["event"] == "poll" and r["device"] == name]
        assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs), f"{name}: {seqs}"
        if stop is signal.SIGTERM:  # a clean stop: the next seq is exact
            assert seqs == list(range(len(seqs))), f"{name}: {seqs}"
        resumed = next(r["seq"] for r in data if r["event"] == "poll" and r["device"] == name
                       and _epoch(r["scheduled_at"]) > restart)
        rows = _rows(data, resumed, name)
        assert rows and all(isinstance(r[BITS], float) for r in rows), rows[:1]

"""`poller run` as a real process beside a fleet of misbehaving agents (tests/hostile_agent.py as a
process): the good device's polls all end ok and on time, and each hostile device's records carry
the error type of its fault, or ok where poller adapts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_daemon import read_records
from tests.ports import free_udp_port

#: device -> (agent modes, extra device keys, the (status, error_type) of each of its polls)
FLEET: dict[str, tuple[str, str, set[tuple[str, str | None]]]] = {
    "good": ("normal", "", {("ok", None)}),
    "too-big": ("too_big", "", {("ok", None)}),
    "drop-big": ("drop_big", "", {("ok", None)}),
    "no-getbulk": ("no_getbulk", "", {("ok", None)}),
    "drop-getbulk": ("drop_getbulk", "", {("ok", None)}),
    "duplicate": ("duplicate", "", {("ok", None)}),
    "noisy": ("noisy", "", {("ok", None)}),
    "out-of-order": ("non_increasing", "", {("partial", "non_increasing_oid")}),
    "out-of-order-allowed": ("non_increasing", "allow_non_increasing = true", {("ok", None)}),
    "looping": ("looping", "", {("partial", "non_increasing_oid")}),
    "looping-allowed": ("looping", "allow_non_increasing = true", {("partial", "oid_loop")}),
    "endless": ("endless", "max_walk_rows = 50", {("partial", "max_walk_rows")}),
    "late": ("late", "", {("timeout", "timeout")}),
    "silent": ("silent", "", {("timeout", "timeout")}),
    "wrong-id": ("wrong_request_id", "", {("timeout", "wrong_request_id")}),
    "wrong-source": ("wrong_source", "", {("timeout", "wrong_source")}),
    "garbage": ("garbage", "", {("timeout", "decode")}),
}
INTERVAL_S = 3
RUN_S = 11.0  # the daemon starts within ~1 s; then at least 3 ticks of each device


@pytest.fixture
def hostile_fleet() -> Iterator[dict[str, int]]:
    """One agent process serving an agent per device of FLEET, on its own port."""
    ports = {name: free_udp_port() for name in FLEET}
    argv = [sys.executable, "-m", "tests.hostile_agent", "--limit", "12", "--delay", "1.0",
            "--lifetime", "60"]
    for name, port in ports.items():
        argv += ["--agent", f"{port}={FLEET[name][0]}"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()  # printed once every socket is bound
        assert ready.strip(), process.stderr.read() if process.stderr else ""
        yield ports
    finally:
        process.terminate()
        process.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fleet_file(tmp_path: Path, ports: dict[str, int]) -> Path:
    text = f"""
[output]
directory = "{tmp_path / 'out'}"
[defaults]
interval = {INTERVAL_S}
timeout = 0.5
retries = 0
[credentials.public]
community = "public"
"""
    for name, port in ports.items():
        text += f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n{FLEET[name][1]}\n'
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_hostile_agents_get_their_error_types_and_the_good_device_stays_on_time(
    tmp_path: Path, hostile_fleet: dict[str, int]
) -> None:
    config = fleet_file(tmp_path, hostile_fleet)
    process = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ))
    started = time.monotonic()
    time.sleep(RUN_S)
    cpu_s = cpu_seconds(process.pid)
    wall_s = time.monotonic() - started
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err

    events = read_records(tmp_path / "out", "events.jsonl")
    assert [e["event"] for e in events if e["event"] in ("overrun", "late")] == []
    polls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in read_records(tmp_path / "out", "poller.jsonl"):
        if record["event"] == "poll":
            polls[record["device"]].append(record)
    assert set(polls) == set(FLEET)
    outcomes = {}
    for device, summaries in polls.items():
        assert [p["seq"] for p in summaries] == list(range(len(summaries))), device
        assert len(summaries) >= 3, device
        outcomes[device] = {(p["status"], p.get("error_type")) for p in summaries}
    assert outcomes == {name: expected for name, (_, _, expected) in FLEET.items()}
    # waiting on silent, late and lying agents costs nothing; a busy loop would show ~1.0
    assert cpu_s / wall_s < 0.5, f"poller used {cpu_s:.2f} s of CPU in {wall_s:.2f} s"
    for poll in polls["good"]:
        assert poll["queue_delay_s"] < INTERVAL_S / 2 and poll["rows"] == 8

"""The daemon under a service manager: sd_notify on a test-owned NOTIFY_SOCKET, SIGHUP reloads
(a bad file keeps the fleet, a good one is applied as a diff that keeps counter state), the
watchdog, the stats record, and SIGTERM's STOPPING."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import SNMPD_COMMUNITY, Agent


def fleet(out: Path, port: int, names: list[str]) -> str:
    text = f"""
[daemon]
stats_interval = 1
[output]
directory = "{out}"
[defaults]
interval = 2
timeout = 0.5
retries = 0
[credentials.public]
community = "{SNMPD_COMMUNITY}"
"""
    for name in names:
        text += f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
    return text


class NotifyListener:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, field: str, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        start = len(self.messages)
        while time.monotonic() < deadline:
            if any(field in m.split("\n") for m in self.messages[start:]):
                return
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                pass
        raise AssertionError(f"no {field} within {timeout_s} s; got {self.messages[start:]}")

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                pass


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_notify_reload_watchdog_stats_and_stop(tmp_path: Path, snmpd: Agent) -> None:
    out = tmp_path / "out"
    config = tmp_path / "fleet.toml"
    config.write_text(fleet(out, snmpd.port, ["keep", "drop"]))
    listener = NotifyListener(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="1000000")
    daemon = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                              env=env, stderr=subprocess.PIPE)
    try:
        listener.wait_for("READY=1")
        listener.wait_for("WATCHDOG=1", 5)
        listener.drain(4.5)  # "keep" polls at least twice

        config.write_text("this is [not toml")
        daemon.send_signal(signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        listener.wait_for("READY=1")

        config.write_text(fleet(out, snmpd.port, ["keep", "new"]))
        daemon.send_signal(signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        listener.wait_for("READY=1")
        listener.drain(4.5)

        daemon.send_signal(signal.SIGTERM)
        listener.wait_for("STOPPING=1")
        _, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, err.decode()

    firsts = [next(i for i, m in enumerate(listener.messages) if field in m.split("\n"))
              for field in ("READY=1", "RELOADING=1", "STOPPING=1")]
    assert firsts == sorted(firsts)
    assert any(m.startswith("RELOADING=1\nMONOTONIC_USEC=") for m in listener.messages)
    assert any(m.startswith("STATUS=polling ") or "\nSTATUS=polling " in m for m in listener.messages)

    events = records(out / "events.jsonl")
    kinds = [e["event"] for e in events]
    failed = next(e for e in events if e["event"] == "reload_failed")
    assert "fleet.toml: TOML syntax" in failed["error"]
    reloaded = next(e for e in events if e["event"] == "reloaded")
    assert (reloaded["added"], reloaded["removed"], reloaded["changed"]) == (["new"], ["drop"], [])
    assert kinds.index("reload_failed") < kinds.index("reloaded") < kinds.index("drain")
    stats = [e for e in events if e["event"] == "stats"]
    assert len(stats) >= 5
    assert {"devices", "polls", "lag_p99_s", "records_written", "rss_mib", "open_fds"} <= stats[-1].keys()
    assert sum(sum(s["polls"].values()) for s in stats) > 0

    data = records(out / "poller.jsonl")
    keep = [r for r in data if r["device"] == "keep"]
    summaries = sorted(r["seq"] for r in keep if r["event"] == "poll")
    assert summaries == list(range(len(summaries))) and len(summaries) >= 4
    first_samples = [r for r in keep if r.get("ifHCInOctets_bps_reason") == "first_sample"]
    interfaces = len({r["index"] for r in keep if r["event"] == "row"})
    assert len(first_samples) == interfaces  # the reload kept its counter state: one first poll only
    assert [r for r in data if r["device"] == "new" and r["event"] == "poll"]
    drop_polls = [r for r in data if r["device"] == "drop" and r["event"] == "poll"]
    last_drop = max(r["timestamp"] for r in drop_polls)
    assert last_drop <= reloaded["timestamp"]

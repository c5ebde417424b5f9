"""`workers = 2` as a real daemon against real agents: each device polled by exactly one worker
(the one its name hashes to), every line whole and none lost while the files rotate under both
workers' records, SIGHUP gives every worker its new share, READY=1 only once every worker runs,
the watchdog stops for a stuck worker, a killed worker is recorded and restarted, SIGTERM drains
every worker, a lost parent takes its workers along, and `workers = 1` stays one process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from poller.config.shard import Shard, worker_of
from tests import agents
from tests.conftest import SNMPD_COMMUNITY, Agent
from tests.integration.test_daemon import read_records
from tests.ports import free_udp_port
from tests.slow_agent import SlowRelay

PORTS = 4


@pytest.fixture(scope="module")
def snmpd_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """One snmpd answering on several loopback ports: several devices to share out."""
    directory = tmp_path_factory.mktemp("snmpd-ports")
    ports = [free_udp_port() for _ in range(PORTS)]
    try:
        process = agents.start_snmpd(directory, ports, SNMPD_COMMUNITY)
    except agents.AgentError as exc:
        pytest.fail(str(exc))
    try:
        for port in ports:
            agents.wait_ready("127.0.0.1", port, SNMPD_COMMUNITY, process)
        yield ports
    finally:
        agents.stop(process)


def fleet(out: Path, devices: list[tuple[str, int, str]], *, workers: int = 2,
          grace_s: float = 5.0, interval_s: float = 1.0, timeout_s: float = 0.5) -> str:
    text = f"""
[daemon]
workers = {workers}
stats_interval = 1
drain_grace = {grace_s}
[output]
directory = "{out}"
max_bytes = "32KiB"
backups = 1000
[defaults]
interval = {interval_s}
timeout = {timeout_s}
retries = 0
[credentials.lab]
community = "{SNMPD_COMMUNITY}"
"""
    for name, port, credential in devices:
        text += f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
        if credential == "lab":
            text += 'credential = "lab"\n'
        else:
            text += f'credential = "{credential}"\ninterval = 2\ntimeout = 1\n'
            text += f'[credentials.{credential}]\ncommunity = "{credential.replace("_", "-")}"\n'
    return text


def start(config: Path, listener: Listener | None = None,
          watchdog_usec: int | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if listener is not None:
        env["NOTIFY_SOCKET"] = str(listener.path)
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    return subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                            env=env, stderr=subprocess.PIPE)


def stop(daemon: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> str:
    daemon.send_signal(signum)
    try:
        _, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, err.decode()
    assert b"Traceback" not in err, err.decode()
    return err.decode()


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def wait_for_event(out: Path, predicate: Any, timeout_s: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in read_records(out, "events.jsonl"):
            if predicate(event):
                return event
        time.sleep(0.2)
    raise AssertionError(f"no such event within {timeout_s} s: {read_records(out, 'events.jsonl')}")


class Listener:
    """A test-owned NOTIFY_SOCKET that keeps when each message came."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []
        self.times: list[float] = []

    def receive(self, timeout_s: float) -> None:
        self.sock.settimeout(max(0.01, min(0.2, timeout_s)))
        try:
            self.messages.append(self.sock.recv(4096).decode())
            self.times.append(time.time())
        except OSError:
            pass

    def wait_for(self, field: str, timeout_s: float = 15.0) -> float:
        """Wait for a message with `field` that came after this call; returns when it came."""
        deadline = time.monotonic() + timeout_s
        start = len(self.messages)
        while time.monotonic() < deadline:
            for at, message in list(zip(self.times, self.messages))[start:]:
                if field in message.split("\n"):
                    return at
            self.receive(deadline - time.monotonic())
        raise AssertionError(f"no {field} within {timeout_s} s; got {self.messages[start:]}")

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.receive(deadline - time.monotonic())


Records = list[dict[str, Any]]


def check_polls(out: Path, workers: int = 2) -> tuple[dict[str, Records], Records]:
    """Every line of every file parses; per device, summaries are contiguous from seq 0, all from
    the worker its name hashes to, and its row records are exactly the rows its summaries count."""
    data = read_records(out, "poller.jsonl")
    polls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows: dict[str, int] = defaultdict(int)
    for record in data:
        if record["event"] == "poll":
            polls[record["device"]].append(record)
        elif record["event"] == "row":
            rows[record["device"]] += 1
    for device, summaries in polls.items():
        assert sorted(p["seq"] for p in summaries) == list(range(len(summaries))), device
        expected = worker_of(device, 1, workers) if workers > 1 else None  # no field with one
        assert {p.get("worker") for p in summaries} == {expected}, device
        assert rows[device] == sum(p["rows"] for p in summaries), device
    return polls, read_records(out, "events.jsonl")


def test_two_workers_share_the_fleet_reload_and_lose_no_line_across_rotation(
    tmp_path: Path, snmpd_ports: list[int], snmpsim_live: Agent
) -> None:
    out = tmp_path / "out"
    devices = [(f"snmpd-{n}", port, "lab") for n, port in enumerate(snmpd_ports)]
    devices += [(f"sim-{c}", snmpsim_live.port, c.replace("-", "_"))
                for c in snmpsim_live.communities[:3]]
    config = tmp_path / "fleet.toml"
    config.write_text(fleet(out, devices))
    config.chmod(0o600)
    listener = Listener(tmp_path / "notify.sock")
    daemon = start(config, listener, watchdog_usec=2_000_000)
    try:
        ready_at = listener.wait_for("READY=1")
        listener.drain(5)
        config.write_text("[daemon\nworkers = 2")
        daemon.send_signal(signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        listener.wait_for("READY=1")
        moved = devices[:-4] + [("snmpd-new", snmpd_ports[-1], "lab")] + devices[-3:]
        config.write_text(fleet(out, moved))  # snmpd-3 goes, snmpd-new comes
        daemon.send_signal(signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        listener.wait_for("READY=1")
        listener.drain(4)
        listener.wait_for("WATCHDOG=1", 3)
    finally:
        stop(daemon)
    listener.drain(0.5)
    assert any("STOPPING=1" in m.split("\n") for m in listener.messages)

    polls, events = check_polls(out)
    kinds = [e["event"] for e in events]
    started = [e for e in events if e["event"] == "worker_started"]
    assert sorted(e["worker"] for e in started) == [0, 1]
    assert all(epoch(e["timestamp"]) <= ready_at for e in started)  # READY=1 after both ran
    assert sum(m.split("\n").count("READY=1") for m in listener.messages) == 3  # start, 2 reloads
    assert {e["worker"] for e in events if e["event"] == "stats"} == {0, 1}
    assert {p["worker"] for ps in polls.values() for p in ps} == {0, 1}  # both had work

    failed = next(e for e in events if e["event"] == "reload_failed")
    reloaded = next(e for e in events if e["event"] == "reloaded")
    assert "fleet.toml: TOML syntax" in failed["error"]
    assert reloaded["added"] == ["snmpd-new"] and reloaded["removed"] == ["snmpd-3"]
    assert reloaded["changed"] == []
    assert kinds.index("reload_failed") < kinds.index("reloaded") < kinds.index("drain")
    assert polls["snmpd-new"] and polls["snmpd-0"][-1]["scheduled_at"] > reloaded["timestamp"]
    last_removed = max(epoch(p["scheduled_at"]) for p in polls["snmpd-3"])
    assert last_removed < epoch(reloaded["timestamp"]) + 0.05
    for name in ("snmpd-0", "snmpd-1", "snmpd-2"):  # kept through both reloads: counter state kept
        firsts = [r for r in read_records(out, "poller.jsonl") if r.get("device") == name
                  and r.get("ifHCInOctets_bps_reason") == "first_sample"]
        assert firsts and len({r["index"] for r in firsts}) == len(firsts)

    # every scheduled poll of the whole run is in the files: the summaries the daemon counted
    stopped = events[-1]
    assert stopped["event"] == "stopped"
    done = [p for ps in polls.values() for p in ps if p["status"] != "skipped"]
    assert stopped["polls"] == len(done) and stopped["cancelled"] == 0
    assert len(list(out.glob("poller.jsonl.*"))) >= 3  # rotated while both workers wrote
    assert all(len(polls[f"snmpd-{n}"]) >= 8 for n in range(3))


def worker_pids(out: Path) -> dict[int, int]:
    return {e["worker"]: e["pid"] for e in read_records(out, "events.jsonl")
            if e["event"] == "worker_started"}


def test_a_stuck_worker_stops_the_watchdog_and_a_killed_one_is_restarted(
    tmp_path: Path, snmpd_ports: list[int]
) -> None:
    out = tmp_path / "out"
    config = tmp_path / "fleet.toml"
    config.write_text(fleet(out, [(f"dev-{n}", port, "lab") for n, port in enumerate(snmpd_ports)]))
    listener = Listener(tmp_path / "notify.sock")
    daemon = start(config, listener, watchdog_usec=1_000_000)  # a ping every 0.5 s
    try:
        listener.wait_for("READY=1")
        listener.wait_for("WATCHDOG=1", 3)
        pids = worker_pids(out)
        os.kill(pids[1], signal.SIGSTOP)
        stuck_at = time.time()
        listener.drain(5)
        # slowest interval 1 s: a worker silent for 2 x 1 + 0.5 s no longer counts as progressing
        late = [t for t, m in zip(listener.times, listener.messages)
                if m == "WATCHDOG=1" and t > stuck_at + 3.5]
        assert late == []
        os.kill(pids[1], signal.SIGCONT)
        listener.wait_for("WATCHDOG=1", 4)

        os.kill(pids[1], signal.SIGKILL)
        killed_at = time.time()
        exited = wait_for_event(out, lambda e: e["event"] == "worker_exited")
        again = wait_for_event(out, lambda e: e["event"] == "worker_started" and e["restarts"] == 1)
        listener.drain(2.5)
    finally:
        stop(daemon)
    assert (exited["worker"], exited["pid"], exited["signal"]) == (1, pids[1], "SIGKILL")
    assert exited["restart_in_s"] == 1.0 and exited["devices"] >= 1
    assert again["worker"] == 1 and again["pid"] != pids[1]
    data = read_records(out, "poller.jsonl")
    polls_after = {r["device"] for r in data if r["event"] == "poll" and r["worker"] == 1
                   and epoch(r["scheduled_at"]) > killed_at + 1}
    assert len(polls_after) == exited["devices"]  # its devices are polled again
    # the restarted worker's devices start afresh: their seq counts again from 0, without a gap
    seqs: dict[str, list[int]] = {}
    for r in data:
        if r["event"] == "poll" and r["worker"] == 1 and \
                epoch(r["scheduled_at"]) > epoch(exited["timestamp"]):
            seqs.setdefault(r["device"], []).append(r["seq"])
    assert seqs and all(sorted(s) == list(range(len(s))) for s in seqs.values()), seqs


@pytest.fixture()
def slow(snmpd_ports: list[int]) -> Iterator[SlowRelay]:
    relay = SlowRelay(snmpd_ports[0], delay_s=4.0)
    yield relay
    relay.close()


@pytest.mark.parametrize("signals, grace_s", [
    ([signal.SIGTERM], 1.0), ([signal.SIGTERM, signal.SIGINT], 30.0),
])
def test_sigterm_drains_every_worker_and_a_second_signal_cuts_it_short(
    tmp_path: Path, slow: SlowRelay, signals: list[signal.Signals], grace_s: float
) -> None:
    out = tmp_path / "out"
    # three for each worker, each starting its first poll 0.5-3.5 s after the start (its phase)
    names = ["slow-1", "slow-2", "slow-3", "slow-6", "slow-10", "slow-18"]
    config = tmp_path / "fleet.toml"
    config.write_text(fleet(out, [(name, slow.port, "lab") for name in names], grace_s=grace_s,
                            interval_s=10, timeout_s=8))
    daemon = start(config)
    time.sleep(5.0)  # every device is in its first poll (9 s with answers 4 s late)
    sent = time.monotonic()
    for signum in signals[:-1]:
        daemon.send_signal(signum)
        time.sleep(0.3)
    stop(daemon, signals[-1])
    assert time.monotonic() - sent < 1.0 + 3.0  # the grace (or none, forced), plus shutdown
    polls, events = check_polls(out)
    assert sorted(worker_of(n, 1, 2) for n in names) == [0, 0, 0, 1, 1, 1]
    drain, stopped = next(e for e in events if e["event"] == "drain"), events[-1]
    assert drain["workers"] == 2
    cancelled = [p for ps in polls.values() for p in ps if p.get("error_type") == "cancelled"]
    assert stopped["event"] == "stopped" and stopped["cancelled"] == len(cancelled) == 6
    assert sorted(p["worker"] for p in cancelled) == [0, 0, 0, 1, 1, 1]  # both drained theirs


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_workers_go_when_their_parent_is_killed(tmp_path: Path, snmpd_ports: list[int]) -> None:
    out = tmp_path / "out"
    config = tmp_path / "fleet.toml"
    config.write_text(fleet(out, [(f"dev-{n}", port, "lab") for n, port in enumerate(snmpd_ports)]))
    listener = Listener(tmp_path / "notify.sock")
    daemon = start(config, listener)
    listener.wait_for("READY=1")
    workers = children(daemon.pid)
    assert len(workers) == 2
    daemon.kill()
    daemon.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_one_worker_is_one_process_polling_its_shard(
    tmp_path: Path, snmpd_ports: list[int]
) -> None:
    out = tmp_path / "out"
    names = [f"dev-{n}" for n in range(8)]
    config = tmp_path / "fleet.toml"
    config.write_text(fleet(out, [(name, snmpd_ports[0], "lab") for name in names], workers=1))
    listener = Listener(tmp_path / "notify.sock")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "poller", "run", "--config", str(config), "--shard", "1/2"],
        env=dict(os.environ, NOTIFY_SOCKET=str(listener.path)), stderr=subprocess.PIPE)
    try:
        listener.wait_for("READY=1")
        assert children(daemon.pid) == []
        listener.drain(2.5)
    finally:
        stop(daemon)
    mine = sorted(n for n in names if Shard(1, 2).owns(n))
    polls, events = check_polls(out, workers=1)
    assert sorted(polls) == mine and 0 < len(mine) < len(names)
    started = events[0]
    assert (started["shard"], started["devices"], started["fleet_devices"]) == ("1/2", len(mine), 8)
    assert "workers" not in started


def test_v3_devices_poll_in_workers_and_no_key_is_written(tmp_path: Path, snmpd: Agent) -> None:
    """The workers get their credentials through their pipe: v3 keys arrive and work, and
    appear in no record and no message."""
    user = next(u for u in snmpd.v3_users if u.name == "v3-sha256-aes")
    out = tmp_path / "out"
    text = fleet(out, []) + (
        f'[credentials.v3]\nversion = "3"\nuser = "{user.name}"\nsecurity_level = "authPriv"\n'
        f'auth_protocol = "SHA256"\nauth_key = "{user.auth_key}"\npriv_protocol = "AES128"\n'
        f'priv_key = "{user.priv_key}"\n')
    names = [f"v3-{n}" for n in range(4)]
    for name in names:
        text += (f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {snmpd.port}\n'
                 'credential = "v3"\n')
    config = tmp_path / "fleet.toml"
    config.write_text(text)
    config.chmod(0o600)
    listener = Listener(tmp_path / "notify.sock")
    daemon = start(config, listener)
    try:
        listener.wait_for("READY=1")
        listener.drain(2.5)
    finally:
        err = stop(daemon)
    polls, _ = check_polls(out)
    assert sorted(polls) == names
    assert {p["status"] for ps in polls.values() for p in ps} == {"ok"}
    assert {p["worker"] for ps in polls.values() for p in ps} == {0, 1}
    everything = err + "".join(f.read_text() for f in out.iterdir())
    for secret in (str(user.auth_key), str(user.priv_key), SNMPD_COMMUNITY):
        assert secret not in everything

"""Real parts for the cluster's tests and benchmark, all on loopback: a redis-server without
persistence (stopped by its pid), the lean responder fleet (tools.fleet), `poller run` hosts
with [cluster], and the accounting of every (device, slot) across the hosts' record files."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from poller.run.grid import phase_ms
from tests.ports import free_tcp_port, free_udp_block

ROOT = Path(__file__).resolve().parents[1]
COMMUNITY_ENV = "POLLER_RIG_COMMUNITY"
#: the marker of every module that starts a redis-server
NEEDS_REDIS = pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="redis-server is not installed (make cluster-deps)")
#: the three-host rig: a few hundred devices, short intervals and lease, a test in seconds
DEVICES = 240
INTERVAL_S = 3.0
LEASE_S = 1.0
NAMES = [f"dev-{i:05d}" for i in range(DEVICES)]


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_tcp_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--logfile",
             str(self.directory / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(10)

    def command(self, *words: str) -> bytes:
        """One command in the inline protocol; the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            time.sleep(0.05)
            return conn.recv(1 << 16)


@dataclass
class Fleet:
    devices: int
    base_port: int
    process: subprocess.Popen[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def start_fleet(devices: int, base_port: int | None = None, tries: int = 5) -> Fleet:
    """The lean responder on `devices` consecutive UDP ports from `base_port`, or from a block
    found free (tried again elsewhere when a port is taken between the check and the bind)."""
    for _ in range(1 if base_port is not None else tries):
        base = base_port if base_port is not None else free_udp_block(devices)
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.fleet", "--devices", str(devices), "--base-port",
             str(base), "--ports", "2"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.startswith("ready"):
            return Fleet(devices, base, process)
        process.kill()
        process.wait(10)
    raise RuntimeError(f"the fleet did not start ({line.strip()!r})")


def fleet_sections(fleet: Fleet, interval_s: float, devices: int | None = None) -> str:
    """The fleet sections every host shares (a community by reference: pushable)."""
    lines = ["[defaults]", f"interval = {interval_s:g}", 'credential = "rig"',
             'profiles = ["system", "rig"]', "timeout = 0.5", "retries = 1", "",
             "[credentials.rig]", 'version = "2c"', f'community_env = "{COMMUNITY_ENV}"', "",
             "[[profiles.rig.tables]]", 'name = "interfaces"',
             'columns = ["ifName", "ifHCInOctets", "ifHCOutOctets"]', ""]
    for i in range(devices if devices is not None else fleet.devices):
        lines += ["[[devices]]", f'name = "dev-{i:05d}"', 'host = "127.0.0.1"',
                  f"port = {fleet.base_port + i}", ""]
    return "\n".join(lines)


@dataclass
class Host:
    name: str
    directory: Path
    redis_url: str
    lease_s: float
    fleet_text: str
    process: subprocess.Popen[bytes] | None = None
    extra: str = ""
    #: [daemon] workers: above 1 the host polls in worker processes
    workers: int = 1

    @property
    def config(self) -> Path:
        return self.directory / "poller.toml"

    @property
    def data(self) -> Path:
        return self.directory / "out" / "poller.jsonl"

    @property
    def events(self) -> Path:
        return self.directory / "out" / "events.jsonl"

    def write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text("\n".join([
            "[daemon]", "stats_interval = 60", "drain_grace = 5", f"workers = {self.workers}",
            f'state_directory = "{self.directory / "state"}"', "",
            "[output]", f'directory = "{self.directory / "out"}"', 'max_bytes = "1GiB"', "",
            "[cluster]", f'redis = "{self.redis_url}"', f'host = "{self.name}"',
            f"lease = {self.lease_s:g}", self.extra, "", self.fleet_text]))

    def start(self) -> Host:
        self.write_config()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "poller", "run", "--config", str(self.config)],
            # a process group of its own: the host and its workers, as a service manager sees it
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True,
            stderr=open(self.directory / "stderr.txt", "ab"),  # noqa: SIM115 - the child owns it
            env={**os.environ, "PYTHONPATH": str(ROOT), COMMUNITY_ENV: "public"})
        return self

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def stop(self, timeout_s: float = 30) -> int | None:
        if self.process is None:
            return None
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def event_records(self, name: str | None = None) -> list[dict[str, Any]]:
        return [r for r in read_lines(self.events) if name is None or r["event"] == name]


def alive(pid: int) -> bool:
    """The process runs (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    for line in text.splitlines():
        if line.endswith("}"):
            yield json.loads(line)


def polls(hosts: Iterable[Host]) -> list[dict[str, Any]]:
    return [r for host in hosts for r in read_lines(host.data) if r["event"] == "poll"]


def wait_for(test: Any, timeout_s: float, step_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(step_s)
    return test()


def at_ms(scheduled_at: str) -> int:
    """An RFC 3339 `scheduled_at` (milliseconds, Z) as ms since the epoch."""
    from datetime import datetime

    return round(datetime.fromisoformat(scheduled_at).timestamp() * 1000)


@dataclass
class Account:
    """Every (device, slot) of a window: polled once, missed, or polled more than once."""

    expected: int
    missed: list[tuple[str, int]]
    duplicated: list[tuple[str, int]]
    off_grid: list[tuple[str, int]]


def account(records: list[dict[str, Any]], names: Iterable[str], interval_s: float,
            start_ms: int, end_ms: int) -> Account:
    """The slots of `names` scheduled in [start_ms, end_ms) against the poll records."""
    counts = Counter((r["device"], at_ms(r["scheduled_at"])) for r in records)
    expected = 0
    missed: list[tuple[str, int]] = []
    duplicated = [key for key, n in counts.items() if n > 1 and start_ms <= key[1] < end_ms]
    off_grid = []
    wanted = set(names)
    for name in wanted:
        interval = round(interval_s * 1000)
        phase = phase_ms(name, interval)
        first = start_ms + (phase - start_ms) % interval
        for tick in range(first, end_ms, interval):
            expected += 1
            if counts[(name, tick)] == 0:
                missed.append((name, tick))
    for (name, tick) in counts:
        if name in wanted and (tick - phase_ms(name, round(interval_s * 1000))) % round(
                interval_s * 1000):
            off_grid.append((name, tick))
    return Account(expected, sorted(missed), sorted(duplicated), off_grid)


def explain(pairs: list[tuple[str, int]], records: list[dict[str, Any]],
            hosts: Iterable[Host]) -> str:
    """What a failed accounting needs to be understood: for the first few (device, slot)
    pairs, the device's polls near the slot and every host's cluster events near it."""
    lines = [f"{len(pairs)} pairs: {pairs[:5]}"]
    hosts = list(hosts)
    for name, tick in pairs[:3]:
        lines.append(f"-- {name} @ {tick}")
        for r in sorted((r for r in records if r["device"] == name),
                        key=lambda r: at_ms(r["scheduled_at"])):
            at = at_ms(r["scheduled_at"])
            if abs(at - tick) <= 10_000:
                lines.append(f"  poll {at - tick:+d} ms owner={r.get('owner')} "
                             f"epoch={r.get('epoch')} status={r['status']} seq={r['seq']} "
                             f"written={ms_of(r['timestamp']) - tick:+d} ms")
        for host in hosts:
            for e in host.event_records():
                at = ms_of(e["timestamp"])
                if e["event"].startswith(("cluster", "started", "drain", "stopped")) and \
                        abs(at - tick) <= 5_000:
                    lines.append(f"  {host.name} {e['event']} {at - tick:+d} ms "
                                 f"{ {k: v for k, v in e.items() if k in ('epoch', 'error')} }")
    return "\n".join(lines)


def now_ms() -> int:
    return int(time.time() * 1000)



def polls_with_rows(hosts: Iterable[Host]) -> list[dict[str, Any]]:
    """Each poll record with `_rows`: the row records its poll wrote (they come just before
    it, in its host's file) and `_host`."""
    found = []
    for host in hosts:
        pending: dict[str, list[dict[str, Any]]] = {}
        for record in read_lines(host.data):
            if record["event"] == "row":
                pending.setdefault(record["device"], []).append(record)
            elif record["event"] == "poll":
                record["_rows"] = pending.pop(record["device"], [])
                record["_host"] = host.name
                found.append(record)
    return found


def ms_of(timestamp: str) -> int:
    return at_ms(timestamp)


def assert_seq_contiguous(records: list[dict[str, Any]], allow_gaps: bool = False) -> None:
    """Per device, in slot order across hosts: each seq one more than the last (never twice)."""
    by_device: dict[object, list[int]] = {}
    for record in sorted(records, key=lambda r: at_ms(str(r["scheduled_at"]))):
        by_device.setdefault(record["device"], []).append(int(str(record["seq"])))
    for device, seqs in by_device.items():
        steps = [b - a for a, b in itertools.pairwise(seqs)]
        if allow_gaps:
            assert all(step >= 1 for step in steps), (device, seqs)
        else:
            assert all(step == 1 for step in steps), (device, seqs)

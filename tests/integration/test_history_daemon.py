"""The daemon with `[history]` against net-snmp's snmpd: the RRD files it writes hold the very
rates its records carry (read back with the `rrdtool fetch` command, an independent oracle),
nulls as gaps; the same through rrdcached on TCP loopback and with two worker processes, each
keeping its own fleet index. Polls every second, so that each record fills one RRD step alone;
the runs are shorter than the writer's hold, so the values after each file's first reach it at
the stop, which must write them all."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from poller.config.shard import worker_of
from poller.history.layout import ds_name, row_path
from tests import agents
from tests.conftest import SNMPD_COMMUNITY, Agent
from tests.ports import free_tcp_port

pytestmark = pytest.mark.skipif(shutil.which("rrdtool") is None or shutil.which("rrdcached") is None,
                                reason="rrdtool/rrdcached are not installed (make history-deps)")

KEPT = ("ifHCInOctets_bps", "ifHCOutOctets_bps", "ifInErrors_rate", "ifOutErrors_rate",
        "ifInDiscards_rate", "ifOutDiscards_rate")
RUN_S = 7.0


def _fleet(tmp: Path, port: int, *, workers: int = 1, rrdcached: str | None = None,
           names: tuple[str, ...] = ("sw",)) -> Path:
    # an rrdcached on TCP names the files under its base directory (-b, the test's tmp)
    directory = "rrd" if rrdcached else str(tmp / "rrd")
    cached = f'rrdcached = "{rrdcached}"\n' if rrdcached else ""
    text = f"""
[daemon]
workers = {workers}
stats_interval = 1
drain_grace = 2
state_directory = "{tmp / "state"}"
[output]
directory = "{tmp / "out"}"
[history]
directory = "{directory}"
{cached}
[defaults]
interval = 1
timeout = 0.4
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


def _run_daemon(config: Path, seconds: float = RUN_S) -> None:
    process = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(seconds)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "history" not in stderr, stderr  # no write error was reported


def _records(tmp: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp / "out" / name).read_bytes().splitlines()]


def _fetch(path: Path, end_s: int, daemon: str | None) -> list[dict[str, float]]:
    """The values of the one-second steps ending at end_s and end_s + 1 (the writer stamps a
    record with the second it took it, which may be the one after the record's timestamp)."""
    command = ["rrdtool", "fetch", str(path), "AVERAGE", "-r", "1", "-s", str(end_s - 1),
               "-e", str(end_s + 1)]
    if daemon:
        command += ["--daemon", daemon]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout
    header, *lines = [line for line in out.splitlines() if line.strip()]
    names = header.split()
    steps = {int(stamp): dict(zip(names, (float(v) for v in values.split()), strict=True))
             for stamp, _, values in (line.partition(":") for line in lines)}
    return [steps[end_s], steps[end_s + 1]]


def _same(stored: float, rate: float | None) -> bool:
    if rate is None:
        return math.isnan(stored)
    return math.isclose(stored, rate, rel_tol=1e-9)  # fetch prints 11 significant digits


def _check_rows(tmp: Path, devices: tuple[str, ...], daemon: str | None = None,
                directory: Path | None = None) -> int:
    """Every interfaces row of every device: each kept rate is what its file holds at that
    second. Returns how many values were compared."""
    compared = 0
    rows = [r for r in _records(tmp, "poller.jsonl")
            if r["event"] == "row" and r.get("table") == "interfaces"]
    assert {r["device"] for r in rows} == set(devices)
    known = 0
    for record in rows:
        path = row_path(directory or tmp / "rrd", record["device"], "interfaces", str(record["index"]))
        at_s = int(datetime.fromisoformat(record["timestamp"]).timestamp())
        candidates = _fetch(path, at_s, daemon)
        assert any(all(_same(values[ds_name(f)], record.get(f)) for f in KEPT)
                   for values in candidates), (record, candidates)
        compared += len(KEPT)
        known += record.get("ifHCInOctets_bps") is not None
    assert known >= len(devices) * 3, "too few real rates to compare"
    return compared


def _stats(tmp: Path) -> list[dict[str, Any]]:
    return [r for r in _records(tmp, "events.jsonl") if r["event"] == "stats"]


def test_the_daemon_stores_the_rates_of_its_records(tmp_path: Path, snmpd: Agent) -> None:
    _run_daemon(_fleet(tmp_path, snmpd.port))
    assert _check_rows(tmp_path, ("sw",)) > 0
    last = _stats(tmp_path)[-1]
    assert last["history_stored"] > 0 and last["history_failed"] == 0
    assert last["history_dropped"] == 0 and last["history_skipped"] == 0
    index = json.loads((tmp_path / "rrd" / "index.json").read_bytes())
    assert index["devices"]["sw"]["poll"]["status"] == "ok"


@pytest.fixture
def rrdcached_tcp(tmp_path: Path) -> Iterator[str]:
    """rrdcached listening on TCP loopback, holding writes (-w 3600), stopped by its pid."""
    port = free_tcp_port()
    process = agents.start_rrdcached(tmp_path, port, "-b", str(tmp_path))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        agents.stop(process)


def test_through_rrdcached_on_tcp(tmp_path: Path, snmpd: Agent, rrdcached_tcp: str) -> None:
    _run_daemon(_fleet(tmp_path, snmpd.port, rrdcached=rrdcached_tcp))
    # the cache daemon holds the updates (-w 3600): what it answers is what the records say
    assert _check_rows(tmp_path, ("sw",), daemon=rrdcached_tcp, directory=Path("rrd")) > 0
    last = _stats(tmp_path)[-1]
    assert last["history_stored"] > 0 and last["history_failed"] == 0
    assert (tmp_path / "rrd" / "sw" / "tables" / "interfaces").is_dir()  # made by rrdcached
    # the fleet index stays on the poller's host, in the state directory
    assert (tmp_path / "state" / "history" / "index.json").exists()


def test_each_worker_writes_its_own_devices(tmp_path: Path, snmpd: Agent) -> None:
    names = ("sw-a", "sw-b", "sw-g", "sw-h")
    assert {worker_of(name, 1, 2) for name in names} == {0, 1}  # both workers poll some
    _run_daemon(_fleet(tmp_path, snmpd.port, workers=2, names=names), RUN_S + 2)
    _check_rows(tmp_path, names)
    by_worker = {}
    for path in sorted((tmp_path / "rrd").glob("index-w*.json")):
        by_worker[path.name] = set(json.loads(path.read_bytes())["devices"])
    assert set(by_worker) == {"index-w0.json", "index-w1.json"}
    assert by_worker["index-w0.json"].isdisjoint(by_worker["index-w1.json"])
    assert by_worker["index-w0.json"] | by_worker["index-w1.json"] == set(names)
    workers = {s["worker"] for s in _stats(tmp_path) if s.get("history_stored")}
    assert workers == {0, 1}

"""Several hosts, one store, one web, all real processes on loopback: one rrdcached listening on
TCP and on a unix socket and holding every write (-w 3600, so nothing reaches the disk by
itself), two `poller run` hosts polling disjoint shards of one lean-responder fleet and writing
through its TCP port, and one `poller web` over its base directory reading through its unix
socket. Within a few polls the fleet page lists every device of both hosts and a row of each
host has day-graph points of its newest polls, which only rrdcached held. With the daemon
stopped, the pages still answer, from the files, and say their values may be late."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from poller.config.model import Shard
from poller.history.layout import row_path
from poller.web.rrdcached import Rrdcached
from poller.web.series import RrdReader
from poller.web.site import Site
from tests import agents
from tests.cluster_rig import ROOT, start_fleet
from tests.integration.test_web import Server
from tests.ports import free_tcp_port

pytestmark = pytest.mark.skipif(shutil.which("rrdtool") is None or shutil.which("rrdcached") is None,
                                reason="rrdtool/rrdcached are not installed (make history-deps)")

DEVICES = tuple(f"dev-{i}" for i in range(6))
INTERVAL_S = 2
SHARDS = (Shard(0, 2), Shard(1, 2))
#: the inbound rate: the record's field and the file's data source
IN = "ifHCInOctets_rate"
#: every wait in this file ends by then
WAIT_S = 45.0


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str, Path]]:
    """rrdcached on TCP loopback and a unix socket (FLUSH and PING only), its base directory
    tmp/store, holding writes (-w 3600); (process, TCP address, socket address, base)."""
    base, sock, port = tmp_path / "store", tmp_path / "rrdcached.sock", free_tcp_port()
    base.mkdir()
    # as docs/history.md has it: the web's socket takes FLUSH and PING only
    process = agents.start_rrdcached(tmp_path, port, "-b", str(base), "-B", "-m", "0660",
                                     "-P", "FLUSH,PING", unix=sock)
    try:
        yield process, f"127.0.0.1:{port}", f"unix:{sock}", base
    finally:
        _stop(process)


def _host_file(tmp: Path, name: str, base_port: int, rrdcached: str) -> Path:
    text = f"""
[daemon]
stats_interval = 1
drain_grace = 2
state_directory = "{tmp / name / "state"}"
[output]
directory = "{tmp / name / "out"}"
[history]
rrdcached = "{rrdcached}"
directory = "poller"
[defaults]
interval = {INTERVAL_S}
timeout = 0.5
retries = 1
profiles = ["rig"]
[credentials.public]
community = "public"
[[profiles.rig.tables]]
name = "interfaces"
columns = ["ifName", "ifHCInOctets", "ifHCOutOctets"]
"""
    for i, device in enumerate(DEVICES):
        text += f'[[devices]]\nname = "{device}"\nhost = "127.0.0.1"\nport = {base_port + i}\n'
    path = tmp / f"{name}.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def _host(config: Path, shard: Shard, tmp: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "poller", "run", "--config", str(config), "--shard",
         f"{shard.index}/{shard.count}"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=(tmp / f"{config.stem}.stderr").open("wb"),
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def _json(server: Server, path: str) -> Any:
    status, _, body = server.get(path)
    assert status == 200, (path, body[:300])
    return json.loads(body)


def _day_in(server: Server, device: str) -> tuple[list[int], list[float | None], Any]:
    """The day graph's times and inbound values of `device`'s row 1, and the page."""
    page = _json(server, f"/row.json?d={device}&t=interfaces&i=1")
    day = next(w for w in page["windows"] if w["window"] == "day")
    chart = day["charts"][0]
    return chart["times"], chart["values"][IN], page


def _on_disk(path: Path) -> list[float]:
    """The last minute's known values of `path` read from the file alone (no rrdcached)."""
    out = subprocess.run(["rrdtool", "fetch", str(path), "AVERAGE", "-r", str(INTERVAL_S),
                          "-s", "now-60", "-e", "now"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    values = [float(v) for line in out.splitlines() if ":" in line
              for v in line.partition(":")[2].split()]
    return [v for v in values if not math.isnan(v)]


def _rates(tmp: Path, host: str, device: str) -> list[float]:
    lines = (tmp / host / "out" / "poller.jsonl").read_bytes().splitlines()
    return [r[IN] for r in map(json.loads, lines)
            if r.get("event") == "row" and r["device"] == device and str(r["index"]) == "1"
            and r.get(IN) is not None]


def _wait(what: str, check: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} within {WAIT_S:g} s"
        time.sleep(0.5)


def test_two_hosts_one_rrdcached_one_web(tmp_path: Path, store: Any) -> None:
    rrdcached, tcp, unix, base = store
    owners = [tuple(d for d in DEVICES if shard.owns(d)) for shard in SHARDS]
    assert all(owners), owners  # each host polls some of the fleet
    fleet = start_fleet(len(DEVICES))
    with ExitStack() as stack:
        stack.callback(fleet.stop)
        hosts = [_host(_host_file(tmp_path, f"host{i}", fleet.base_port, tcp), shard, tmp_path)
                 for i, shard in enumerate(SHARDS)]
        for host in hosts:
            stack.callback(_stop, host)
        server = Server(base / "poller", tmp_path, f'rrdcached = "{unix}"\n')
        stack.callback(server.stop)

        # every device of both hosts, from the files rrdcached made under its base
        def listed() -> bool:
            page = _json(server, "/fleet.json?per_page=1000")
            return {row["device"] for row in page["devices"]} >= set(DEVICES)
        _wait("the fleet page lists every device of both hosts", listed)
        first, second = owners[0][0], owners[1][0]
        paths = {d: row_path(base / "poller", d, "interfaces", "1") for d in (first, second)}
        _wait("both hosts have polled real rates",
              lambda: _rates(tmp_path, "host0", first) and _rates(tmp_path, "host1", second))
        time.sleep(2 * INTERVAL_S)
        # rrdcached holds every update: the files alone know nothing yet
        assert _on_disk(paths[first]) == [] and _on_disk(paths[second]) == []

        for host, device in (("host0", first), ("host1", second)):
            times, values, page = _day_in(server, device)
            now = time.time()
            assert page["warning"] is None
            fresh = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
            assert len(fresh) >= 2, (device, fresh)
            assert fresh[-1][0] >= now - 4 * INTERVAL_S, (device, fresh[-1], now)
            rates = _rates(tmp_path, host, device)
            assert all(min(rates) * 0.999 <= v <= max(rates) * 1.001 for _, v in fresh), \
                (fresh, rates)
            # reading through rrdcached made it write this file: now the file knows too
            assert _on_disk(paths[device])

        # rrdcached stopped: the pages answer in time, from the files, and say so
        os.kill(rrdcached.pid, signal.SIGSTOP)
        started = time.monotonic()
        times, values, page = _day_in(server, first)
        assert time.monotonic() - started < 10
        assert "out of reach (no answer within" in page["warning"]
        assert any(v is not None for v in values)
        status, _, body = server.get("/")
        assert status == 200 and b'class="warning"' in body and b"write delay (-w)" in body
        os.kill(rrdcached.pid, signal.SIGCONT)
        assert _wait("the warning to go once rrdcached answers again",
                     lambda: _json(server, "/fleet.json")["warning"] is None)
        for i, host in enumerate(hosts):  # neither host stumbled over the pause
            assert host.poll() is None, (tmp_path / f"host{i}.stderr").read_text()


def test_a_file_outside_its_base_is_refused_and_the_page_says_so(tmp_path: Path,
                                                                 store: Any) -> None:
    """With -B, rrdcached writes only files under its -b: a web directory elsewhere is read
    as it is, and its pages say why their values may be late."""
    _, _, unix, base = store
    outside = tmp_path / "elsewhere"
    path = row_path(outside, "sw", "interfaces", "1")
    path.parent.mkdir(parents=True)
    subprocess.run(["rrdtool", "create", str(path), "-s", "60", "DS:x:GAUGE:120:U:U",
                    "RRA:AVERAGE:0.5:1:100", "RRA:AVERAGE:0.5:5:100"], check=True, timeout=30)
    site = Site(outside, RrdReader(Rrdcached(unix)))
    reply = site.handle("/row.json", {"d": "sw", "t": "interfaces", "i": "1"})
    assert reply.status == 200
    warning = json.loads(reply.body)["warning"]
    assert f"rrdcached {unix} refuses to write 1.rrd" in warning and "Permission denied" in warning
    # under its base the same file is taken, and no line is shown
    inside = base / "poller"
    shutil.copytree(outside, inside)
    site = Site(inside, RrdReader(Rrdcached(unix)))
    reply = site.handle("/row.json", {"d": "sw", "t": "interfaces", "i": "1"})
    assert json.loads(reply.body)["warning"] is None

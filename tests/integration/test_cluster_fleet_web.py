"""One `poller web` sees the whole cluster's fleet index, all real processes on loopback: a
redis-server with a password, the lean responder fleet, two `poller run` members (one with
workers = 2), each with [history] in a directory of its own, and one `poller web` over a third
directory that holds no index at all, whose fleet file has the same [cluster]. The members send
their index files through Redis; the web lists every device of both with its last poll's status
and age, and a device page has its row's label. Redis gone, the pages still answer from what
the web had, and say so in one line that never holds the password."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.cluster import rendezvous
from tests.cluster_rig import (
    NEEDS_REDIS,
    Fleet,
    Host,
    RedisServer,
    fleet_sections,
    read_lines,
    start_fleet,
    wait_for,
)
from tests.integration.test_web import Server

pytestmark = [NEEDS_REDIS, pytest.mark.timeout(150)]

DEVICES = 12
INTERVAL_S = 2.0
LEASE_S = 1.0
NAMES = [f"dev-{i:05d}" for i in range(DEVICES)]
PASSWORD = "s3cret-redis-pw-not-on-a-page"
CLUSTER = "fleetweb"
#: every wait in this file ends by then: the first index is saved ~10 s after a start
WAIT_S = 60.0


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    assert server.command("CONFIG", "SET", "requirepass", PASSWORD).startswith(b"+OK")
    yield server
    server.stop()


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    running = start_fleet(DEVICES)
    yield running
    running.stop()


def _json(server: Server, path: str) -> Any:
    status, _, body = server.get(path)
    assert status == 200, (path, body[:300])
    assert PASSWORD.encode() not in body
    return json.loads(body)


def _labels(host: Host) -> dict[str, str]:
    """Each device's ifName of row 1, as the host's records say."""
    return {r["device"]: r["ifName"] for r in read_lines(host.data)
            if r["event"] == "row" and str(r["index"]) == "1" and r.get("ifName")}


def test_one_web_sees_every_members_fleet_index(tmp_path: Path, redis: RedisServer,
                                                fleet: Fleet) -> None:
    pytest.importorskip("rrdtool")
    password_file = tmp_path / "redis-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    cluster = f'name = "{CLUSTER}"\npassword_file = "{password_file}"'
    text = fleet_sections(fleet, INTERVAL_S)
    hosts = []
    for i, workers in enumerate((2, 1)):
        directory = tmp_path / f"host{i}"
        history = f'\n[history]\ndirectory = "{directory / "rrd"}"\nhold = 0\n'
        hosts.append(Host(f"host{i}", directory, redis.url, LEASE_S, text + history,
                          extra=cluster, workers=workers))
    shares = {h.name: rendezvous.share(NAMES, [h.name for h in hosts], h.name) for h in hosts}
    assert all(shares.values()), shares  # each member polls some of the fleet
    web = tmp_path / "web"
    web.mkdir()
    server = None
    try:
        for host in hosts:
            host.start()
        server = Server(web, tmp_path, f'[cluster]\nredis = "{redis.url}"\nhost = "web"\n'
                                       f"{cluster}\n")

        def all_ok() -> dict[str, dict[str, Any]] | None:
            page = _json(server, "/fleet.json?per_page=1000")
            rows = {row["device"]: row for row in page["devices"]}
            done = set(rows) >= set(NAMES) and all(
                rows[n]["status"] == "ok" and rows[n]["age_s"] is not None for n in NAMES)
            return rows if done and page["warning"] is None else None
        rows = wait_for(all_ok, WAIT_S, step_s=1.0)
        assert rows, _json(server, "/fleet.json?per_page=1000")
        assert all(0 <= rows[n]["age_s"] < 60 for n in NAMES), rows
        assert not list(web.glob("index*.json"))  # none of it came from the web's directory
        for host in hosts:
            labels = _labels(host)
            device = min(d for d in shares[host.name] if d in labels)
            page = _json(server, f"/device.json?d={device}")
            assert page["poll"]["status"] == "ok" and page["poll"]["age_s"] is not None
            row = next(r for r in page["tables"]["interfaces"] if r["index"] == "1")
            assert row["name"] == labels[device], (device, row, labels[device])

        for host in hosts:  # a graceful stop sends the index as the drain left it
            assert host.stop() == 0
        redis.stop()
        # Redis gone: the pages answer in time from what the web had, and say so
        time.sleep(6)  # past the web's cache
        started = time.monotonic()
        page = _json(server, "/fleet.json?per_page=1000")
        assert time.monotonic() - started < 5
        assert {r["device"] for r in page["devices"] if r["status"] == "ok"} >= set(NAMES)
        assert page["warning"].startswith(f"cluster {CLUSTER}: Redis {redis.url} is out of "
                                          "reach (")
        assert "\n" not in page["warning"] and "as Redis last gave it at" in page["warning"]
        status, _, body = server.get("/")
        assert status == 200 and body.count(b'class="warning"') == 1
        assert PASSWORD.encode() not in body
        assert PASSWORD not in server.stderr.read_text()
    finally:
        for host in hosts:
            host.stop()
        if server is not None:
            server.stop()

"""The fleet index shared through Redis (poller.cluster.index_share) as the web merges it: the
files packed by a member read back as the local merge reads them, each device from the entry
seen last whichever side it comes from, and one line on every page while Redis is out of
reach, beside rrdcached's, never with the password."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from poller.cluster.index_share import IndexPublisher, SharedIndex, packed_files, unpacked
from poller.config.cluster import ClusterSettings
from poller.history.index import FleetIndex, file_name, read_index
from poller.web.rrdcached import Rrdcached
from poller.web.series import RrdReader
from poller.web.site import Site
from tests.ports import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-not-on-any-page"


def _index(directory: Path, worker: int | None, polls: dict[str, tuple[str, int]]) -> None:
    """An index file of `worker` with one poll (status, at) and one row per device."""
    index = FleetIndex(directory, file_name(worker))
    for device, (status, at_s) in polls.items():
        index.add("row", {"device": device, "table": "interfaces", "index": 1,
                          "ifName": f"{device}-eth0", "ifHCInOctets_bps": 8.0 * at_s}, at_s)
        index.add("poll", {"device": device, "status": status, "scheduled_at": "x",
                           "duration_s": 0.1, "error_type": None, "error": None}, at_s)
    assert index.save()


class FakeShared:
    """The web's IndexSource, answering from a dict (the narrow interface's fake)."""

    def __init__(self, devices: Mapping[str, dict[str, Any]], warning: str | None = None):
        self._devices, self._warning, self.calls = devices, warning, 0

    def devices(self) -> Mapping[str, dict[str, Any]]:
        self.calls += 1
        return self._devices

    def warning(self) -> str | None:
        return self._warning


def test_packed_files_read_back_as_the_local_merge_reads_them(tmp_path: Path) -> None:
    _index(tmp_path, 0, {"a": ("ok", 100), "b": ("timeout", 100)})
    _index(tmp_path, 1, {"b": ("ok", 200), "c": ("ok", 150)})  # b moved to worker 1 later
    packed = packed_files(tmp_path)
    assert sorted(packed) == ["index-w0.json", "index-w1.json"]
    raw = {name.encode(): blob for name, blob in packed.items()}
    assert unpacked(raw) == read_index(tmp_path)
    assert unpacked(raw)["b"]["poll"]["status"] == "ok"
    # a damaged blob is skipped as a damaged file is, the rest still read
    raw[b"index-w1.json"] = b"not zlib"
    assert set(unpacked(raw)) == {"a", "b"} and unpacked(raw)["b"]["poll"]["status"] == "timeout"
    # neither is the stamp field taken for a file, nor a blob of another format
    raw[b"stamp"] = b"17"
    raw[b"index-w9.json"] = zlib.compress(json.dumps({"version": 99, "devices": {}}).encode())
    assert set(unpacked(raw)) == {"a", "b"}


def test_each_device_comes_from_the_entry_seen_last(tmp_path: Path) -> None:
    _index(tmp_path, None, {"here": ("ok", 500), "moved": ("ok", 300)})
    blob = {b"index.json": zlib.compress(_bytes_of(tmp_path / "elsewhere", {
        "moved": ("timeout", 200), "there": ("ok", 400), "here": ("timeout", 600)}))}
    shared = FakeShared(unpacked(blob))
    site = Site(tmp_path, clock=lambda: 1000.0, shared=shared)
    page = json.loads(site.handle("/fleet.json", {}).body)
    rows = {row["device"]: row for row in page["devices"]}
    # an older entry from Redis loses to a newer local one, and the other way round
    assert rows["moved"]["status"] == "ok" and rows["moved"]["age_s"] == 700.0
    assert rows["here"]["status"] == "timeout" and rows["here"]["age_s"] == 400.0
    assert rows["there"]["status"] == "ok" and rows["there"]["age_s"] == 600.0
    assert page["warning"] is None
    device = json.loads(site.handle("/device.json", {"d": "there"}).body)
    assert device["tables"]["interfaces"][0]["name"] == "there-eth0"
    assert device["tables"]["interfaces"][0]["in_bps"] == 3200.0
    assert shared.calls >= 2  # asked on every page, which caches as it likes


def _bytes_of(directory: Path, polls: dict[str, tuple[str, int]]) -> bytes:
    directory.mkdir()
    _index(directory, None, polls)
    return (directory / "index.json").read_bytes()


def test_redis_out_of_reach_is_one_line_beside_rrdcacheds(tmp_path: Path) -> None:
    _index(tmp_path, None, {"local": ("ok", 990)})
    settings = ClusterSettings(redis=(f"redis://127.0.0.1:{free_tcp_port()}/0",), name="fleet",
                               host="web", password=PASSWORD)
    shared = SharedIndex(settings)
    reader = RrdReader(Rrdcached(None, "192.0.2.5:42217"))  # a fixed rrdcached warning
    site = Site(tmp_path, reader, clock=lambda: 1000.0, shared=shared)
    started = time.monotonic()
    page = json.loads(site.handle("/fleet.json", {}).body)
    assert time.monotonic() - started < 2.5
    # the page renders from what it has: the local index
    assert [(r["device"], r["status"]) for r in page["devices"]] == [("local", "ok")]
    rrdcached_line, redis_line = page["warning"].split("\n")
    assert rrdcached_line.startswith("[history] rrdcached 192.0.2.5:42217 is on TCP")
    assert redis_line.startswith(f"cluster fleet: Redis {settings.redis[0]} is out of reach (")
    assert "ConnectionError" in redis_line
    assert redis_line.endswith("the other hosts' devices show their last poll only from this "
                               "host's own index")
    html = site.handle("/", {}).body.decode()
    assert html.count('class="warning"') == 2 and PASSWORD not in html
    assert PASSWORD not in json.dumps(page)
    # without [cluster] there is no such line
    alone = Site(tmp_path, reader, clock=lambda: 1000.0)
    assert json.loads(alone.handle("/fleet.json", {}).body)["warning"] == rrdcached_line


def test_a_password_in_an_error_is_replaced(tmp_path: Path) -> None:
    shared = SharedIndex(ClusterSettings(redis=("redis://127.0.0.1:1/0",), password=PASSWORD))
    assert shared._scrub(f"AuthenticationError: {PASSWORD} refused") == \
        "AuthenticationError: *** refused"


#: `poller web` as the command line runs it, with the server's loop left out: one fleet page
#: made, then which optional modules were loaded
WEB = """
import json, sys
from poller.cli import main
from poller.web import server
from poller.web.site import Site
from tests.ports import free_tcp_port
seen = {}
def serve(settings, password, shared=None, shared_from=""):
    Site(settings.directory, shared=shared).handle("/fleet.json", {})
    seen["shared"] = shared is not None
    return 0
server.serve = serve
code = main(["web", "--config", sys.argv[1]])
print(json.dumps({"code": code, **seen, "redis": "redis" in sys.modules}))
"""


@pytest.mark.parametrize("cluster", [False, True])
def test_the_web_loads_redis_only_with_cluster(tmp_path: Path, cluster: bool) -> None:
    config = tmp_path / "web.toml"
    section = f'[cluster]\nredis = "redis://127.0.0.1:{free_tcp_port()}/0"\nhost = "web"\n'
    config.write_text(f'[web]\ndirectory = "{tmp_path}"\n{section if cluster else ""}'
                      '[credentials.public]\ncommunity_file = "/nonexistent"\n'
                      '[[devices]]\nname = "sw1"\nhost = "192.0.2.1"\ncredential = "public"\n')
    done = subprocess.run([sys.executable, "-c", WEB, str(config)], check=False,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == {"code": 0, "shared": cluster, "redis": cluster}, done.stderr


def test_a_publisher_that_cannot_reach_redis_backs_off(tmp_path: Path) -> None:
    """Each failed round reads and compresses the files again: after a failure the next waits
    twice as long (from the look interval), not the look interval again."""
    _index(tmp_path, None, {"sw": ("ok", 990)})
    settings = ClusterSettings(redis=(f"redis://127.0.0.1:{free_tcp_port()}/0",), name="fleet",
                               host="m1")
    publisher = IndexPublisher(settings, tmp_path, look_s=0.05, every_s=0.0)
    rounds = 0
    publish = publisher.publish

    async def counted(*, now: bool = False) -> bool:
        nonlocal rounds
        rounds += 1
        return await publish(now=now)

    publisher.publish = counted  # type: ignore[method-assign]

    async def run() -> None:
        publisher.start()
        await asyncio.sleep(1.6)
        await publisher.close()

    asyncio.run(run())
    # 0.05 s doubling: tries at about 0, 0.1, 0.3, 0.7, 1.5 s (a fixed interval: ~30)
    assert 3 <= rounds <= 7, rounds

"""Several hosts, one fleet, on loopback: a real redis-server (no persistence), the lean
responder fleet, and three `poller run` processes with [cluster]. Every (device, slot) is
accounted for across the three hosts' files, in steady state and through each failure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.cluster import rendezvous
from tests.cluster_rig import (
    DEVICES,
    INTERVAL_S,
    LEASE_S,
    NAMES,
    NEEDS_REDIS,
    ROOT,
    Fleet,
    Host,
    RedisServer,
    account,
    assert_seq_contiguous,
    at_ms,
    explain,
    fleet_sections,
    ms_of,
    now_ms,
    polls,
    polls_with_rows,
    start_fleet,
    wait_for,
)

pytestmark = [NEEDS_REDIS, pytest.mark.timeout(120)]



@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    running = start_fleet(DEVICES)
    yield running
    running.stop()


class Cluster:
    def __init__(self, directory: Path, redis_url: str, fleet: Fleet, name: str) -> None:
        text = fleet_sections(fleet, INTERVAL_S)
        extra = f'name = "{name}"'
        self.hosts = [Host(f"host{i}", directory / f"host{i}", redis_url, LEASE_S, text,
                           extra=extra) for i in range(3)]

    def start(self) -> Cluster:
        for host in self.hosts:
            host.start()
        # every host joined and the last join's handover instant has passed
        assert wait_for(lambda: all(h.event_records("started") for h in self.hosts), 20)
        time.sleep(2 * LEASE_S)
        return self

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()

    def owners(self, records: list[dict[str, object]]) -> Counter[object]:
        return Counter(r["owner"] for r in records)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path, redis: RedisServer,
            fleet: Fleet) -> Iterator[Cluster]:
    running = Cluster(tmp_path, redis.url, fleet, request.node.name[:40].replace("[", "_")
                      .replace("]", "_")).start()
    yield running
    running.stop()


def test_steady_state_polls_every_slot_exactly_once(cluster: Cluster) -> None:
    start = now_ms()
    time.sleep(2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = polls(cluster.hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.expected >= DEVICES
    assert result.off_grid == []
    assert result.missed == [], explain(result.missed, records, cluster.hosts)
    assert result.duplicated == [], explain(result.duplicated, records, cluster.hosts)
    # each host its rendezvous share, and its records say so
    members = [h.name for h in cluster.hosts]
    for host in cluster.hosts:
        mine = {r["device"] for r in records if r["owner"] == host.name and
                start <= at_ms(r["scheduled_at"]) < end}
        assert mine == set(rendezvous.share(NAMES, members, host.name))
        assert host.event_records("clock_skew")[0]["ok"] is True
    assert all(isinstance(r["epoch"], int) for r in records)


def test_kill_9_survivors_take_over_within_the_lease(cluster: Cluster) -> None:
    victim = cluster.hosts[1]
    survivors = [cluster.hosts[0], cluster.hosts[2]]
    start = now_ms()
    time.sleep(INTERVAL_S)
    killed = now_ms()
    victim.signal(signal.SIGKILL)
    time.sleep(LEASE_S + 2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = polls_with_rows(cluster.hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.missed == [], explain(result.missed, records, cluster.hosts)
    assert result.duplicated == [], explain(result.duplicated, records, cluster.hosts)
    # the survivors saw the new view within the lease and a second
    views = [ms_of(e["timestamp"]) for h in survivors for e in h.event_records("cluster_view")
             if ms_of(e["timestamp"]) > killed]
    assert views and min(views) - killed <= (LEASE_S + 1.0) * 1000
    lost = set(rendezvous.share(NAMES, [h.name for h in cluster.hosts], victim.name))
    taken = {}
    for record in sorted(records, key=lambda r: at_ms(r["scheduled_at"])):
        if record["device"] in lost and record["_host"] != victim.name:
            taken.setdefault(record["device"], record)
    assert set(taken) == lost
    for first in taken.values():
        assert first["status"] == "ok"
        rates = [row["ifHCInOctets_rate"] for row in first["_rows"]]
        assert rates and all(rate is not None for rate in rates), first
    assert_seq_contiguous(records)


def test_sigterm_and_restart_hand_over_without_gap_or_duplicate(cluster: Cluster) -> None:
    leaving = cluster.hosts[2]
    start = now_ms()
    time.sleep(INTERVAL_S)
    assert leaving.stop() == 0
    time.sleep(INTERVAL_S)
    leaving.start()
    time.sleep(LEASE_S + 2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = polls(cluster.hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.missed == [], explain(result.missed, records, cluster.hosts)
    assert result.duplicated == [], explain(result.duplicated, records, cluster.hosts)
    assert_seq_contiguous(records)
    members = [h.name for h in cluster.hosts]
    back = {r["device"] for r in records if r["owner"] == leaving.name
            and at_ms(r["scheduled_at"]) >= end - INTERVAL_S * 1000}
    assert back == set(rendezvous.share(NAMES, members, leaving.name))
    left = leaving.event_records("cluster_left")
    assert left and left[0]["handed_over"] is True


def test_sigstop_for_two_leases_polls_nothing_twice(cluster: Cluster) -> None:
    paused = cluster.hosts[0]
    start = now_ms()
    time.sleep(INTERVAL_S)
    paused.signal(signal.SIGSTOP)
    time.sleep(2 * LEASE_S)
    paused.signal(signal.SIGCONT)
    time.sleep(LEASE_S + 2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = polls(cluster.hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.duplicated == [], explain(result.duplicated, records, cluster.hosts)
    assert paused.event_records("cluster_lease_lost")
    assert_seq_contiguous(records, allow_gaps=True)


def test_redis_restarted_empty_polling_never_stops(tmp_path: Path, fleet: Fleet) -> None:
    server = RedisServer(tmp_path / "redis").start()
    running = Cluster(tmp_path, server.url, fleet, "restart")
    try:
        running.start()
        start = now_ms()
        time.sleep(INTERVAL_S)
        server.stop(signal.SIGKILL)
        time.sleep(1.5 * INTERVAL_S)
        server = RedisServer(tmp_path / "redis2", port=server.port).start()
        time.sleep(3 * LEASE_S + 2 * INTERVAL_S)
        end = now_ms() - 1000
        time.sleep(1.0)
    finally:
        running.stop()
        server.stop()
    records = polls(running.hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.missed == [], explain(result.missed, records, running.hosts)
    assert result.duplicated == [], explain(result.duplicated, records, running.hosts)
    for host in running.hosts:
        assert host.event_records("cluster_unavailable")
        assert host.event_records("cluster_recovered")


def test_push_is_applied_by_every_host_within_two_seconds(cluster: Cluster, tmp_path: Path,
                                                         fleet: Fleet, redis: RedisServer) -> None:
    name = cluster.hosts[0].config.read_text().split('name = "')[1].split('"')[0]
    pushed = tmp_path / "pushed.toml"
    pushed.write_text("\n".join(["[cluster]", f'redis = "{redis.url}"', f'name = "{name}"', "",
                                 fleet_sections(fleet, INTERVAL_S, DEVICES - 40)]))
    before = now_ms()
    done = subprocess.run([sys.executable, "-m", "poller", "cluster", "push", "--config",
                           str(pushed)], cwd=ROOT, capture_output=True, text=True,
                          env=_env(), timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "fleet version 1" in done.stdout

    def applied() -> bool:
        return all(any(e["event"] == "reloaded" for e in h.event_records()) for h in cluster.hosts)

    assert wait_for(applied, 5)
    for host in cluster.hosts:
        reloaded = host.event_records("reloaded")[-1]
        assert ms_of(reloaded["timestamp"]) - before <= 2000 + 1000 * LEASE_S / 4
        assert set(reloaded["removed"]) == {f"dev-{i:05d}" for i in range(DEVICES - 40, DEVICES)}
    time.sleep(LEASE_S)
    status = subprocess.run([sys.executable, "-m", "poller", "cluster", "status", "--config",
                             str(pushed), "--json"], cwd=ROOT, capture_output=True, text=True,
                            env=_env(), timeout=30, check=False)
    assert status.returncode == 0, status.stderr
    reported = json.loads(status.stdout)
    assert sorted(reported["members"]) == [h.name for h in cluster.hosts]
    assert {r["fleet_version"] for r in reported["reports"].values()} == {1}
    assert sum(r["devices"] for r in reported["reports"].values()) == DEVICES - 40


def _push(config: Path, **env: str) -> str:
    done = subprocess.run([sys.executable, "-m", "poller", "cluster", "push", "--config",
                           str(config)], cwd=ROOT, capture_output=True, text=True,
                          env={**_env(), **env}, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_pushed_fleet_a_host_cannot_load_is_not_cached(cluster: Cluster, tmp_path: Path,
                                                         fleet: Fleet, redis: RedisServer) -> None:
    name = cluster.hosts[0].config.read_text().split('name = "')[1].split('"')[0]
    head = ["[cluster]", f'redis = "{redis.url}"', f'name = "{name}"', ""]
    good = tmp_path / "good.toml"
    good.write_text("\n".join([*head, fleet_sections(fleet, INTERVAL_S, DEVICES - 40)]))
    # the pushing host has this variable, the members do not: valid there, not here
    bad = tmp_path / "bad.toml"
    bad.write_text("\n".join([*head, fleet_sections(fleet, INTERVAL_S).replace(
        'community_env = "POLLER_RIG_COMMUNITY"', 'community_env = "POLLER_PUSHER_ONLY"')]))
    caches = [h.directory / "state" / "cluster-fleet.json" for h in cluster.hosts]

    def refused(count: int) -> bool:
        return all(len(h.event_records("reload_failed")) >= count for h in cluster.hosts)

    assert "fleet version 1" in _push(bad, POLLER_PUSHER_ONLY="public")
    assert wait_for(lambda: refused(1), 5)
    for host, cache in zip(cluster.hosts, caches, strict=True):
        error = host.event_records("reload_failed")[0]["error"]
        assert error.startswith("pushed fleet version 1: ") and "POLLER_PUSHER_ONLY" in error
        assert not cache.exists()
        assert not host.event_records("cluster_fleet") and not host.event_records("reloaded")
    assert "fleet version 2" in _push(good)
    assert wait_for(lambda: all(h.event_records("reloaded") for h in cluster.hosts), 5)
    assert "fleet version 3" in _push(bad, POLLER_PUSHER_ONLY="public")
    assert wait_for(lambda: refused(2), 5)
    assert {json.loads(c.read_text())["version"] for c in caches} == {2}
    # a restart starts from the last good fleet the host cached
    restarted = cluster.hosts[1]
    assert restarted.stop() == 0
    restarted.start()
    assert wait_for(lambda: len(restarted.event_records("started")) == 2, 20)
    assert restarted.event_records("started")[-1]["fleet_devices"] == DEVICES - 40


def test_a_host_without_devices_of_its_own_starts_with_the_pushed_fleet(
        cluster: Cluster, tmp_path: Path, fleet: Fleet, redis: RedisServer) -> None:
    name = cluster.hosts[0].config.read_text().split('name = "')[1].split('"')[0]
    pushed = tmp_path / "pushed.toml"
    pushed.write_text("\n".join(["[cluster]", f'redis = "{redis.url}"', f'name = "{name}"', "",
                                  fleet_sections(fleet, INTERVAL_S)]))
    assert "fleet version 1" in _push(pushed)
    assert wait_for(lambda: all(h.event_records("reloaded") for h in cluster.hosts), 5)
    # its file: [cluster] and a credential, no [[devices]]
    own = '[credentials.rig]\nversion = "2c"\ncommunity_env = "POLLER_RIG_COMMUNITY"\n'
    fresh = Host("host3", tmp_path / "host3", redis.url, LEASE_S, own, extra=f'name = "{name}"')
    hosts = [*cluster.hosts, fresh]
    try:
        fresh.start()
        assert wait_for(lambda: fresh.event_records("started"), 20), \
            (fresh.directory / "stderr.txt").read_text()
        start = now_ms() + round(LEASE_S * 1000)  # its join's handover instant has passed
        time.sleep(LEASE_S + 2 * INTERVAL_S)
        end = now_ms() - 1000
        time.sleep(1.0)
    finally:
        assert fresh.stop() == 0
    started = fresh.event_records("started")[0]
    # the pushed fleet was taken before the first share: no reload after the start
    assert started["fleet_devices"] == DEVICES
    assert fresh.event_records("cluster_fleet")[0]["version"] == 1
    assert not fresh.event_records("reloaded")
    assert json.loads((fresh.directory / "state" / "cluster-fleet.json").read_text())[
        "version"] == 1
    records = polls(hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.missed == [], explain(result.missed, records, hosts)
    assert result.duplicated == [], explain(result.duplicated, records, hosts)
    polled = {r["device"] for r in records if r["owner"] == fresh.name
              and start <= at_ms(r["scheduled_at"]) < end}
    assert polled == set(rendezvous.share(NAMES, [h.name for h in hosts], fresh.name))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "POLLER_RIG_COMMUNITY": "public"}

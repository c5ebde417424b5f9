"""Members of a cluster that poll in worker processes, on loopback: a real redis-server, the lean
responder fleet and three `poller run` hosts, two of them with `workers = 2`. Every (device,
slot) is accounted for across the hosts' files, in steady state, through a SIGTERM handover
and back, and through a kill -9 of a host's supervisor (its workers stop on their own)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.cluster import rendezvous
from poller.history.layout import row_path
from tests.cluster_rig import (
    DEVICES,
    INTERVAL_S,
    LEASE_S,
    NAMES,
    NEEDS_REDIS,
    Fleet,
    Host,
    RedisServer,
    account,
    alive,
    assert_seq_contiguous,
    at_ms,
    explain,
    fleet_sections,
    ms_of,
    now_ms,
    polls_with_rows,
    start_fleet,
    wait_for,
)

pytestmark = [NEEDS_REDIS, pytest.mark.timeout(120)]

WORKERS = (2, 2, 1)


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


@pytest.fixture
def hosts(request: pytest.FixtureRequest, tmp_path: Path, redis: RedisServer,
          fleet: Fleet) -> Iterator[list[Host]]:
    text = fleet_sections(fleet, INTERVAL_S)
    extra = f'name = "{request.node.name[:40]}"'
    running = [Host(f"host{i}", tmp_path / f"host{i}", redis.url, LEASE_S, text, extra=extra,
                    workers=workers) for i, workers in enumerate(WORKERS)]
    try:
        for host in running:
            host.start()
        assert wait_for(lambda: all(_ready(h) for h in running), 30)
        time.sleep(2 * LEASE_S)  # the last join's handover instant has passed
        yield running
    finally:
        for host in running:
            host.stop()


def _ready(host: Host) -> bool:
    """Started, and (with workers) every worker of the last start runs."""
    if not host.event_records("started"):
        return False
    return host.workers == 1 or len(_worker_pids(host)) >= host.workers


def _worker_pids(host: Host) -> list[int]:
    """The worker processes of the host's last start."""
    started = host.event_records("started")
    since = ms_of(started[-1]["timestamp"]) if started else 0
    return [e["pid"] for e in host.event_records("worker_started")
            if ms_of(e["timestamp"]) >= since]


def _window(hosts: list[Host], start: int, end: int) -> list[dict[str, Any]]:
    records = polls_with_rows(hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.expected >= DEVICES
    assert result.off_grid == []
    assert result.missed == [], explain(result.missed, records, hosts)
    assert result.duplicated == [], explain(result.duplicated, records, hosts)
    assert_seq_contiguous(records)
    return records


def _first_polls_by_others(records: list[dict[str, Any]], names: set[str], host: str,
                           after_ms: int) -> dict[str, dict[str, Any]]:
    """Each device of `names`: its first poll at or after `after_ms` by a host but `host`."""
    first: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: at_ms(r["scheduled_at"])):
        if record["device"] in names and record["_host"] != host and \
                at_ms(record["scheduled_at"]) >= after_ms:
            first.setdefault(record["device"], record)
    return first


def _assert_rates_carried(first: dict[str, dict[str, Any]]) -> None:
    """The new owner's first poll of each device: real rates, carried by the snapshot."""
    for record in first.values():
        assert record["status"] == "ok", record
        rows = record["_rows"]
        assert rows and any(row["ifHCInOctets_rate"] is not None for row in rows), record
        # a counter the responder starts near 2^64 may go round just then: "counter_reset"
        # says a last value was carried (never "first_sample")
        assert all(row["ifHCInOctets_rate"] is not None or
                   row["ifHCInOctets_rate_reason"] == "counter_reset" for row in rows), record


def test_steady_state_with_workers_polls_every_slot_exactly_once(hosts: list[Host]) -> None:
    start = now_ms()
    time.sleep(2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = _window(hosts, start, end)
    members = [h.name for h in hosts]
    in_window = [r for r in records if start <= at_ms(r["scheduled_at"]) < end]
    for host in hosts:
        mine = [r for r in in_window if r["_host"] == host.name]
        assert {r["owner"] for r in mine} == {host.name}
        assert {r["device"] for r in mine} == set(rendezvous.share(NAMES, members, host.name))
        # each worker polls its part of the share, and only its part
        if host.workers > 1:
            by_worker: dict[int, set[str]] = {}
            for record in mine:
                by_worker.setdefault(record["worker"], set()).add(record["device"])
            assert sorted(by_worker) == list(range(host.workers))
            assert all(not (a & b) for a in by_worker.values() for b in by_worker.values()
                       if a is not b)
        else:
            assert all("worker" not in r for r in mine)


def test_sigterm_of_a_host_with_workers_hands_over_and_back_with_rates(
        hosts: list[Host]) -> None:
    leaving = hosts[0]
    members = [h.name for h in hosts]
    share = set(rendezvous.share(NAMES, members, leaving.name))
    start = now_ms()
    time.sleep(INTERVAL_S)
    stopped_at = now_ms()
    assert leaving.stop() == 0
    time.sleep(INTERVAL_S)
    back_at = now_ms()
    leaving.start()
    assert wait_for(lambda: len(leaving.event_records("started")) == 2 and _ready(leaving), 30)
    time.sleep(LEASE_S + 2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = _window(hosts, start, end)
    left = leaving.event_records("cluster_left")[0]
    assert left["handed_over"] is True and left["snapshots"] > 0 and left["snapshot_bytes"] > 0
    # its devices went to the others, with their counters
    away = _first_polls_by_others(records, share, leaving.name, stopped_at)
    assert set(away) == share
    _assert_rates_carried(away)
    # and came back to its workers the same way
    again = {}
    for record in sorted(records, key=lambda r: at_ms(r["scheduled_at"])):
        if record["_host"] == leaving.name and at_ms(record["scheduled_at"]) >= back_at:
            again.setdefault(record["device"], record)
    assert set(again) == share
    _assert_rates_carried(again)
    assert {r["worker"] for r in again.values()} == {0, 1}


def test_kill_9_of_a_supervisor_its_workers_stop_and_survivors_take_over(
        hosts: list[Host]) -> None:
    victim = hosts[1]
    survivors = [hosts[0], hosts[2]]
    workers = _worker_pids(victim)
    assert len(workers) == 2 and all(alive(pid) for pid in workers)
    start = now_ms()
    time.sleep(INTERVAL_S)
    killed = now_ms()
    assert victim.process is not None
    os.kill(victim.process.pid, signal.SIGKILL)  # the supervisor alone: its workers are orphans
    victim.process.wait(10)
    assert wait_for(lambda: not any(alive(pid) for pid in workers), 2.0, 0.02), \
        "a worker outlived its supervisor"
    time.sleep(LEASE_S + 2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = _window(hosts, start, end)
    views = [ms_of(e["timestamp"]) for h in survivors for e in h.event_records("cluster_view")
             if ms_of(e["timestamp"]) > killed]
    assert views and min(views) - killed <= (LEASE_S + 1.0) * 1000
    lost = set(rendezvous.share(NAMES, [h.name for h in hosts], victim.name))
    taken = _first_polls_by_others(records, lost, victim.name, start)
    assert set(taken) == lost
    _assert_rates_carried(taken)


def test_a_worker_killed_comes_back_with_its_devices_counters(hosts: list[Host]) -> None:
    host = hosts[0]
    members = [h.name for h in hosts]
    share = set(rendezvous.share(NAMES, members, host.name))
    pids = _worker_pids(host)
    started = {e["pid"]: e["worker"] for e in host.event_records("worker_started")}
    start = now_ms()
    time.sleep(INTERVAL_S)
    killed = now_ms()
    os.kill(pids[0], signal.SIGKILL)
    assert wait_for(lambda: host.event_records("worker_exited"), 5)
    assert wait_for(lambda: len(host.event_records("worker_started")) > len(pids), 10)
    back = ms_of(host.event_records("worker_started")[-1]["timestamp"])
    time.sleep(2 * INTERVAL_S)
    end = now_ms() - 1000
    time.sleep(1.0)
    records = polls_with_rows(hosts)
    result = account(records, NAMES, INTERVAL_S, start, end)
    assert result.duplicated == [], explain(result.duplicated, records, hosts)
    # only the dead worker's ticks while it was gone go unpolled
    index = started[pids[0]]
    assert all(killed - 1000 <= tick < back + 1000 and name in share
               for name, tick in result.missed), result.missed
    restarted = {}
    for record in sorted(records, key=lambda r: at_ms(r["scheduled_at"])):
        if record["_host"] == host.name and record.get("worker") == index and \
                ms_of(record["timestamp"]) >= back:
            restarted.setdefault(record["device"], record)
    assert restarted and set(restarted) <= share
    _assert_rates_carried(restarted)
    assert_seq_contiguous(records)  # seq carried on from the snapshots: no step back


def test_members_keep_history_of_their_share_in_workers_and_one_process(
        tmp_path: Path, redis: RedisServer, fleet: Fleet) -> None:
    """[history] on members (one with workers = 2, one in one process): each writes the RRD
    files of its share, with the rates its records carry."""
    pytest.importorskip("rrdtool")
    text = fleet_sections(fleet, INTERVAL_S)
    running = []
    for i, workers in enumerate((2, 1)):
        directory = tmp_path / f"host{i}"
        history = f'\n[history]\ndirectory = "{directory / "rrd"}"\nhold = 0\n'
        running.append(Host(f"host{i}", directory, redis.url, LEASE_S, text + history,
                            extra='name = "history"', workers=workers))
    try:
        for host in running:
            host.start()
        assert wait_for(lambda: all(_ready(h) for h in running), 30)
        # librrd keeps a rate once a later update closes its step: at least two rated polls
        time.sleep(2 * LEASE_S + 4 * INTERVAL_S)
    finally:
        for host in running:
            assert host.stop() == 0
    members = [h.name for h in running]
    for host in running:
        share = rendezvous.share(NAMES, members, host.name)
        missing = [d for d in share
                   if not row_path(host.directory / "rrd", d, "interfaces", "1").exists()]
        assert missing == [], (host.name, missing)
        device = min(share)
        rates = [row["ifHCInOctets_rate"] for record in polls_with_rows([host])
                 if record["device"] == device for row in record["_rows"]
                 if str(row["index"]) == "1" and row["ifHCInOctets_rate"] is not None]
        stored = _stored(row_path(host.directory / "rrd", device, "interfaces", "1"))
        assert stored and rates, (device, stored, rates)
        assert all(min(rates) * 0.999 <= v <= max(rates) * 1.001 for v in stored), \
            (stored, rates)


def _stored(path: Path) -> list[float]:
    """The values librrd has in the file's finest archive (unknown left out)."""
    import rrdtool  # the history extra: skipped above when it is not installed

    (_start, _end, _step), _names, rows = rrdtool.fetch(
        str(path), "AVERAGE", "-s", "end-10min", "-e", "now")
    return [row[0] for row in rows if row[0] is not None]

"""`make bench-cluster`: several hosts sharing one fleet through Redis, measured on loopback.

1. Takeover: three `poller run` hosts with [cluster] over CLUSTER_KILL_DEVICES devices
   (interval CLUSTER_KILL_INTERVAL, lease CLUSTER_LEASE); CLUSTER_KILLS times one host is killed
   with SIGKILL and started again. Takeover time: from the kill to the survivors' new view;
   missed and duplicated (device, slot) pairs over the whole run, across the three files.
2. Cost: CLUSTER_DEVICES (10,000) simulated devices across three hosts for CLUSTER_WINDOW
   seconds after one interval of warm-up: Redis CPU, memory and bytes in and out per device
   per poll; then the same fleet by one host without [cluster] over the same window: CPU per
   poll of the hosts together against the one host.

Figures go to bench-out/cluster/result.json and stdout.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.cluster_rig import (
    ROOT,
    Host,
    RedisServer,
    account,
    fleet_sections,
    ms_of,
    now_ms,
    polls,
    start_fleet,
    wait_for,
)
from tools.bench import host as proc

OUT = ROOT / "bench-out" / "cluster"


def env(name: str, default: str) -> float:
    return float(os.environ.get(name, default))


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    redis = RedisServer(OUT / "redis").start()
    try:
        result["takeover"] = takeover(redis)
        print(json.dumps(result["takeover"], indent=1), flush=True)
        result["cost"] = cost(redis)
        print(json.dumps(result["cost"], indent=1), flush=True)
    finally:
        redis.stop()
    (OUT / "result.json").write_text(json.dumps(result, indent=1))
    return 0


def _hosts(work: Path, redis: RedisServer, text: str, lease_s: float, name: str) -> list[Host]:
    return [Host(f"host{i}", work / f"host{i}", redis.url, lease_s, text,
                 extra=f'name = "{name}"') for i in range(3)]


def takeover(redis: RedisServer) -> dict[str, Any]:
    devices = int(env("CLUSTER_KILL_DEVICES", "300"))
    interval_s, lease_s = env("CLUSTER_KILL_INTERVAL", "3"), env("CLUSTER_LEASE", "1")
    kills = int(env("CLUSTER_KILLS", "20"))
    work = OUT / "takeover"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    fleet = start_fleet(devices)
    hosts = _hosts(work, redis, fleet_sections(fleet, interval_s), lease_s, "takeover")
    times: list[float] = []
    try:
        for h in hosts:
            h.start()
        wait_for(lambda: all(h.event_records("started") for h in hosts), 30)
        time.sleep(2 * lease_s + interval_s)
        start = now_ms()
        for i in range(kills):
            victim = hosts[random.Random(i).randrange(3)]
            killed = now_ms()
            victim.signal(signal.SIGKILL)
            assert victim.process is not None
            victim.process.wait(10)
            time.sleep(lease_s + 1.5)
            seen = [ms_of(e["timestamp"]) for h in hosts if h is not victim
                    for e in h.event_records("cluster_view") if ms_of(e["timestamp"]) > killed]
            times.append((min(seen) - killed) / 1000 if seen else float("inf"))
            victim.start()
            time.sleep(lease_s + 1.5)
        time.sleep(interval_s)
        end = now_ms() - int(interval_s * 1000)
    finally:
        for h in hosts:
            h.stop()
        fleet.stop()
    names = [f"dev-{i:05d}" for i in range(devices)]
    counted = account(polls(hosts), names, interval_s, start, end)
    times.sort()
    return {"devices": devices, "interval_s": interval_s, "lease_s": lease_s, "kills": kills,
            "takeover_s_median": times[len(times) // 2], "takeover_s_max": times[-1],
            "slots": counted.expected, "missed": len(counted.missed),
            "duplicated": len(counted.duplicated)}


def _redis_info(redis: RedisServer) -> dict[str, str]:
    text = redis.command("INFO").decode(errors="replace")
    return dict(re.findall(r"^(\w+):(\S*)\r?$", text, re.MULTILINE))


def cost(redis: RedisServer) -> dict[str, Any]:
    devices = int(env("CLUSTER_DEVICES", "10000"))
    interval_s, window_s = env("CLUSTER_INTERVAL", "30"), env("CLUSTER_WINDOW", "60")
    work = OUT / "cost"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    fleet = start_fleet(devices)
    try:
        text = fleet_sections(fleet, interval_s)
        hosts = _hosts(work, redis, text, 10.0, "cost")
        clustered = _measure(hosts, redis, interval_s, window_s)
        single = Host("single", work / "single", redis.url, 10.0, text)
        single.write_config()
        plain = single.config.read_text().split("[cluster]")[0] + text
        single.config.write_text(plain)
        alone = _measure([single], None, interval_s, window_s, keep_config=True)
    finally:
        fleet.stop()
    per_poll = clustered["cpu_s"] / max(1, clustered["polls"])
    alone_per_poll = alone["cpu_s"] / max(1, alone["polls"])
    return {
        "devices": devices, "interval_s": interval_s, "window_s": window_s,
        "cluster": clustered, "single": alone,
        "host_cpu_ms_per_poll_cluster": round(per_poll * 1000, 4),
        "host_cpu_ms_per_poll_single": round(alone_per_poll * 1000, 4),
        "cluster_cost_ratio": round(per_poll / alone_per_poll, 3) if alone_per_poll else None,
    }


def _measure(hosts: list[Host], redis: RedisServer | None, interval_s: float, window_s: float,
             keep_config: bool = False) -> dict[str, Any]:
    for h in hosts:
        if keep_config:
            h.process = subprocess.Popen(
                [sys.executable, "-m", "poller", "run", "--config", str(h.config)], cwd=ROOT,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT), "POLLER_RIG_COMMUNITY": "public"})
        else:
            h.start()
    try:
        time.sleep(interval_s + 15)
        pids = [h.process.pid for h in hosts if h.process is not None]
        before = {p: proc.cpu_s(p) for p in pids}
        info0 = _redis_info(redis) if redis else {}
        redis_cpu0 = proc.cpu_s(redis.process.pid) if redis and redis.process else 0.0
        start = now_ms()
        time.sleep(window_s)
        end = now_ms()
        cpu = sum(proc.cpu_s(p) - before[p] for p in pids)
        info1 = _redis_info(redis) if redis else {}
        redis_cpu = (proc.cpu_s(redis.process.pid) - redis_cpu0) if redis and redis.process \
            else 0.0
    finally:
        for h in hosts:
            h.stop(60)
    done = [r for r in polls(hosts) if start <= ms_of(r["scheduled_at"]) < end]
    figures: dict[str, Any] = {"polls": len(done), "cpu_s": round(cpu, 2),
                               "statuses": _count(r["status"] for r in done)}
    if redis:
        net = sum(int(info1[k]) - int(info0[k])
                  for k in ("total_net_input_bytes", "total_net_output_bytes"))
        figures.update({
            "redis_cpu_s": round(redis_cpu, 2),
            "redis_cpu_percent": round(100 * redis_cpu / window_s, 2),
            "redis_used_memory_mib": round(int(info1["used_memory"]) / 2**20, 1),
            "redis_bytes_per_device_poll": round(net / max(1, len(done)), 1),
        })
    return figures


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


if __name__ == "__main__":
    sys.exit(main())

"""`make bench-workers`: the same simulated fleet polled with `workers = 1` and `workers = 2`.

The fleet, the work per device poll and the namespace are those of `make bench`
(tools/bench/run.py): one snmpd answering on N loopback ports, GET sysUpTime.0 + sysName.0 and
GETBULK walks of ifTable and ifXTable per poll. Two loads: a light one (every poll on time with
one worker: what do the extra processes cost per varbind?) and a heavy one (more than one core's
worth of polling: what does the second worker buy?). CPU is user + sys of the daemon and all its workers; rounds
alternate 1 and 2 workers and the report gives medians and the 2-vs-1 ratios of the same run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.bench import host
from tools.bench.run import (
    BASE_PORT,
    OUT,
    ROOT,
    Settings,
    _costs,
    _fleet_toml,
    _polls_between,
    _start_snmpd,
    _wait_ready,
)

NETNS = "poller-bench-workers"
WORKERS = (1, 2)


def loads() -> dict[str, Settings]:
    env = os.environ
    seconds = float(env.get("BENCH_SECONDS", "30"))
    interfaces = int(env.get("BENCH_INTERFACES", "48"))
    light = env.get("BENCH_LIGHT", "50/10").split("/")
    heavy = env.get("BENCH_HEAVY", "400/4").split("/")
    only = env.get("BENCH_ONLY", "light,heavy").split(",")
    return {
        name: Settings(devices=int(devices), seconds=seconds, interval_s=float(interval),
                       interfaces=interfaces, peer_polls=0, rounds=1)
        for name, (devices, interval) in (("light", light), ("heavy", heavy)) if name in only
    }


def main() -> int:
    fleets = loads()
    interfaces = next(iter(fleets.values())).interfaces
    if "--inside" not in sys.argv and interfaces > 0 and shutil.which("ip") and os.geteuid() == 0:
        return host.rerun_in_namespace(NETNS, "tools.bench.workers", interfaces)
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    OUT.mkdir(exist_ok=True)
    results: dict[str, dict[int, list[dict[str, float]]]] = {
        name: {w: [] for w in WORKERS} for name in fleets}
    with tempfile.TemporaryDirectory(prefix="poller-bench-workers-") as tmp:
        agent = _start_snmpd(Path(tmp), max(s.devices for s in fleets.values()))
        try:
            _wait_ready(BASE_PORT)
            for n in range(rounds):
                for name, settings in fleets.items():
                    for workers in WORKERS if n % 2 == 0 else WORKERS[::-1]:
                        result = _measure(settings, Path(tmp), workers)
                        print(f"round {n + 1} {name} workers={workers}: {json.dumps(result)}",
                              flush=True)
                        results[name][workers].append(result)
        finally:
            agent.terminate()
            agent.wait(10)
    report = {name: {w: _median(runs) for w, runs in by.items()} for name, by in results.items()}
    (OUT / "workers.json").write_text(json.dumps(
        {"fleets": {k: v.__dict__ for k, v in fleets.items()}, "rounds": rounds,
         "median": report, "runs": results}, indent=2) + "\n")
    _print(fleets, report, rounds)
    return 0


def _tree_cpu_s(pid: int) -> float:
    """CPU of a process and its children (the workers), user + sys."""
    total = host.cpu_s(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += host.cpu_s(int(child))
            except FileNotFoundError:
                pass
    return total


def _measure(settings: Settings, tmp: Path, workers: int) -> dict[str, float]:
    out_dir = OUT / f"records-workers-{workers}"
    shutil.rmtree(out_dir, ignore_errors=True)
    config = tmp / f"workers-{workers}.toml"
    text = _fleet_toml(settings, out_dir, "builtin")
    config.write_text(text.replace("[daemon]\n", f"[daemon]\nworkers = {workers}\n", 1))
    log = OUT / f"poller-workers-{workers}.stderr"
    with open(log, "wb") as stderr:  # the child keeps its own copy of the descriptor
        poller = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(config)],
                                  cwd=ROOT, stderr=stderr)
    try:
        time.sleep(settings.interval_s * 1.5 + 2)  # start-up and the first round stay out
        t0, cpu0, parent0 = time.time(), _tree_cpu_s(poller.pid), host.cpu_s(poller.pid)
        time.sleep(settings.seconds)
        t1, cpu1, parent1 = time.time(), _tree_cpu_s(poller.pid), host.cpu_s(poller.pid)
    finally:
        poller.send_signal(signal.SIGTERM)
        code = poller.wait(60)
    if code != 0:
        raise SystemExit(f"bench: poller exited {code}; see {log}")
    polls = _polls_between(out_dir / "poller.jsonl", t0, t1)
    varbinds = sum(int(str(p["varbinds"])) for p in polls)
    requests = sum(int(str(p["requests"])) for p in polls)
    result = _costs(cpu1 - cpu0, varbinds, requests, len(polls), t1 - t0)
    lags = sorted(float(str(p["queue_delay_s"])) for p in polls) or [0.0]
    result.update(
        lag_p50_ms=round(1000 * statistics.median(lags), 2),
        lag_p99_ms=round(1000 * lags[max(0, math.ceil(len(lags) * 0.99) - 1)], 2),
        not_ok=sum(1 for p in polls if p["status"] != "ok"),
        parent_cpu_share=round((parent1 - parent0) / (cpu1 - cpu0), 3) if cpu1 > cpu0 else 0.0,
        ok_per_s=round(sum(1 for p in polls if p["status"] == "ok") / (t1 - t0), 2),
        scheduled_per_s=round(settings.devices / settings.interval_s, 2),
    )
    return result


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def _print(fleets: dict[str, Settings], report: dict[str, dict[int, dict[str, float]]],
           rounds: int) -> None:
    print(f"\nmedians of {rounds} rounds; CPU = the daemon and its workers, user + sys\n")
    header = ("", "polls/s", "of sched.", "ok/s", "varbinds/s", "CPU us/vb", "lag p50 ms",
              "lag p99 ms", "not ok")
    widths = [30, 9, 11, 8, 12, 11, 12, 12, 8]
    print("".join(str(c).rjust(w) if i else str(c).ljust(w)
                  for i, (c, w) in enumerate(zip(header, widths))))
    for name, by in report.items():
        for workers, r in by.items():
            row = ((f"{name} ({fleets[name].devices} dev / {fleets[name].interval_s:g} s), "
                   f"w={workers}"), r["polls_per_s"], r["scheduled_per_s"], r["ok_per_s"],
                   r["varbinds_per_s"], r["cpu_us_per_vb"], r["lag_p50_ms"], r["lag_p99_ms"],
                   r["not_ok"])
            print("".join(str(c).rjust(w) if i else str(c).ljust(w)
                          for i, (c, w) in enumerate(zip(row, widths))))
        one, two = by[1], by[2]
        print(f"  {name}: workers=2 vs 1: polls/s x{_ratio(two['polls_per_s'], one['polls_per_s'])}"
              f", varbinds/s x{_ratio(two['varbinds_per_s'], one['varbinds_per_s'])}"
              f", CPU per varbind x{_ratio(two['cpu_us_per_vb'], one['cpu_us_per_vb'])}"
              f", lag p99 x{_ratio(two['lag_p99_ms'], one['lag_p99_ms'])}")
        print(f"  {name}: with 2 workers the parent (the writer) used "
              f"{100 * two['parent_cpu_share']:.0f} % of the CPU")
    print(f"report: {OUT / 'workers.json'}")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


if __name__ == "__main__":
    raise SystemExit(main())

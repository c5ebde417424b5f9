"""`make bench`: the daemon polling a simulated fleet, next to other pollers doing the same work.

The fleet is one `snmpd` answering on N loopback ports. With BENCH_INTERFACES > 0 (and `ip netns`
available) everything runs inside a private network namespace with that many extra (bridge)
interfaces, so each device poll reads a realistic interface table; 127.0.0.1 in that namespace is
the only address anything can reach.

The work unit per device poll: GET sysUpTime.0 + sysName.0, GETBULK walks (max-repetitions 25) of
ifTable and ifXTable. poller does it as the `bench` profile (with each engine); the peers do it
against the same agent in the same run: `snmpget` + `snmpbulkwalk` processes, Prometheus
snmp_exporter scraped over HTTP (tools/bench/exporter.py), and bare walks with gufo_snmp, aiosnmp
and pysnmp (tools/bench/peers.py, each in a process of its own). Every one is charged CPU time
(user + sys of its own process) per varbind; BENCH_ROUNDS rounds run everything round-robin, and
the report gives medians and each row's ratio to poller's built-in engine and to the peers
measured in the same round, because this machine's speed varies from run to run.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.bench import exporter, host

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ("builtin", "pysnmp")
PEER = "snmpget + snmpbulkwalk"
EXPORTER = "snmp_exporter"
#: bare walks with other libraries (tools/bench/peers.py), by the row they get in the table
LIBRARY_ROWS = {
    "gufo": "gufo_snmp",
    "aiosnmp": "aiosnmp",
    "pysnmp": "pysnmp, lookupMib=False",
    "pysnmp-mib": "pysnmp, lookupMib=True",
}
REPETITIONS = 25
OUT = ROOT / "bench-out"
NETNS = "poller-bench"
BASE_PORT = 20161
WALKS = ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1")
GETS = ("1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0")


@dataclass(frozen=True)
class Settings:
    devices: int
    seconds: float
    interval_s: float
    interfaces: int
    peer_polls: int
    rounds: int
    #: a directory holding another version of the `poller` package, measured as a before/after
    baseline: Path | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            devices=int(env.get("BENCH_DEVICES", "50")),
            seconds=float(env.get("BENCH_SECONDS", "60")),
            interval_s=float(env.get("BENCH_INTERVAL", "30")),
            interfaces=int(env.get("BENCH_INTERFACES", "48")),
            peer_polls=int(env.get("BENCH_PEER_POLLS", "40")),
            rounds=max(1, int(env.get("BENCH_ROUNDS", "3"))),
            baseline=_baseline(env.get("BENCH_BASELINE", "")),
        )


def _baseline(value: str) -> Path | None:
    if not value:
        return None
    tree = Path(value).resolve()
    if not (tree / "poller" / "__main__.py").is_file():
        raise SystemExit(f"bench: BENCH_BASELINE={value}: no poller package there")
    return tree


def main() -> int:
    settings = Settings.from_env()
    if "--inside" not in sys.argv and settings.interfaces > 0:
        if shutil.which("ip") and os.geteuid() == 0:
            return host.rerun_in_namespace(NETNS, "tools.bench.run", settings.interfaces)
        print("bench: no `ip netns` here (needs root and iproute2): using the host's interfaces")
    OUT.mkdir(exist_ok=True)
    rounds: list[dict[str, dict[str, float]]] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="poller-bench-") as tmp:
        agent = _start_snmpd(Path(tmp), settings.devices)
        try:
            _wait_ready(BASE_PORT)
            for n in range(settings.rounds):
                print(f"bench: round {n + 1} of {settings.rounds}", flush=True)
                rounds.append(_measure_round(settings, Path(tmp), skipped))
            agent_cpu = host.cpu_s(agent.pid)
        finally:
            agent.terminate()
            agent.wait(10)
    summary = _summarize(rounds)
    report = {"settings": settings.__dict__, "rounds": rounds, "median": summary,
              "skipped": skipped, "snmpd_cpu_s": round(agent_cpu, 2)}
    (OUT / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    _print_report(settings, summary, skipped)
    return 0


def _measure_round(
    settings: Settings, tmp: Path, skipped: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Every poller and peer once, on the same agent, one after the other."""
    results: dict[str, dict[str, float]] = {}
    for engine in ENGINES:
        results[f"poller ({engine})"] = _measure_poller(settings, tmp, engine)
    if settings.baseline is not None:
        results[BASELINE] = _measure_poller(settings, tmp, ENGINES[0], settings.baseline)
    results[PEER] = _measure_peer(settings)
    if exporter.available() is None:
        skipped[EXPORTER] = f"{exporter.BINARY} not installed (apt-get install {exporter.BINARY})"
    else:
        config = tmp / "snmp.yml"
        config.write_text(exporter.module_yaml(GETS, WALKS, REPETITIONS))
        raw = exporter.measure(_ports(settings), settings.peer_polls, host.cpu_s, config,
                               OUT / "snmp-exporter.stderr")
        results[EXPORTER] = _costs(raw["cpu_s"], int(raw["varbinds"]), int(raw["requests"]),
                                   int(raw["polls"]), raw["wall_s"])
        results[EXPORTER]["samples"] = raw["samples"]
    for library, label in LIBRARY_ROWS.items():
        if label in skipped:
            continue
        measured = _measure_library(settings, library)
        if isinstance(measured, str):
            skipped[label] = measured
            print(f"bench: skipping {label}: {measured}", flush=True)
        else:
            results[label] = measured
    return results


def _ports(settings: Settings) -> list[int]:
    return [BASE_PORT + i for i in range(settings.devices)]


def _measure_library(settings: Settings, library: str) -> dict[str, float] | str:
    """A bare walk with another Python library, in a process of its own; the reason on failure."""
    ports = ",".join(map(str, _ports(settings)[: max(1, min(settings.devices, 10))]))
    command = [sys.executable, "-m", "tools.bench.peers", library, "--ports", ports,
               "--polls", str(settings.peer_polls)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                              check=False)
    except subprocess.TimeoutExpired:
        return "no result within 900 s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        return lines[-1]
    raw = json.loads(done.stdout)
    return _costs(raw["cpu_s"], raw["varbinds"], raw["requests"], raw["polls"], raw["wall_s"])


# -- the fleet -------------------------------------------------------------------------------


def _start_snmpd(tmp: Path, devices: int) -> subprocess.Popen[bytes]:
    ports = ",".join(f"udp:127.0.0.1:{BASE_PORT + i}" for i in range(devices))
    conf = tmp / "snmpd.conf"
    conf.write_text(
        f"agentaddress {ports}\nrocommunity public 127.0.0.1\n"
        "sysName bench-agent\nsysLocation loopback\n"
    )
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(tmp / "state"))
    snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
    return subprocess.Popen(
        [snmpd, "-f", "-Lf", str(tmp / "snmpd.log"), "-C", "-c", str(conf)], env=env
    )


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["snmpget", "-v2c", "-c", "public", "-t", "0.5", "-r", "0", f"127.0.0.1:{port}", GETS[0]],
            capture_output=True, check=False,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit(f"bench: snmpd did not answer on 127.0.0.1:{port} within 15 s")


# -- the peer: net-snmp, a process per request ---------------------------------------------------


def _measure_peer(settings: Settings) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    varbinds = requests = 0
    for n in range(settings.peer_polls):
        address = f"127.0.0.1:{BASE_PORT + n % settings.devices}"
        commands = [["snmpget", "-v2c", "-c", "public", "-On", address, *GETS]]
        commands += [["snmpbulkwalk", "-v2c", "-c", "public", "-Cr25", "-On", address, oid]
                     for oid in WALKS]
        for command in commands:
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            count = sum(1 for line in out.splitlines() if line.startswith("."))
            varbinds += count
            requests += 1 if command[0] == "snmpget" else count // 25 + 1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return _costs(cpu, varbinds, requests, settings.peer_polls, time.monotonic() - started)


# -- poller --------------------------------------------------------------------------------------


def _measure_poller(
    settings: Settings, tmp: Path, engine: str, tree: Path | None = None
) -> dict[str, float]:
    """The daemon on the fleet with `engine`; with `tree`, the poller package found there."""
    name = engine if tree is None else f"{engine}-baseline"
    out_dir = OUT / f"records-{name}"
    shutil.rmtree(out_dir, ignore_errors=True)
    config = tmp / f"bench-{name}.toml"
    config.write_text(_fleet_toml(settings, out_dir, engine))
    with open(OUT / f"poller-{name}.stderr", "wb") as stderr:  # the child keeps its own copy
        poller = subprocess.Popen(
            [sys.executable, "-m", "poller", "run", "--config", str(config)],
            cwd=tree or ROOT, stderr=stderr,
        )
    try:
        time.sleep(settings.interval_s * 1.5)  # start-up and the first round stay out of the window
        t0, cpu0 = time.time(), host.cpu_s(poller.pid)
        time.sleep(settings.seconds)
        t1, cpu1 = time.time(), host.cpu_s(poller.pid)
        peak_rss_kib = host.status_kib(poller.pid, "VmHWM")
    finally:
        poller.send_signal(signal.SIGTERM)
        code = poller.wait(60)
    if code != 0:
        raise SystemExit(f"bench: poller exited {code}; see {OUT / f'poller-{name}.stderr'}")
    polls = _polls_between(out_dir / "poller.jsonl", t0, t1)
    varbinds = sum(p["varbinds"] for p in polls)
    requests = sum(p["requests"] for p in polls)
    result = _costs(cpu1 - cpu0, varbinds, requests, len(polls), t1 - t0)
    lags = sorted(p["queue_delay_s"] for p in polls) or [0.0]
    result.update(
        lag_p50_ms=round(1000 * statistics.median(lags), 2),
        lag_p99_ms=round(1000 * lags[max(0, math.ceil(len(lags) * 0.99) - 1)], 2),
        timeouts=sum(1 for p in polls if p["status"] == "timeout"),
        not_ok=sum(1 for p in polls if p["status"] != "ok"),
        peak_rss_mib=round(peak_rss_kib / 1024, 1),
    )
    return result


def _fleet_toml(settings: Settings, out_dir: Path, engine: str) -> str:
    lines = [
        "[daemon]", "max_in_flight = 256", f'engine = "{engine}"', "",
        "[output]", f'directory = "{out_dir}"', "max_bytes = 104857600", "backups = 20", "",
        "[defaults]", f"interval = {settings.interval_s}", "timeout = 1", "retries = 1",
        "max_repetitions = 25", 'credential = "public"', 'profiles = ["bench"]', "",
        "[credentials.public]", 'version = "2c"', 'community = "public"', "",
        "[profiles.bench]", f"scalars = {json.dumps(list(GETS))}",
        "[[profiles.bench.tables]]", 'name = "ifTable"',
        f"columns = {json.dumps([f'{WALKS[0]}.1.{c}' for c in range(1, 23)])}",
        "[[profiles.bench.tables]]", 'name = "ifXTable"',
        f"columns = {json.dumps([f'{WALKS[1]}.1.{c}' for c in range(1, 20)])}", "",
    ]
    for i in range(settings.devices):
        lines += ["[[devices]]", f'name = "bench-{i:05d}"', 'host = "127.0.0.1"',
                  f"port = {BASE_PORT + i}", ""]
    return "\n".join(lines)


def _polls_between(path: Path, t0: float, t1: float) -> list[dict[str, Any]]:
    from datetime import datetime

    polls = []
    for file in sorted(path.parent.glob(path.name + "*")):
        with open(file, "rb") as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("event") != "poll" or record.get("status") == "skipped":
                    continue
                at = datetime.fromisoformat(record["timestamp"]).timestamp()
                if t0 <= at < t1:
                    polls.append(record)
    return polls


# -- numbers -------------------------------------------------------------------------------------


def _costs(cpu_s: float, varbinds: int, requests: int, polls: int, wall_s: float) -> dict[str, float]:
    return {
        "polls": polls,
        "varbinds": varbinds,
        "requests": requests,
        "cpu_s": round(cpu_s, 3),
        "wall_s": round(wall_s, 2),
        "polls_per_s": round(polls / wall_s, 2) if wall_s else 0.0,
        "varbinds_per_s": round(varbinds / wall_s, 1) if wall_s else 0.0,
        "cpu_s_per_1000_vb": round(1000 * cpu_s / varbinds, 4) if varbinds else float("nan"),
        "cpu_us_per_vb": round(1e6 * cpu_s / varbinds, 2) if varbinds else float("nan"),
        "varbinds_per_poll": round(varbinds / polls, 1) if polls else 0.0,
        "requests_per_poll": round(requests / polls, 1) if polls else 0.0,
        "cpu_us_per_request": round(1e6 * cpu_s / requests, 1) if requests else float("nan"),
    }


BASE = f"poller ({ENGINES[0]})"
BASELINE = f"poller ({ENGINES[0]}, baseline)"


def _summarize(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each row's medians over the rounds, and its ratios to the rows measured in the same round
    (the median of the per-round ratios: the machine's speed drifts between rounds)."""
    summary: dict[str, dict[str, float]] = {}
    for label in rounds[0]:
        seen = [r[label] for r in rounds if label in r]
        row = {key: round(statistics.median(r[key] for r in seen), 2)
               for key in ("varbinds_per_poll", "requests_per_poll", "cpu_us_per_vb",
                           "cpu_us_per_request", "polls_per_s")}
        for name, other in (("vs_builtin", BASE), ("vs_snmpbulkwalk", PEER),
                            ("vs_snmp_exporter", EXPORTER)):
            ratios = [r[label]["cpu_us_per_vb"] / r[other]["cpu_us_per_vb"]
                      for r in rounds if label in r and other in r]
            row[name] = round(statistics.median(ratios), 3) if ratios else float("nan")
        for key in ("lag_p50_ms", "lag_p99_ms", "timeouts", "not_ok", "peak_rss_mib"):
            if key in seen[0]:
                row[key] = statistics.median(r[key] for r in seen)
        summary[label] = row
    return summary


def _print_report(
    settings: Settings, summary: dict[str, dict[str, float]], skipped: dict[str, str]
) -> None:
    per_poll = summary[BASE]["varbinds_per_poll"]
    print(f"\nfleet: {settings.devices} devices (one snmpd), interval {settings.interval_s:g} s, "
          f"window {settings.seconds:g} s, {per_poll:g} varbinds per device poll (poller), "
          f"{settings.peer_polls} device polls per peer; medians of {settings.rounds} rounds\n")
    header = ("", "vb/poll", "req/poll", "CPU us/vb", "us/req", "vs builtin",
              "vs bulkwalk", "vs exporter")
    widths = [26, 9, 9, 10, 9, 11, 12, 12]
    order = sorted(summary, key=lambda label: summary[label]["cpu_us_per_vb"])
    for row in (header, *(_cells(label, summary[label]) for label in order)):
        print("".join(str(cell).rjust(w) if i else str(cell).ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))))
    for label, reason in skipped.items():
        print(f"{label}: skipped ({reason})")
    print()
    for engine in ENGINES:
        r = summary[f"poller ({engine})"]
        print(f"poller ({engine}): schedule lag p50 {r['lag_p50_ms']} ms, p99 {r['lag_p99_ms']} ms; "
              f"timeouts {r['timeouts']}, polls not ok {r['not_ok']}, peak RSS {r['peak_rss_mib']} MiB")
    print(f"report: {OUT / 'report.json'}")


def _cells(label: str, r: dict[str, float]) -> tuple[object, ...]:
    return (label, r["varbinds_per_poll"], r["requests_per_poll"], r["cpu_us_per_vb"],
            r["cpu_us_per_request"], f"{r['vs_builtin']:.2f}x", f"{r['vs_snmpbulkwalk']:.2f}x",
            f"{r['vs_snmp_exporter']:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())

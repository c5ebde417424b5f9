"""`make bench-scale`: the daemon against a simulated fleet of 100, 1,000 and 10,000 devices.

Each device is a synthetic 20-port switch of tools/fleet (one UDP port each on 127.0.0.1, counters
that advance); poller reads the `system` scalars and ten columns of ifTable/ifXTable from every
device every SCALE_INTERVAL seconds (about 200 values per poll: two requests). For each size this
starts the fleet and `poller run` (the real daemon, uvloop, builtin engine), lets one interval
pass (first samples, start-up), then measures a window: the poller's CPU time per varbind (from
/proc), the polls scheduled in the window by status, schedule lag (queue_delay_s: tick to start)
p50/p99/max, timeouts and how many of them were false (the fleet answered every request of that
device: the answer came late or was lost on our side), seq gaps (lost records), RSS at the start
and the end of the window, and records written.

With root and iproute2 everything runs in a network namespace of its own (`poller-scale`), so the
UDP drop counters of /proc/net/snmp are this run's alone; otherwise on the host's loopback.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tools.bench import host

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-out" / "scale"
NETNS = "poller-scale"
BASE_PORT = 20000
COLUMNS = ("ifName", "ifOperStatus", "ifHighSpeed", "ifHCInOctets", "ifHCOutOctets",
           "ifHCInUcastPkts", "ifHCOutUcastPkts", "ifInDiscards", "ifInErrors", "ifOutErrors")
TIMEOUT_TYPES = ("timeout", "poll_deadline")


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...]
    seconds: float  # the measured window of the largest size
    small_seconds: float  # ... of the others
    interval_s: float
    warmup_s: float
    responders: int
    ports: int
    keep_records: bool

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        interval = float(env.get("SCALE_INTERVAL", "60"))
        return cls(
            sizes=tuple(int(s) for s in env.get("SCALE_SIZES", "100,1000,10000").split(",")),
            # the window of the largest size; the others get SCALE_SMALL_SECONDS
            seconds=float(env.get("SCALE_SECONDS", "600")),
            small_seconds=float(env.get("SCALE_SMALL_SECONDS", "120")),
            interval_s=interval,
            warmup_s=float(env.get("SCALE_WARMUP", str(interval))),
            responders=int(env.get("SCALE_RESPONDERS", "1")),
            ports=int(env.get("SCALE_PORTS", "20")),
            keep_records=env.get("SCALE_KEEP_RECORDS", "") not in ("", "0"),
        )

    def window_s(self, devices: int) -> float:
        return self.seconds if devices == max(self.sizes) else self.small_seconds


def main() -> int:
    settings = Settings.from_env()
    # SIGTERM stops like Ctrl-C: the finally blocks stop the poller and the fleet
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if "--inside" not in sys.argv:
        if shutil.which("ip") and os.geteuid() == 0:
            return host.rerun_in_namespace(NETNS, "tools.bench.scale")
        print("bench-scale: no `ip netns` here (needs root and iproute2): on the host's loopback")
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    for devices in settings.sizes:
        print(f"bench-scale: {devices} devices, window {settings.window_s(devices):g} s "
              f"after {settings.warmup_s:g} s of warm-up ...", flush=True)
        results.append(_measure(settings, devices))
        (OUT / "report.json").write_text(
            json.dumps({"settings": asdict(settings), "sizes": results}, indent=2) + "\n")
    _print_table(settings, results)
    return 0


# -- one size --------------------------------------------------------------------------------


def _measure(settings: Settings, devices: int) -> dict[str, Any]:
    work = OUT / f"run-{devices}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "fleet").mkdir(parents=True)
    fleet = _start_fleet(settings, devices, work / "fleet")
    try:
        config = work / "fleet.toml"
        config.write_text(fleet_toml(settings, devices, work / "records"))
        config.chmod(0o600)  # it holds a community
        udp0 = _udp_counters()
        with open(work / "poller.stderr", "wb") as stderr:  # the child keeps its own copy
            poller = subprocess.Popen(
                [sys.executable, "-m", "poller", "run", "--config", str(config)],
                cwd=ROOT, stderr=stderr,
            )
        try:
            window = _watch(poller.pid, settings.warmup_s, settings.window_s(devices))
        finally:
            poller.send_signal(signal.SIGTERM)
            code = poller.wait(120)
        udp1 = _udp_counters()
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(60)
    if code != 0:
        raise SystemExit(f"bench-scale: poller exited {code}; see {work / 'poller.stderr'}")
    result = _analyse(settings, devices, work, window)
    result["udp_errors"] = {k: udp1[k] - udp0[k] for k in udp1}
    if not settings.keep_records:
        shutil.rmtree(work / "records", ignore_errors=True)
    return result


def _start_fleet(settings: Settings, devices: int, stats_dir: Path) -> subprocess.Popen[str]:
    fleet = subprocess.Popen(
        [sys.executable, "-m", "tools.fleet", "--devices", str(devices), "--base-port",
         str(BASE_PORT), "--workers", str(settings.responders), "--ports", str(settings.ports),
         "--stats-dir", str(stats_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert fleet.stdout is not None
    line = fleet.stdout.readline()
    if not line.startswith("ready"):
        fleet.kill()
        raise SystemExit(f"bench-scale: the fleet did not start ({line.strip()!r})")
    return fleet


def fleet_toml(settings: Settings, devices: int, out_dir: Path) -> str:
    lines = [
        "[daemon]", "stats_interval = 30", "",
        "[output]", f'directory = "{out_dir}"', 'max_bytes = "256MiB"', "backups = 1000", "",
        "[defaults]", f"interval = {settings.interval_s:g}", 'credential = "public"',
        'profiles = ["system", "scale"]', "",
        "[credentials.public]", 'version = "2c"', 'community = "public"', "",
        "[[profiles.scale.tables]]", 'name = "interfaces"', f"columns = {json.dumps(COLUMNS)}",
        'bits = ["ifHCInOctets", "ifHCOutOctets"]', "",
    ]
    for i in range(devices):
        lines += ["[[devices]]", f'name = "fleet-{i:05d}"', 'host = "127.0.0.1"',
                  f"port = {BASE_PORT + i}", ""]
    return "\n".join(lines)


def _watch(pid: int, warmup_s: float, window_s: float) -> dict[str, Any]:
    """CPU and RSS of the poller over the window (after the warm-up), RSS every 30 s."""
    time.sleep(warmup_s)
    t0, cpu0, rss0 = time.time(), host.cpu_s(pid), host.status_kib(pid, "VmRSS")
    series = [rss0]
    end = t0 + window_s
    while time.time() < end:
        time.sleep(min(30.0, max(0.0, end - time.time())))
        series.append(host.status_kib(pid, "VmRSS"))
    t1, cpu1 = time.time(), host.cpu_s(pid)
    return {"t0": t0, "t1": t1, "cpu_s": cpu1 - cpu0, "rss_kib": series,
            "peak_rss_kib": host.status_kib(pid, "VmHWM")}


# -- what happened ---------------------------------------------------------------------------


def _analyse(settings: Settings, devices: int, work: Path, window: dict[str, Any]
             ) -> dict[str, Any]:
    t0, t1 = window["t0"], window["t1"]
    polls, seqs, records, requests_by_device = _read_records(work / "records", t0, t1)
    fleet = _fleet_stats(work / "fleet")
    statuses: dict[str, int] = {}
    for poll in polls:
        key = poll["status"] if poll["status"] != "skipped" else f"skipped_{poll['error_type']}"
        statuses[key] = statuses.get(key, 0) + 1
    ticks = math.floor((t1 - t0) / settings.interval_s + 1e-9)
    per_device: dict[str, int] = {}
    for poll in polls:
        per_device[poll["device"]] = per_device.get(poll["device"], 0) + 1
    missed = sum(max(0, ticks - per_device.get(f"fleet-{i:05d}", 0)) for i in range(devices))
    gaps = sum(max(s) + 1 - len(s) for s in seqs.values()) + sum(
        1 for s in seqs.values() if min(s) != 0)
    timeouts = [p for p in polls if p.get("error_type") in TIMEOUT_TYPES]
    answered = fleet["answered_by_device"]
    false_timeouts = sum(
        1 for p in timeouts
        if answered[int(p["device"].split("-")[1])] >= requests_by_device[p["device"]]
    )
    lags = sorted(p["queue_delay_s"] for p in polls if p.get("queue_delay_s") is not None)
    varbinds = sum(p.get("varbinds") or 0 for p in polls)
    rss = window["rss_kib"]
    wall = t1 - t0
    return {
        "devices": devices, "window_s": round(wall, 1), "interval_s": settings.interval_s,
        "polls_scheduled": len(polls), "polls_expected": devices * ticks,
        "polls_missed": missed, "seq_gaps": gaps, "statuses": dict(sorted(statuses.items())),
        "timeouts": len(timeouts), "false_timeouts": false_timeouts,
        "lag_p50_ms": _ms(_quantile(lags, 0.5)), "lag_p99_ms": _ms(_quantile(lags, 0.99)),
        "lag_max_ms": _ms(lags[-1] if lags else None),
        "varbinds": varbinds, "varbinds_per_poll": round(varbinds / len(polls), 1) if polls else 0,
        "cpu_s": round(window["cpu_s"], 2),
        "cpu_core_pct": round(100 * window["cpu_s"] / wall, 1),
        "cpu_us_per_vb": round(1e6 * window["cpu_s"] / varbinds, 2) if varbinds else None,
        "rss_start_mib": round(rss[0] / 1024, 1), "rss_end_mib": round(rss[-1] / 1024, 1),
        "rss_series_mib": [round(r / 1024, 1) for r in rss],
        "peak_rss_mib": round(window["peak_rss_kib"] / 1024, 1),
        "records_written": records,
        "fleet_received": fleet["received"], "fleet_answered": fleet["answered"],
        "fleet_dropped": fleet["dropped"], "poller_requests": sum(requests_by_device.values()),
        "fleet_cpu_s": fleet["cpu_s"],
        "fleet_cpu_us_per_answer": round(1e6 * fleet["cpu_s"] / fleet["answered"], 1)
        if fleet["answered"] else None,
    }


def _read_records(directory: Path, t0: float, t1: float
                  ) -> tuple[list[dict[str, Any]], dict[str, list[int]], int, dict[str, int]]:
    """Poll summaries scheduled in [t0, t1); every device's seqs (whole run); data lines written;
    requests sent per device (whole run)."""
    polls = []
    seqs: dict[str, list[int]] = {}
    requests: dict[str, int] = {}
    lines = 0
    for file in directory.glob("poller.jsonl*"):
        with open(file, "rb") as handle:
            for line in handle:
                lines += 1
                if b'"event":"poll"' not in line:
                    continue
                poll = json.loads(line)
                name = poll["device"]
                seqs.setdefault(name, []).append(poll["seq"])
                requests[name] = requests.get(name, 0) + (poll.get("requests") or 0)
                if t0 <= _epoch(poll["scheduled_at"]) < t1:
                    polls.append(poll)
    return polls, seqs, lines, requests


def _fleet_stats(directory: Path) -> dict[str, Any]:
    total: dict[str, Any] = {"received": 0, "answered": 0, "dropped": 0, "cpu_s": 0.0,
                             "answered_by_device": []}
    workers = sorted((json.loads(p.read_text()) for p in directory.glob("worker-*.json")),
                     key=lambda w: w["first_device"])
    for worker in workers:
        for key in ("received", "answered", "dropped", "cpu_s"):
            total[key] += worker[key]
        total["answered_by_device"] += worker["answered_by_device"]
    return total


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _quantile(values: list[float], q: float) -> float | None:
    return values[max(0, math.ceil(len(values) * q) - 1)] if values else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def _udp_counters() -> dict[str, int]:
    """Datagrams the kernel dropped (this namespace's counters, when in one)."""
    rows = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
            if line.startswith("Udp:")]
    values = dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))
    return {k: values.get(k, 0) for k in ("InErrors", "RcvbufErrors", "SndbufErrors", "NoPorts")}


def _print_table(settings: Settings, results: list[dict[str, Any]]) -> None:
    print(f"\nscale: synthetic {settings.ports}-port switches, interval {settings.interval_s:g} s, "
          f"{settings.responders} responder process(es); the machine is shared, so CPU figures "
          "vary by +-25 % between runs\n")
    header = ("devices", "window s", "polls", "ok", "timeout", "skipped", "missed", "lag p50 ms",
              "lag p99 ms", "lag max ms", "false t/o", "vb/poll", "CPU us/vb", "CPU % core",
              "RSS MiB start", "RSS MiB end", "records")
    rows = []
    for r in results:
        skipped = sum(v for k, v in r["statuses"].items() if k.startswith("skipped"))
        rows.append((r["devices"], r["window_s"], r["polls_scheduled"], r["statuses"].get("ok", 0),
                     r["timeouts"], skipped, r["polls_missed"], r["lag_p50_ms"], r["lag_p99_ms"],
                     r["lag_max_ms"], r["false_timeouts"], r["varbinds_per_poll"],
                     r["cpu_us_per_vb"], r["cpu_core_pct"], r["rss_start_mib"], r["rss_end_mib"],
                     r["records_written"]))
    widths = [max(len(str(h)), *(len(str(row[i])) for row in rows)) + 2
              for i, h in enumerate(header)]
    for row in (header, *rows):
        print("".join(str(cell).rjust(w) for cell, w in zip(row, widths)))
    print()
    for r in results:
        print(f"{r['devices']} devices: fleet answered {r['fleet_answered']} of "
              f"{r['fleet_received']} requests ({r['fleet_cpu_us_per_answer']} us CPU per answer), "
              f"poller sent {r['poller_requests']}; seq gaps {r['seq_gaps']}; "
              f"UDP errors {r['udp_errors']}; RSS series {r['rss_series_mib']} MiB")
    if results:
        base = results[0]
        for r in results[1:]:
            ratio = r["cpu_us_per_vb"] / base["cpu_us_per_vb"] if base["cpu_us_per_vb"] else 0
            print(f"CPU per varbind at {r['devices']} devices: {ratio:.2f}x that at "
                  f"{base['devices']}")
    print(f"report: {OUT / 'report.json'}")


if __name__ == "__main__":
    raise SystemExit(main())

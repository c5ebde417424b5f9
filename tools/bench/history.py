"""`make bench-history`: what keeping history costs, in one run (a measurement, not a test).

1. writer: CPU per stored row of the history writer (one RRD update of a row's file, its values
   queued from the caller's thread, written by the writer's), directly and through rrdcached on a
   unix socket (the writer's side, and rrdcached's own CPU besides), each update in a call of its
   own; and directly with the daemon's hold (`[history] hold`, 60 s: a file's updates in one call).
2. on vs off: the real daemon (`poller run`) against the lean responder (tools/fleet), the same
   fleet with history off and then on: its CPU per varbind, and the ratio.
3. fleet: HISTORY_DEVICES (1,000) synthetic switches of HISTORY_ROWS (50) ports every
   HISTORY_INTERVAL (60 s) with history on, directly and through rrdcached: schedule lag p99
   from the poll records, and the writer's drops, failures and queue from the `stats` events
   (a HISTORY_WINDOW-long window after HISTORY_WARMUP, in which every file is created).
4. pages: server time of a row page (4 windows, 8 graphs: traffic and errors) over a file with a
   year in it, and of the fleet page over an index of 10,000 devices (the time Server-Timing
   reports). `python -m tools.bench.history --pages` measures these alone (a few seconds).
5. disk: the files' size per device at the default archives.

The files a fleet keeps have their full size at once (docs/history.md): 1,000 x 50 rows of the
default six data sources take 65 GB, so HISTORY_FIELDS (default 6) picks how many of the
interfaces fields the fleet runs keep; the run refuses to start without the disk for it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from poller.config.history import DEFAULT_HOLD_S, INTERFACES_KEPT
from poller.config.load import load_config
from poller.history.layout import create_args, ds_name, row_path
from poller.history.rrd import RrdFiles
from poller.history.store import HistoryStore, plans_for
from poller.history.writer import HistoryWriter
from poller.web.site import Site
from tools.bench import host
from tools.bench.scale import BASE_PORT, Settings, _quantile, _read_records, _start_fleet
from tools.bench.scale import COLUMNS as SCALE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
#: scale's columns and ifOutDiscards: every field the interfaces profile keeps by default
COLUMNS = (*SCALE_COLUMNS, "ifOutDiscards")
OUT = ROOT / "bench-out" / "history"
ENV = os.environ


def _setting(name: str, default: str) -> str:
    return ENV.get(f"HISTORY_{name}", default)


DEVICES = int(_setting("DEVICES", "1000"))
ROWS = int(_setting("ROWS", "50"))
INTERVAL_S = float(_setting("INTERVAL", "60"))
WINDOW_S = float(_setting("WINDOW", "120"))
WARMUP_S = float(_setting("WARMUP", "90"))
FIELDS = INTERFACES_KEPT[:int(_setting("FIELDS", "6"))]
#: the on/off comparison: a smaller fleet at a shorter interval
CPU_DEVICES = int(_setting("CPU_DEVICES", "200"))
CPU_INTERVAL_S, CPU_WINDOW_S = 10.0, float(_setting("CPU_WINDOW", "60"))


def main() -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if "--pages" in sys.argv:
        _print_pages(_page_times(tries=9))
        return 0
    if "--inside" not in sys.argv and shutil.which("ip") and os.geteuid() == 0:
        # a network namespace of its own: its fleet's ports meet no other fleet's
        return host.rerun_in_namespace("poller-history", "tools.bench.history")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    report: dict[str, Any] = {"settings": {
        "devices": DEVICES, "rows": ROWS, "interval_s": INTERVAL_S, "window_s": WINDOW_S,
        "warmup_s": WARMUP_S, "fields": FIELDS}}
    _need_disk(DEVICES * ROWS * _file_bytes(int(INTERVAL_S), len(FIELDS)))
    report["writer"] = {"direct": _writer_cost(None), "held": _writer_cost(None, hold_s=DEFAULT_HOLD_S)}
    with _rrdcached(OUT / "cache-writer") as (address, pid):
        cpu0 = host.cpu_s(pid)
        report["writer"]["rrdcached"] = _writer_cost(address)
        rows = report["writer"]["rrdcached"]["rows"]
        report["writer"]["rrdcached"]["rrdcached_us_per_row"] = round(
            1e6 * (host.cpu_s(pid) - cpu0) / rows, 1)
    _save(report)
    report["on_off"] = {mode: _daemon_run(CPU_DEVICES, CPU_INTERVAL_S, 30.0, CPU_WINDOW_S,
                                          history=mode == "on") for mode in ("off", "on")}
    off, on = report["on_off"]["off"], report["on_off"]["on"]
    report["on_off"]["ratio"] = round(on["cpu_us_per_vb"] / off["cpu_us_per_vb"], 3)
    _save(report)
    report["fleet"] = {"direct": _daemon_run(DEVICES, INTERVAL_S, WARMUP_S, WINDOW_S, True)}
    _save(report)
    with _rrdcached(OUT / "cache-fleet") as (address, _):
        report["fleet"]["rrdcached"] = _daemon_run(DEVICES, INTERVAL_S, WARMUP_S, WINDOW_S,
                                                   True, rrdcached=address)
    _save(report)
    report["pages"] = _page_times()
    report["disk"] = _disk()
    _save(report)
    _print(report)
    return 0


# -- 1. the writer alone -----------------------------------------------------------------------


def _writer_cost(rrdcached: str | None, devices: int = 100, rounds: int = 7,
                 hold_s: int = 0) -> dict[str, Any]:
    """CPU per stored row over `rounds` polls of `devices` x ROWS rows, after a first round
    that creates the files (timed apart); with `hold_s`, held as the daemon holds them (the
    close that writes the last ones is timed too)."""
    work = Path(tempfile.mkdtemp(prefix="writer-", dir=OUT))
    config = load_config(_fleet_file(work, devices, INTERVAL_S, history=True, rrdcached=rrdcached))
    assert config.history is not None
    store = HistoryStore(config.history, plans_for(config.devices, config.history),
                         RrdFiles(config.history.rrdcached), hold_s=hold_s)
    now = [int(time.time()) - rounds * int(INTERVAL_S)]
    writer = HistoryWriter(store, clock=lambda: now[0])
    try:
        started = time.process_time(), time.perf_counter()
        _feed(writer, devices)
        created = time.process_time() - started[0], time.perf_counter() - started[1]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(rounds - 1):
            now[0] += int(INTERVAL_S)
            _feed(writer, devices)
        writer.close()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        writer.close()
    rows = devices * ROWS * (rounds - 1)
    assert store.counts.failed == 0, store.last_error
    shutil.rmtree(work, ignore_errors=True)
    return {"rows": rows, "cpu_us_per_row": round(1e6 * cpu / rows, 1),
            "wall_us_per_row": round(1e6 * wall / rows, 1),
            "create_ms_per_file": round(1000 * created[1] / (devices * ROWS), 2)}


def _feed(writer: HistoryWriter, devices: int) -> None:
    for d in range(devices):
        rows = [{"device": f"fleet-{d:05d}", "table": "interfaces", "index": str(i + 1),
                 **{f: 1e6 * (i + 1) + d for f in FIELDS}} for i in range(ROWS)]
        writer.data_many("row", rows)
    assert writer.wait_idle(600)


# -- 2 and 3. the daemon -----------------------------------------------------------------------


def _fleet_file(work: Path, devices: int, interval_s: float, *, history: bool,
                rrdcached: str | None = None) -> Path:
    lines = ["[daemon]", "stats_interval = 10", f'state_directory = "{work / "state"}"', "",
             "[output]", f'directory = "{work / "records"}"', 'max_bytes = "256MiB"',
             "backups = 1000", ""]
    if history:
        cached = [f'rrdcached = "{rrdcached}"'] if rrdcached else []
        lines += ["[history]", f'directory = "{work / "rrd"}"', *cached,
                  "[history.fields]", f"scale = {json.dumps(list(FIELDS))}", ""]
    lines += ["[defaults]", f"interval = {interval_s:g}", 'credential = "public"',
              'profiles = ["system", "scale"]', "",
              "[credentials.public]", 'version = "2c"', 'community = "public"', "",
              "[[profiles.scale.tables]]", 'name = "interfaces"',
              f"columns = {json.dumps(list(COLUMNS))}", 'bits = ["ifHCInOctets", "ifHCOutOctets"]',
              ""]
    for i in range(devices):
        lines += ["[[devices]]", f'name = "fleet-{i:05d}"', 'host = "127.0.0.1"',
                  f"port = {BASE_PORT + i}", ""]
    work.mkdir(parents=True, exist_ok=True)
    path = work / "fleet.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def _daemon_run(devices: int, interval_s: float, warmup_s: float, window_s: float,
                history: bool, rrdcached: str | None = None) -> dict[str, Any]:
    name = f"run-{devices}-{'on' if history else 'off'}{'-cached' if rrdcached else ''}"
    work = OUT / name
    print(f"bench-history: {name}: {devices} devices x {ROWS} rows every {interval_s:g} s, "
          f"window {window_s:g} s after {warmup_s:g} s", flush=True)
    config = _fleet_file(work, devices, interval_s, history=history, rrdcached=rrdcached)
    fleet = _start_fleet(Settings(sizes=(), seconds=0, small_seconds=0, interval_s=interval_s,
                                  warmup_s=0, responders=1, ports=ROWS, keep_records=False),
                         devices, work / "fleet")
    try:
        with open(work / "poller.stderr", "wb") as stderr:
            poller = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config",
                                       str(config)], cwd=ROOT, stderr=stderr)
        try:
            time.sleep(warmup_s)
            t0, cpu0 = time.time(), host.cpu_s(poller.pid)
            time.sleep(window_s)
            t1, cpu1 = time.time(), host.cpu_s(poller.pid)
        finally:
            poller.send_signal(signal.SIGTERM)
            code = poller.wait(300)
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(60)
    if code != 0:
        raise SystemExit(f"bench-history: poller exited {code}; see {work / 'poller.stderr'}")
    result = _analyse(work, t0, t1, cpu1 - cpu0)
    shutil.rmtree(work / "records", ignore_errors=True)
    shutil.rmtree(work / "rrd", ignore_errors=True)
    return result


def _analyse(work: Path, t0: float, t1: float, cpu_s: float) -> dict[str, Any]:
    polls, _, _, _ = _read_records(work / "records", t0, t1)
    lags = sorted(p["queue_delay_s"] for p in polls if p.get("queue_delay_s") is not None)
    varbinds = sum(p.get("varbinds") or 0 for p in polls)
    stats = [json.loads(line) for line in (work / "records" / "events.jsonl").read_bytes()
             .splitlines() if b'"event":"stats"' in line]
    last = stats[-1] if stats else {}
    statuses: dict[str, int] = {}
    for poll in polls:
        statuses[poll["status"]] = statuses.get(poll["status"], 0) + 1
    return {
        "polls": len(polls), "statuses": statuses, "varbinds": varbinds,
        "cpu_s": round(cpu_s, 2), "cpu_core_pct": round(100 * cpu_s / (t1 - t0), 1),
        "cpu_us_per_vb": round(1e6 * cpu_s / varbinds, 2) if varbinds else None,
        "lag_p99_ms": round(1000 * (_quantile(lags, 0.99) or 0), 1),
        "history_stored": last.get("history_stored"), "history_failed": last.get("history_failed"),
        "history_dropped": last.get("history_dropped"),
        "history_skipped": last.get("history_skipped"),
        "history_queued_max": max((s.get("history_queued") or 0 for s in stats), default=None),
        "records_dropped": last.get("records_dropped"),
    }


@contextmanager
def _rrdcached(directory: Path) -> Iterator[tuple[str, int]]:
    """rrdcached on a unix socket with its usual batching (-w 300 -z 300), stopped by its pid."""
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / "rrdcached.sock"
    (directory / "journal").mkdir()
    process = subprocess.Popen(
        ["rrdcached", "-g", "-l", f"unix:{socket_path}", "-j", str(directory / "journal"),
         "-w", "300", "-z", "300", "-F", "-b", str(directory), "-p", str(directory / "pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench-history: rrdcached did not start")
            time.sleep(0.05)
        yield f"unix:{socket_path}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(600)  # it writes what it holds first


# -- 4 and 5. pages and disk -------------------------------------------------------------------


def _page_times(devices: int = 10_000, tries: int = 5) -> dict[str, Any]:
    """Site.handle's time (what Server-Timing says) for the fleet page over `devices` index
    entries, and for a row page over a file holding a year of values."""
    directory = OUT / "pages"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    now_s = int(time.time())
    index = {f"fleet-{i:05d}": {"at": now_s, "poll": {
        "status": "ok" if i % 50 else "timeout", "scheduled_at": "2025-01-01T00:00:00Z",
        "duration_s": 0.1, "error_type": None if i % 50 else "timeout",
        "error": None if i % 50 else "no answer", "at": now_s}, "tables": {}, "groups": {}}
        for i in range(devices)}
    (directory / "index.json").write_text(json.dumps({"version": 1, "written_at": now_s,
                                                      "devices": index}))
    path = row_path(directory, "fleet-00000", "interfaces", "1")
    _year_file(path, now_s)
    site = Site(directory)
    times: dict[str, list[float]] = {"fleet": [], "fleet_filtered": [], "row": [], "row_json": []}
    requests = {"fleet": ("/", {}), "fleet_filtered": ("/", {"q": "fleet-09", "sort": "age"}),
                "row": ("/row", {"d": "fleet-00000", "t": "interfaces", "i": "1"}),
                "row_json": ("/row.json", {"d": "fleet-00000", "t": "interfaces", "i": "1"})}
    for _ in range(tries):
        for name, (route, query) in requests.items():
            started = time.perf_counter()
            reply = site.handle(route, query)
            times[name].append(time.perf_counter() - started)
            assert reply.status == 200, (name, reply.body[:200])
    return {name: {"median_ms": round(1000 * sorted(t)[len(t) // 2], 1),
                   "max_ms": round(1000 * max(t), 1)} for name, t in times.items()}


def _year_file(path: Path, now_s: int) -> None:
    """A row file with a year of values at 5 minutes, as a year of polls leaves it."""
    step = int(INTERVAL_S)
    start = now_s - 366 * 86_400
    path.parent.mkdir(parents=True, exist_ok=True)
    names = tuple(ds_name(f) for f in INTERFACES_KEPT)
    subprocess.run(["rrdtool", "create", str(path), *create_args(step, names, start)],
                   check=True)
    lines = [f"{t}:{1e6 + (t % 86_400) * 10}:{2e6 + (t % 3600) * 100}:0:0:1:0"
             for t in range(start + step, now_s, step)]
    for chunk in range(0, len(lines), 5000):
        subprocess.run(["rrdtool", "update", str(path), *lines[chunk:chunk + 5000]], check=True)


def _disk() -> dict[str, Any]:
    """Bytes per interface row and per 48-port device, at 60 s, by data sources kept."""
    return {str(fields): {"row_bytes": _file_bytes(60, fields),
                          "device_48_ports_mb": round(48 * _file_bytes(60, fields) / 1e6, 1)}
            for fields in (1, 2, 6)}


def _file_bytes(step_s: int, fields: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.rrd"
        names = tuple(f"d{i}" for i in range(fields))
        subprocess.run(["rrdtool", "create", str(path), *create_args(step_s, names, 1_700_000_000)],
                       check=True)
        return path.stat().st_size


def _need_disk(nbytes: int) -> None:
    free = shutil.disk_usage(OUT).free
    if free < 1.3 * nbytes:
        raise SystemExit(f"bench-history: the fleet runs need {nbytes / 1e9:.1f} GB of disk "
                         f"({free / 1e9:.1f} GB free): set HISTORY_FIELDS, _ROWS or _DEVICES lower")


def _save(report: dict[str, Any]) -> None:
    (OUT / "report.json").write_text(json.dumps(report, indent=2) + "\n")


def _print(r: dict[str, Any]) -> None:
    s = r["settings"]
    print(f"\nhistory: {s['devices']} devices x {s['rows']} rows every {s['interval_s']:g} s, "
          f"{len(s['fields'])} field(s) kept, window {s['window_s']:g} s after "
          f"{s['warmup_s']:g} s; the machine is shared, CPU figures vary by +-25 %")
    w = r["writer"]
    print(f"writer CPU per stored row: direct {w['direct']['cpu_us_per_row']} us, held "
          f"{w['held']['cpu_us_per_row']} us, through rrdcached "
          f"{w['rrdcached']['cpu_us_per_row']} us (+ rrdcached's "
          f"{w['rrdcached']['rrdcached_us_per_row']} us); creating a file "
          f"{w['direct']['create_ms_per_file']} ms")
    o = r["on_off"]
    print(f"daemon CPU per varbind ({CPU_DEVICES} devices x {ROWS} rows every "
          f"{CPU_INTERVAL_S:g} s): off {o['off']['cpu_us_per_vb']} us, on "
          f"{o['on']['cpu_us_per_vb']} us: x{o['ratio']}")
    for mode, f in r["fleet"].items():
        print(f"fleet {mode}: lag p99 {f['lag_p99_ms']} ms, polls {f['statuses']}, stored "
              f"{f['history_stored']}, dropped {f['history_dropped']}, failed "
              f"{f['history_failed']}, queue max {f['history_queued_max']}, CPU "
              f"{f['cpu_core_pct']} % of a core")
    _print_pages(r["pages"])
    print(f"disk at 60 s: {r['disk']}")
    print(f"report: {OUT / 'report.json'}")


def _print_pages(p: dict[str, Any]) -> None:
    print(f"pages: row {p['row']['median_ms']} ms (max {p['row']['max_ms']}), its JSON "
          f"{p['row_json']['median_ms']} ms, fleet of 10,000 {p['fleet']['median_ms']} ms (max "
          f"{p['fleet']['max_ms']}), filtered {p['fleet_filtered']['median_ms']} ms")


if __name__ == "__main__":
    raise SystemExit(main())

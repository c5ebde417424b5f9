"""The soak's summary: polls scheduled vs summarized (each device's grid of ticks while it was in
the daemon's fleet), records lost / torn / duplicated, drops the daemon counted, false `ok`, RSS,
schedule lag, reload results, the first poll after the SIGKILL restart, and a verdict."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path
from typing import Any

from tools.soak.reading import DataReader, Tally, epoch_of, read_events
from tools.soak.scenario import Log, Run
from tools.soak.settings import Plan, Settings

#: slack at the edges of a device's time in the fleet (reload and start instants are ~ms)
EDGE_S = 1.0
#: a scheduled_at this far off its device's grid is not that grid's tick
GRID_TOLERANCE_S = 0.25
Window = tuple[float, float]


def summarize(settings: Settings, plan: Plan, records: Path, log: Log,
              network: dict[str, Any]) -> dict[str, Any]:
    runs = log.runs
    crashed = {i for i, run in enumerate(runs) if run.end_kind in ("sigkill", "died")}
    tally = DataReader(plan, settings.ports, settings.interval_s, [r.start for r in runs],
                       crashed).read(records)
    events, events_torn = read_events(records)
    windows = fleet_windows(settings, runs, events)
    schedule, missing_at = check_schedule(settings, tally, windows)
    dropped = sum(int(e.get("count") or 0) for e in events if e.get("event") == "records_dropped")
    spans = drop_spans(settings, runs, events)
    losses = [("poll", at, 1) for at in missing_at] + tally.losses
    lost = {kind: 0 for kind in ("poll", "rows", "scalars", "without_summary")}
    in_drops = dict(lost)
    for kind, at, count in losses:
        counted = any(lo <= at + settings.poll_deadline_s + 2.0 and at <= hi for lo, hi in spans)
        (in_drops if counted else lost)[kind] += count
    duplicated = tally.rows_duplicated + tally.scalars_duplicated + schedule["polls_duplicated"]
    kill_run = next((i + 1 for i, r in enumerate(runs) if r.end_kind == "sigkill"), None)
    summary: dict[str, Any] = {
        "settings": {**settings.__dict__, "hostile": {n: m for n, (_, m) in plan.hostile.items()},
                     "healthy": plan.healthy},
        "network": network,
        "duration_s": round((log.end or log.start) - log.start, 1),
        "polls": {**schedule, "polls_missing_while_dropping": in_drops["poll"],
                  "statuses": dict(sorted(tally.statuses.items()))},
        "records": {
            "data_lines": tally.lines, "event_lines": len(events) + events_torn,
            "torn": tally.torn + events_torn, "torn_examples": tally.torn_examples,
            "dropped_counted": dropped, "lost": sum(lost.values()), "lost_by_kind": lost,
            "missing_while_dropping": in_drops, "duplicated": duplicated,
            "rows_duplicated": tally.rows_duplicated,
            "scalars_duplicated": tally.scalars_duplicated,
            "without_summary_at_crash": tally.orphans_at_crash,
            "rotated_beyond_backups": (records / "poller.jsonl.1000").exists(),
        },
        "false_ok": tally.false_ok, "false_ok_examples": tally.false_ok_examples,
        "rss": rss(settings, runs),
        "lag": lag(tally, events),
        "reloads": reloads(log, events),
        "peers_gone": log.peers_gone,
        "daemon": {"runs": len(runs), "deaths": deaths(runs), "kill_at": log.kill,
                   "output_fault": log.fault},
        "first_poll_after_kill": tally.first_polls.get(kill_run) if kill_run else None,
        "first_poll_at_start": tally.first_polls.get(0),
    }
    summary["verdict"] = verdict(summary)
    return summary


# -- scheduled vs summarized ---------------------------------------------------------------------


def fleet_windows(settings: Settings, runs: list[Run], events: list[dict[str, Any]]
                  ) -> dict[tuple[int, str], list[Window]]:
    """(run, device) -> the spans in which every tick of the device must have a summary: from
    the daemon's start (or the reload that added it) to its drain (or the reload that removed
    it); before a SIGKILL or a death, only ticks whose poll deadline had passed."""
    out: dict[tuple[int, str], list[Window]] = {}
    for index, run in enumerate(runs):
        begin = _event_time(events, "started", run.start, run.end, pid=run.pid) or run.start
        end = run.end or run.start
        if run.end_kind == "sigterm":
            end = (_event_time(events, "drain", begin, end + 5) or end) - EDGE_S
        else:
            end -= settings.poll_deadline_s + 2.0
        since = {name: begin + EDGE_S for name in run.devices}
        for event in events:
            at = _at(event)
            if event.get("event") != "reloaded" or not begin <= at <= (run.end or at):
                continue
            for name in event.get("removed") or ():
                if name in since:
                    out.setdefault((index, name), []).append((since.pop(name), at - EDGE_S))
            for name in event.get("added") or ():
                since.setdefault(name, at + EDGE_S)
        for name, start in since.items():
            out.setdefault((index, name), []).append((start, end))
    return out


def check_schedule(settings: Settings, tally: Tally, windows: dict[tuple[int, str], list[Window]]
                   ) -> tuple[dict[str, Any], list[float]]:
    """The counts, and when each missing tick was due (a device never heard from in a span:
    the middle of the span, once per tick it owed)."""
    interval = settings.interval_s
    missing_at: list[float] = []
    expected = missing = duplicated = off_grid = seq_gaps = unexpected = 0
    for key, spans in windows.items():
        seen = sorted(tally.polls.get(key, []), key=lambda p: p[1])
        if not seen:
            for lo, hi in spans:
                count = max(0, math.floor((hi - lo) / interval))
                expected, missing = expected + count, missing + count
                missing_at += [lo + (i + 0.5) * interval for i in range(count)]
            continue
        t0 = seen[0][1]
        ticks: dict[int, int] = {}
        for _, t in seen:
            k = round((t - t0) / interval)
            if abs(t - t0 - k * interval) > GRID_TOLERANCE_S:
                off_grid += 1
            ticks[k] = ticks.get(k, 0) + 1
        due = {k for lo, hi in spans
               for k in range(math.ceil((lo - t0) / interval), math.floor((hi - t0) / interval) + 1)}
        expected += len(due)
        missing += len(due - ticks.keys())
        missing_at += [t0 + k * interval for k in due - ticks.keys()]
        gaps, doubled = _seq_faults([seq for seq, _ in seen])
        seq_gaps += gaps
        duplicated += max(doubled, sum(n - 1 for n in ticks.values()))
    for key, seen in tally.polls.items():
        if key not in windows:  # a device the daemon should not have polled then
            unexpected += len(seen)
    return {"scheduled": expected, "summarized": sum(len(v) for v in tally.polls.values()),
            "polls_missing": missing, "polls_duplicated": duplicated, "off_grid": off_grid,
            "seq_gaps": seq_gaps, "unexpected": unexpected}, missing_at


def drop_spans(settings: Settings, runs: list[Run], events: list[dict[str, Any]]
               ) -> list[Window]:
    """When the daemon dropped records, as closely as its events tell: between two `stats`
    events whose `records_dropped` total grew, and up to an interval before each
    `records_dropped` event (however often the daemon reports them)."""
    spans: list[Window] = []
    for run in runs:
        last_at, last_total = run.start, 0
        for event in events:
            at = _at(event)
            if event.get("event") != "stats" or not run.start <= at <= (run.end or at):
                continue
            total = int(event.get("records_dropped") or 0)
            if total > last_total:
                spans.append((last_at, at))
            last_at, last_total = at, total
    spans += [(_at(e) - settings.interval_s, _at(e) + 1.0) for e in events
              if e.get("event") == "records_dropped"]
    return spans


def _seq_faults(seqs: list[int]) -> tuple[int, int]:
    """(seqs skipped, seqs repeated) in one device's summaries of one run, in tick order; a
    device removed and added again starts at 0 again (a doubled tick is counted by its time)."""
    gaps = doubled = 0
    for previous, seq in pairwise(seqs):
        if seq in (previous + 1, 0):
            continue
        if seq > previous + 1:
            gaps += seq - previous - 1
        else:
            doubled += 1
    return gaps, doubled


# -- the rest --------------------------------------------------------------------------------------


def rss(settings: Settings, runs: list[Run]) -> dict[str, Any]:
    """Per run: RSS one interval after it started (the fleet polled once) and at its end."""
    per_run = []
    for run in runs:
        settled = [kib for at, kib in run.rss_kib if at >= (run.started or run.start) + settings.interval_s]
        samples = settled or [kib for _, kib in run.rss_kib]
        if samples:
            per_run.append({"pid": run.pid, "start_mib": round(samples[0] / 1024, 1),
                            "end_mib": round(samples[-1] / 1024, 1),
                            "max_mib": round(max(samples) / 1024, 1), "samples": len(samples)})
    return {"start_mib": per_run[0]["start_mib"] if per_run else None,
            "end_mib": per_run[-1]["end_mib"] if per_run else None, "runs": per_run}


def lag(tally: Tally, events: list[dict[str, Any]]) -> dict[str, Any]:
    lags = sorted(tally.lags_s)
    stats = [e["lag_p99_s"] for e in events
             if e.get("event") == "stats" and e.get("lag_p99_s") is not None]
    return {"p50_ms": _ms(_quantile(lags, 0.5)), "p99_ms": _ms(_quantile(lags, 0.99)),
            "max_ms": _ms(lags[-1] if lags else None),
            "stats_p99_worst_ms": _ms(max(stats) if stats else None)}


def reloads(log: Log, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Each SIGHUP matched with the reload event that followed it (before the next SIGHUP)."""
    answers = [(_at(e), e["event"]) for e in events
               if e.get("event") in ("reloaded", "reload_failed")]
    out: dict[str, Any] = {"sighups": len(log.hups), "good_sent": 0, "broken_sent": {},
                           "reloaded": sum(a == "reloaded" for _, a in answers),
                           "reload_failed": sum(a == "reload_failed" for _, a in answers),
                           "good_rejected": 0, "broken_accepted": [], "no_answer": []}
    for i, hup in enumerate(log.hups):
        until = log.hups[i + 1]["t"] if i + 1 < len(log.hups) else math.inf
        answer = next((a for at, a in answers if hup["t"] - 0.5 <= at < until), None)
        kind = hup["kind"]
        if kind == "good":
            out["good_sent"] += 1
            out["good_rejected"] += answer == "reload_failed"
        else:
            out["broken_sent"][kind] = out["broken_sent"].get(kind, 0) + 1
            if answer == "reloaded":
                out["broken_accepted"].append(kind)
        if answer is None:
            out["no_answer"].append(kind)
    return out


def deaths(runs: list[Run]) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        if run.end_kind == "died":
            lines = Path(run.stderr).read_text(errors="replace").strip().splitlines()
            out.append({"pid": run.pid, "exit_code": run.exit_code,
                        "last_stderr_line": lines[-1][:200] if lines else ""})
    return out


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    records, reload = summary["records"], summary["reloads"]
    checks = [
        (records["lost"], "records lost (not counted as dropped)"),
        (records["torn"], "torn lines"),
        (records["duplicated"], "records duplicated"),
        (summary["false_ok"], "false ok polls"),
        (len(summary["daemon"]["deaths"]), "daemon deaths"),
        (len(reload["broken_accepted"]), "broken fleet files accepted"),
        (int(records["rotated_beyond_backups"]), "rotation outran the backups (soak set-up)"),
        (len(summary["peers_gone"]), "simulated peers exited early (soak set-up)"),
    ]
    reasons = [f"{count} {what}" for count, what in checks if count]
    return {"passed": not reasons, "reason": "; ".join(reasons) or "ok"}


def _event_time(events: list[dict[str, Any]], name: str, after: float, before: float | None,
                **match: Any) -> float | None:
    for event in events:
        if event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
            at = _at(event)
            if at >= after - 5 and (before is None or at <= before):
                return at
    return None


def _at(event: dict[str, Any]) -> float:
    return epoch_of(str(event.get("timestamp")))


def _quantile(values: list[float], q: float) -> float | None:
    return values[max(0, math.ceil(len(values) * q) - 1)] if values else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)

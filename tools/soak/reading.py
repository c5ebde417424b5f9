"""Reading a soak's records: every data line once, in the order written (the oldest rotated file
first), checked as it goes. A poll's rows and scalars precede its `poll` summary (one writer,
FIFO), so per device the records since its last summary belong to the next one: that is how
rows lost, rows doubled and records without a summary are found without a `seq` on each row."""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from tools.soak.settings import Plan

#: skipped polls are told apart by why they were skipped
SKIPPED = "skipped"


def iso_ms(epoch: float) -> str:
    """An instant as the records write it (RFC 3339 UTC, milliseconds), comparable as text."""
    millis = min(int((epoch % 1) * 1000), 999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{millis:03d}Z"


def epoch_of(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def lines_in_order(records: Path, name: str) -> Iterator[bytes]:
    """Every line of `name` and its rotated files, oldest first (name.N ... name.1, name)."""
    pattern = re.compile(re.escape(name) + r"\.(\d+)$")
    rotated = sorted(((int(m.group(1)), p) for p in records.iterdir()
                      if (m := pattern.match(p.name))), reverse=True)
    for path in [p for _, p in rotated] + [records / name]:
        if path.exists():
            with open(path, "rb") as handle:
                yield from handle


@dataclass
class Pending:
    """One device's records since its last summary."""

    run: int
    first_at: str = ""  # the timestamp of the first record
    rows: dict[tuple[Any, Any], int] = field(default_factory=dict)
    scalars: int = 0
    rates: int = 0
    rates_first_sample: int = 0

    @property
    def records(self) -> int:
        return sum(self.rows.values()) + self.scalars


@dataclass
class Tally:
    """What the data records say."""

    lines: int = 0
    torn: int = 0
    torn_examples: list[str] = field(default_factory=list)
    rows_duplicated: int = 0
    scalars_duplicated: int = 0
    orphans_at_crash: int = 0  # records whose summary was lost with a killed or dead daemon
    #: (kind, when, count): rows or scalars missing before a summary, records whose summary
    #: never came (the daemon still running); kept with their time to tell counted drops apart
    losses: list[tuple[str, float, int]] = field(default_factory=list)
    false_ok: int = 0
    false_ok_examples: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    lags_s: list[float] = field(default_factory=list)
    records_per_poll: list[int] = field(default_factory=lambda: [0, 0])  # records, polls
    #: (run, device) -> [(seq, scheduled_at epoch)]
    polls: dict[tuple[int, str], list[tuple[int, float]]] = field(default_factory=dict)
    #: run -> the first poll of each healthy device in it: devices, rates, null first_sample
    first_polls: dict[int, dict[str, int]] = field(default_factory=dict)


class DataReader:
    def __init__(self, plan: Plan, ports: int, interval_s: float, run_starts: list[float],
                 crashed_runs: set[int]) -> None:
        self.plan, self.ports, self.interval_s = plan, ports, interval_s
        self.run_epochs = run_starts
        self.run_starts = [iso_ms(t) for t in run_starts]
        self.crashed = crashed_runs
        self.tally = Tally()
        self.pending: dict[str, Pending] = {}
        self.first_seen: set[tuple[int, str]] = set()

    def read(self, records: Path) -> Tally:
        for line in lines_in_order(records, "poller.jsonl"):
            self.tally.lines += 1
            record = self._parse(line)
            if record is not None:
                self._take(record)
        for pending in self.pending.values():
            self._orphans(pending)
        return self.tally

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        try:
            record = orjson.loads(line) if line.endswith(b"\n") else None
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            self.tally.torn += 1
            if len(self.tally.torn_examples) < 3:
                self.tally.torn_examples.append(line[:160].decode("utf-8", "replace"))
            return None
        return record

    def _run_of(self, stamp: str) -> int:
        return max(0, bisect.bisect_right(self.run_starts, stamp) - 1)

    def _take(self, record: dict[str, Any]) -> None:
        device = record.get("device")
        if not isinstance(device, str):
            return
        run = self._run_of(str(record.get("timestamp", "")))
        pending = self.pending.get(device)
        if pending is None or pending.run != run:
            if pending is not None:
                self._orphans(pending)
            pending = self.pending[device] = Pending(run)
        if not pending.first_at:
            pending.first_at = str(record.get("timestamp", ""))
        event = record.get("event")
        if event == "row":
            key = (record.get("table"), record.get("index"))
            pending.rows[key] = pending.rows.get(key, 0) + 1
            self._rates(record, pending)
        elif event == "scalars":
            pending.scalars += 1
        elif event == "poll":
            self._poll(record, device, pending)
            self.pending[device] = Pending(run)

    @staticmethod
    def _rates(record: dict[str, Any], pending: Pending) -> None:
        for key, value in record.items():
            if key.endswith(("_bps", "_rate")):
                pending.rates += 1
                if value is None and record.get(f"{key}_reason") == "first_sample":
                    pending.rates_first_sample += 1

    def _orphans(self, pending: Pending) -> None:
        if pending.run in self.crashed:
            self.tally.orphans_at_crash += pending.records
        elif pending.records:
            self.tally.losses.append(("without_summary", epoch_of(pending.first_at),
                                      pending.records))

    def _poll(self, record: dict[str, Any], device: str, pending: Pending) -> None:
        t = self.tally
        status = str(record.get("status"))
        rows = int(record.get("rows") or 0)
        distinct = len(pending.rows)
        scheduled = epoch_of(str(record.get("scheduled_at")))
        if rows > distinct:
            t.losses.append(("rows", scheduled, rows - distinct))
        t.rows_duplicated += max(0, distinct - rows) + sum(n - 1 for n in pending.rows.values())
        failed = {part.get("part") for part in record.get("failed_parts") or ()}
        # one scalars record when the summary says they were read; a poll cut off (timeout,
        # cancelled at a drain) may or may not have written it, but never two
        scalars = 1 if status in ("ok", "partial") and "scalars" not in failed else 0
        if scalars > pending.scalars:
            t.losses.append(("scalars", scheduled, scalars - pending.scalars))
        t.scalars_duplicated += max(0, pending.scalars - 1)
        key = status if status != SKIPPED else f"skipped_{record.get('error_type')}"
        t.statuses[key] = t.statuses.get(key, 0) + 1
        if status != SKIPPED and record.get("queue_delay_s") is not None:
            t.lags_s.append(float(record["queue_delay_s"]))
        t.records_per_poll[0] += pending.records + 1
        t.records_per_poll[1] += 1
        if status == "ok":
            self._check_ok(record, device, rows)
        t.polls.setdefault((pending.run, device), []).append((int(record.get("seq", -1)), scheduled))
        if device not in self.plan.hostile and (pending.run, device) not in self.first_seen:
            self.first_seen.add((pending.run, device))
            if scheduled > self.run_epochs[pending.run] + self.interval_s + 1.0:
                return  # its first tick's records were lost: this is not its first poll
            first = t.first_polls.setdefault(
                pending.run, {"devices": 0, "ok": 0, "rates": 0, "rates_null_first_sample": 0})
            first["devices"] += 1
            first["ok"] += status == "ok"
            first["rates"] += pending.rates
            first["rates_null_first_sample"] += pending.rates_first_sample

    def _check_ok(self, record: dict[str, Any], device: str, rows: int) -> None:
        expected, can = self.plan.expected_rows(device, self.ports)
        if can and rows >= expected:
            return
        self.tally.false_ok += 1
        if len(self.tally.false_ok_examples) < 5:
            self.tally.false_ok_examples.append(
                {"device": device, "seq": record.get("seq"), "rows": rows,
                 "expected_rows": expected, "scheduled_at": record.get("scheduled_at")})


def read_events(records: Path) -> tuple[list[dict[str, Any]], int]:
    """Every event, in order, and how many event lines were torn."""
    events, torn = [], 0
    for line in lines_in_order(records, "events.jsonl"):
        try:
            event = orjson.loads(line) if line.endswith(b"\n") else None
        except orjson.JSONDecodeError:
            event = None
        if isinstance(event, dict):
            events.append(event)
        else:
            torn += 1
    return events, torn

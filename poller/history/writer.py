"""The daemon's history writer: records handed over on the event loop, written to RRD files by a
thread of its own.

The caller only stamps the records with the time and appends a reference to a bounded queue; it
never waits. When the queue is full the records are dropped and counted (`dropped`), as the
record files count theirs (`records_dropped`); `take_drops()` says how many since it was last
asked, for the daemon's `stats` event. The thread takes everything queued at once as one batch
and writes what falls due: one librrd call per file, through rrdcached when configured. A store
with a hold (the daemon's: `[history] hold`) keeps each file's updates up to that long, so one call writes
several; the thread wakes when the first held file falls due, and close() writes all it holds.

Records are kept by reference until written: the caller must not change them after handing them
over (the scheduler never does: a poll's records are new dicts).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from poller.history.index import FleetIndex
from poller.history.store import DevicePlan, HistoryStore

#: the events history keeps
EVENTS = frozenset({"row", "scalars", "poll"})
#: a write error is printed at most this often (seconds); every one is counted
ERROR_EVERY_S = 60.0

_Item = tuple[str, list[dict[str, Any]], int]


class HistoryWriter:
    def __init__(self, store: HistoryStore, *, queue_max: int = 100_000,
                 clock: Callable[[], float] = time.time,
                 report: Callable[[str], None] | None = None,
                 index: FleetIndex | None = None) -> None:
        self.store = store
        #: the fleet index the web pages read, kept by this thread and saved every ~10 s
        self.index = index
        self._index_error: str | None = None
        self.queue_max = queue_max
        self.dropped = 0
        self._unreported_drops = 0
        self._clock = clock
        self._report = report or _stderr
        self._queue: deque[_Item] = deque()
        self._queued = 0  # records in the queue
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._closed = False
        self._errors_seen = 0
        self._error_reported_at = -ERROR_EVERY_S
        self._thread = threading.Thread(target=self._loop, name="history", daemon=True)
        self._thread.start()

    # -- producers (the event loop) ----------------------------------------------------------------

    def data(self, event: str, **fields: Any) -> None:
        if event in EVENTS:
            self.data_many(event, [fields])

    def data_many(self, event: str, records: list[dict[str, Any]]) -> None:
        """Queue `records` of `event` (the Sink call the scheduler makes); never blocks."""
        if event not in EVENTS or not records:
            return
        at_s = int(self._clock())
        with self._lock:
            if self._closed or self._queued >= self.queue_max:
                self.dropped += len(records)
                self._unreported_drops += len(records)
                return
            self._queue.append((event, records, at_s))
            self._queued += len(records)
            if len(self._queue) == 1:
                self._wake.notify()

    def event(self, event: str, **fields: Any) -> None:
        """Events are not history (a Sink has them)."""

    def take_drops(self) -> int:
        """Records dropped since the last call (for a `stats` or `history_dropped` event)."""
        with self._lock:
            drops, self._unreported_drops = self._unreported_drops, 0
        return drops

    def stats(self) -> dict[str, int]:
        """The writer's totals, as fields of the daemon's `stats` event."""
        counts = self.store.counts
        return {"history_stored": counts.stored, "history_skipped": counts.skipped,
                "history_failed": counts.failed, "history_dropped": self.dropped,
                "history_queued": self._queued + self.store.held}

    def replace_plans(self, plans: Mapping[str, DevicePlan]) -> None:
        """A reload: the new fleet's plans, from the next batch on."""
        with self._lock:
            self._queue.append(("plans", [dict(plans)], 0))
            self._wake.notify()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until everything queued so far is taken by the store: written, or held for its
        file when the store holds updates (close() writes those)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._queue and not self._busy, timeout_s)

    def close(self) -> None:
        """Write what is queued, then stop the thread. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify()
        self._thread.join()

    # -- the writer thread --------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._wake.wait_for(lambda: self._queue or self._closed, self._until_due())
                batch = list(self._queue)
                self._queue.clear()
                self._queued = 0
                self._busy = bool(batch)
                stop = self._closed and not batch
            if stop:
                self._flush_all()
                self._save_index(force=True)
                return
            self._write(batch)
            with self._lock:
                self._busy = False
                self._idle.notify_all()

    def _until_due(self) -> float | None:
        """Seconds until the store's first held file falls due; None: nothing is held, or
        nothing is held back (a hold of 0 writes everything at each batch)."""
        due_s = self.store.next_due() if self.store.hold_s else None
        return None if due_s is None else max(0.0, due_s - self._clock())

    def _write(self, batch: list[_Item]) -> None:
        store = self.store
        try:
            for event, records, at_s in batch:
                if event == "plans":
                    store.replace_plans(records[0])
                    if self.index is not None:
                        self.index.keep(store.plans)
                    continue
                add = store.add
                for record in records:
                    add(event, record, at_s)
                if self.index is not None:
                    for record in records:
                        self.index.add(event, record, at_s)
            store.flush_due(self._clock() if store.hold_s else 0.0)
        except Exception as exc:  # noqa: BLE001 - a dead writer would stop history for good
            store.counts.failed += sum(len(r) for e, r, _ in batch if e != "plans")
            store.last_error = f"history writer error: {exc!r}"
        self._report_errors()
        self._save_index(force=False)

    def _flush_all(self) -> None:
        """At close: everything held is written (a graceful stop loses nothing)."""
        try:
            self.store.flush()
        except Exception as exc:  # noqa: BLE001 - the index is still to be saved
            self.store.last_error = f"history writer error: {exc!r}"
        self._report_errors()

    def _save_index(self, *, force: bool) -> None:
        index = self.index
        if index is None or not (force or index.due()) or index.save():
            return
        if index.last_error != self._index_error:  # a lasting failure is said once
            self._index_error = index.last_error
            self._report(f"poller: history: {index.last_error}")

    def _report_errors(self) -> None:
        failed = self.store.counts.failed
        if failed == self._errors_seen or self.store.last_error is None:
            return
        now = time.monotonic()
        if now - self._error_reported_at >= ERROR_EVERY_S:
            self._error_reported_at = now
            self._report(f"poller: history: {self.store.last_error} "
                         f"({failed} updates failed so far)")
        self._errors_seen = failed


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)

"""The writer thread: takes the queued lines a batch at a time and writes each stream's share in
one write() to its rotating file, counting what a file could not take.

The event loop only renders a line and puts it on the bounded queue; the writer batches lines
into few writes, so the loop never waits on a disk.
"""

from __future__ import annotations

import sys
import threading

from poller.output.lines import EVENTS, line_of
from poller.output.rotating import RotatingFile
from poller.schema import (
    DROP_AFTER_CLOSE,
    DROP_QUEUE_FULL,
    DROP_WRITE_FAILED,
    DROP_WRITER_ERROR,
    RECORDS_DROPPED,
)

#: the `reason` of a `records_dropped` event, by its `cause`
DROP_REASONS = {
    DROP_QUEUE_FULL: "the writer could not keep up (queue full)",
    DROP_WRITE_FAILED: "the file could not be written (see the poller's stderr)",
    DROP_WRITER_ERROR: "the writer failed on a batch (see the poller's stderr)",
    DROP_AFTER_CLOSE: "recorded after the files were closed",
}
#: lines handed to one write() call at most
BATCH_LINES = 4096

#: drops the producers see, reported by them when the queue takes a record again; and those the
#: writer sees, reported by the writer once every file takes records again: one report per
#: spell of failures, not one per batch
PRODUCER_CAUSES = (DROP_QUEUE_FULL, DROP_AFTER_CLOSE)
WRITER_CAUSES = (DROP_WRITE_FAILED, DROP_WRITER_ERROR)
ALL_CAUSES = PRODUCER_CAUSES + WRITER_CAUSES

#: an item of the queue: (stream, line), or STOP, which ends the writer
Item = tuple[int, bytes] | None
STOP = None


class Drops:
    """Records dropped, in total and by cause since the last report. Any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self._unreported: dict[str, int] = {}

    def count(self, count: int, cause: str) -> None:
        with self._lock:
            self.total += count
            self._unreported[cause] = self._unreported.get(cause, 0) + count

    def pending(self, causes: tuple[str, ...]) -> bool:
        """Whether some drops of `causes` are not reported yet."""
        return any(cause in self._unreported for cause in causes)

    def report_lines(self, causes: tuple[str, ...] = ALL_CAUSES) -> list[bytes]:
        """The `records_dropped` lines of the drops of `causes` not reported yet, which count
        as reported now."""
        with self._lock:
            taken = {c: self._unreported.pop(c) for c in causes if c in self._unreported}
            total = self.total
        return [line_of(RECORDS_DROPPED, {"count": count, "total": total, "cause": cause,
                                          "reason": DROP_REASONS[cause]})
                for cause, count in taken.items()]


class LineQueue:
    """A bounded FIFO that the writer empties a batch at a time under one lock acquisition,
    rather than item by item as queue.Queue does (which made the producers wait on that lock)."""

    def __init__(self, maxsize: int) -> None:
        self._items: list[Item] = []
        self._maxsize = maxsize
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)

    def put(self, item: Item, timeout_s: float | None) -> bool:
        """Append `item`, waiting up to `timeout_s` (None: for ever) for room; False if full."""
        with self._not_full:
            if len(self._items) >= self._maxsize and not self._not_full.wait_for(
                lambda: len(self._items) < self._maxsize, timeout_s
            ):
                return False
            self._items.append(item)
            if len(self._items) == 1:
                self._not_empty.notify()
        return True

    def put_many(self, items: list[tuple[int, bytes]], timeout_s: float) -> bool:
        """Append all of `items` once there is room for one (a batch may pass `maxsize` by its
        own length, never more); False if the queue stayed full for `timeout_s`."""
        with self._not_full:
            if len(self._items) >= self._maxsize and not self._not_full.wait_for(
                lambda: len(self._items) < self._maxsize, timeout_s
            ):
                return False
            was_empty = not self._items
            self._items.extend(items)
            if was_empty:
                self._not_empty.notify()
        return True

    def take(self, limit: int, *, wait: bool = True) -> list[Item]:
        """Remove and return up to `limit` items, oldest first; waits for one unless told not to."""
        with self._not_empty:
            if wait:
                self._not_empty.wait_for(lambda: self._items)
            batch = self._items[:limit]
            del self._items[:limit]
            self._not_full.notify_all()
        return batch


class Writer:
    """Owns the files (one per stream) while its thread runs; whoever stops it owns them after."""

    def __init__(self, files: list[RotatingFile], queue: LineQueue, drops: Drops) -> None:
        self.files = files
        self._queue = queue
        self._drops = drops
        self.written = 0
        self._thread = threading.Thread(target=self._loop, name="records", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write everything queued, then end the thread."""
        self._queue.put(STOP, None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            batch = self._queue.take(BATCH_LINES)
            try:
                self.write_batch(batch)
            except Exception as exc:  # noqa: BLE001
                # a dead writer would leave every producer blocked on a full queue: lose this
                # batch, counted and said, and carry on with the next
                print(f"poller: record writer error: {exc!r}; {len(batch)} records dropped",
                      file=sys.stderr)
                self._drops.count(sum(item is not None for item in batch), DROP_WRITER_ERROR)
            self.say()
            if STOP in batch:
                return

    def say(self) -> None:
        """The writer's own events: what happened to a file's rotation, and the drops of a spell
        of failed writes once every file takes records again. Writing them can only add a
        notice of the events file's own rotation (once per spell) or a drop that makes a file
        failing again (which holds the report back): the loop ends."""
        while True:
            lines = [line_of(event, fields)
                     for file in self.files for event, fields in file.take_notices()]
            if not any(file.failing for file in self.files):
                lines += self._drops.report_lines(WRITER_CAUSES)
            if not lines:
                return
            self.write_batch([(EVENTS, line) for line in lines])

    def write_batch(self, batch: list[Item]) -> None:
        lines: tuple[list[bytes], list[bytes]] = ([], [])
        for item in batch:
            if item is not None:
                lines[item[0]].append(item[1])
        for file, chunk in zip(self.files, lines):
            if chunk:
                lost = file.write_lines(chunk)
                self.written += len(chunk) - lost
                if lost:
                    self._drops.count(lost, DROP_WRITE_FAILED)

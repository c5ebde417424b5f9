"""Records: structlog event dicts rendered as JSON lines (orjson), written by one thread to
size-rotated files. The only module that knows about structlog and files.

The event loop only renders a line and puts it on a bounded queue; the writer thread batches lines
into few writes and rotates by rename (`poller.jsonl` -> `poller.jsonl.1` ...) with a fixed active
name, never splitting a line. When the queue stays full for `put_timeout_s` the record is dropped,
counted, and a `records_dropped` event says how many; nothing is lost silently.

Rendering happens on the calling thread: it stamps the record when it happens and snapshots
fields the caller may change afterwards. Measured on a 2-core VM with a 340-byte row: ~120-140k
records/s end to end (~8 us per call); rendering on the writer instead saved the caller ~12% but
was ~10% slower end to end (the GIL serialises both threads anyway).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson
import structlog

from poller.config.model import OutputSettings
from poller.errors import OutputError

DATA, EVENTS = 0, 1

#: why records were dropped: the `cause` of a `records_dropped` event, and its `reason`
QUEUE_FULL, WRITE_FAILED = "queue_full", "write_failed"
WRITER_ERROR, AFTER_CLOSE = "writer_error", "after_close"
DROP_REASONS = {
    QUEUE_FULL: "the writer could not keep up (queue full)",
    WRITE_FAILED: "the file could not be written (see the poller's stderr)",
    WRITER_ERROR: "the writer failed on a batch (see the poller's stderr)",
    AFTER_CLOSE: "recorded after the files were closed",
}
_STOP = None
#: lines handed to one write() call at most
BATCH_LINES = 4096


#: the formatted second of the last timestamp: strftime is the dearest part of a record
_second: tuple[int, str] = (-1, "")


def _timestamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """Put `timestamp` (RFC 3339 UTC, milliseconds) and `event` first, fields after, in order."""
    global _second
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
    millis = min(int((now - second) * 1000), 999)
    event = event_dict.pop("event")
    return {"timestamp": f"{_second[1]}{millis:03d}Z", "event": event, **event_dict}


_ORJSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _render(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(event_dict, default=str, option=_ORJSON_OPTIONS)
    except TypeError:
        # orjson takes integers up to 64 bits (Counter64 fits); anything wider still goes out
        # exact, by the slower standard encoder
        return _render_slowly(event_dict)


def render_many(event: str, records: list[dict[str, Any]]) -> list[bytes]:
    """The lines of `records` (all of one `event`, made at one instant: a poll's rows), the
    same bytes `_render(_timestamp(...))` makes of each, with the timestamp taken once and no
    copy of each record: the head `{"timestamp":...,"event":...,` is rendered once and each
    record's own JSON object is appended to it."""
    head = orjson.dumps(_timestamp(None, "", {"event": event}))[:-1] + b","
    dumps, options = orjson.dumps, _ORJSON_OPTIONS
    lines: list[bytes] = []
    append = lines.append
    for record in records:
        if not record or "timestamp" in record or "event" in record:
            append(_render(None, "", _timestamp(None, "", {**record, "event": event})))
            continue
        try:
            append(head + dumps(record, default=str, option=options)[1:])
        except TypeError:
            append(_render_slowly(_timestamp(None, "", {**record, "event": event})))
    return lines


def _render_slowly(event_dict: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(event_dict, default=str, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        text = json.dumps({
            "timestamp": event_dict.get("timestamp"),
            "event": event_dict.get("event"),
            "render_error": str(exc),
            "fields": str(list(event_dict)),
        }, default=str)
    return text.encode() + b"\n"


class _QueueLogger:
    """structlog's final destination: the rendered line goes on the writer's queue."""

    def __init__(self, recorder: Recorder, stream: int) -> None:
        self._recorder = recorder
        self._stream = stream

    def msg(self, line: bytes) -> None:
        self._recorder._enqueue(self._stream, line)

    info = msg  # what structlog's default bound logger calls for .msg()


class Recorder:
    def __init__(
        self,
        output: OutputSettings,
        *,
        console: TextIO | None = None,
        queue_max: int = 100_000,
        put_timeout_s: float = 1.0,
    ) -> None:
        self._files = [_RotatingFile(output.directory / name, output)
                       for name in (output.data_file, output.events_file)]
        try:
            output.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
            for file in self._files:
                file.open()
        except OSError as exc:
            for file in self._files:
                file.close()
            raise OutputError(
                f"cannot write records in {output.directory}: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename and exc.filename != str(output.directory) else "")
            ) from None
        self._console = console
        self._queue = _LineQueue(queue_max)
        self._put_timeout_s = put_timeout_s
        self._lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        #: drops not yet reported in a `records_dropped` event, by cause
        self._unreported_drops: dict[str, int] = {}
        #: the queue stayed full: until it takes a record again, drop at once instead of blocking
        #: the caller (the event loop) a full put_timeout_s for every record
        self._dropping = False
        self._closed = False
        self._data = bound_logger(_QueueLogger(self, DATA))
        self._events = bound_logger(_QueueLogger(self, EVENTS))
        self._thread = threading.Thread(target=self._write_loop, name="records", daemon=True)
        self._thread.start()

    # -- producers (any thread) -----------------------------------------------------------------

    def data(self, event: str, **fields: Any) -> None:
        # The bound logger's two processors, called directly: structlog's per-call context copy
        # and dispatch cost about as much as rendering a 47-field row (~13 -> ~9 us a record,
        # writer thread included), and a poll writes a record per table row. Same line.
        fields["event"] = event
        self._enqueue(DATA, _render(None, "", _timestamp(None, "", fields)))

    def data_many(self, event: str, records: list[dict[str, Any]]) -> None:
        """`data(event, **record)` for each of `records`, rendered and queued in one go."""
        self.lines(DATA, render_many(event, records))

    def event(self, event: str, **fields: Any) -> None:
        self._events.msg(event, **fields)

    def lines(self, stream: int, lines: list[bytes]) -> None:
        """Whole lines queued together (a worker process renders its records as `data` and
        `event` do here); dropped and counted as one batch when the queue stays full. Once a
        batch waited the full put_timeout_s in vain, the next ones are dropped at once until the
        queue takes one again, instead of blocking the caller (the event loop) each time."""
        if self._closed:
            self._count_drops(len(lines), AFTER_CLOSE)
            return
        timeout_s = 0.0 if self._dropping else self._put_timeout_s
        if not self._queue.put_many([(stream, line) for line in lines], timeout_s):
            self._dropping = True
            self._count_drops(len(lines), QUEUE_FULL)
            return
        self._dropping = False
        if self._unreported_drops:
            self._report_drops()

    def console_line(self, text: str) -> None:
        if self._console is not None:
            self._console.write(text + "\n")
            self._console.flush()

    def _enqueue(self, stream: int, line: bytes) -> None:
        self.lines(stream, [line])

    def _count_drops(self, count: int, cause: str) -> None:
        with self._lock:
            self.dropped += count
            self._unreported_drops[cause] = self._unreported_drops.get(cause, 0) + count

    def _take_unreported(self) -> dict[str, int]:
        with self._lock:
            drops, self._unreported_drops = self._unreported_drops, {}
        return drops

    def _report_drops(self) -> None:
        for cause, count in self._take_unreported().items():
            self.event("records_dropped", count=count, total=self.dropped, cause=cause,
                       reason=DROP_REASONS[cause])

    # -- shutdown ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Write everything queued, stop the writer, close the files. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP, None)
        self._thread.join()
        # the writer is gone: this thread owns the files now. Write what a producer racing with
        # close() still queued, then the drops not yet reported (the writer's own included).
        self._write_batch(self._queue.take(BATCH_LINES * 1000, wait=False))
        for cause, count in self._take_unreported().items():
            line = _render(None, "", _timestamp(None, "", {
                "event": "records_dropped", "count": count, "total": self.dropped,
                "cause": cause, "reason": DROP_REASONS[cause]}))
            self._write_batch([(EVENTS, line)])
        for file in self._files:
            file.close()

    # -- the writer thread ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            batch = self._queue.take(BATCH_LINES)
            try:
                self._write_batch(batch)
            except Exception as exc:  # noqa: BLE001
                # a dead writer would leave every producer blocked on a full queue: lose this
                # batch, counted and said, and carry on with the next
                print(f"poller: record writer error: {exc!r}; {len(batch)} records dropped",
                      file=sys.stderr)
                self._count_drops(sum(item is not None for item in batch), WRITER_ERROR)
            if _STOP in batch:
                return

    def _write_batch(self, batch: list[tuple[int, bytes] | None]) -> None:
        lines: tuple[list[bytes], list[bytes]] = ([], [])
        for item in batch:
            if item is not None:
                lines[item[0]].append(item[1])
        for file, chunk in zip(self._files, lines):
            if chunk:
                lost = file.write_lines(chunk)
                self.written += len(chunk) - lost
                if lost:
                    self._count_drops(lost, WRITE_FAILED)


class _LineQueue:
    """A bounded FIFO that the writer empties a batch at a time under one lock acquisition,
    rather than item by item as queue.Queue does (which made the producers wait on that lock)."""

    def __init__(self, maxsize: int) -> None:
        self._items: list[tuple[int, bytes] | None] = []
        self._maxsize = maxsize
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)

    def put(self, item: tuple[int, bytes] | None, timeout_s: float | None) -> bool:
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

    def take(self, limit: int, *, wait: bool = True) -> list[tuple[int, bytes] | None]:
        """Remove and return up to `limit` items, oldest first; waits for one unless told not to."""
        with self._not_empty:
            if wait:
                self._not_empty.wait_for(lambda: self._items)
            batch = self._items[:limit]
            del self._items[:limit]
            self._not_full.notify_all()
        return batch


def bound_logger(logger: Any) -> Any:
    """A structlog logger of our own, bound once: nothing from (or to) structlog's global
    configuration, and no lazy proxy re-binding on every call."""
    return structlog.wrap_logger(
        logger,
        processors=[_timestamp, _render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
    ).bind()


class _RotatingFile:
    """One JSON-lines file with size rotation by rename. Used by the writer thread only."""

    def __init__(self, path: Path, output: OutputSettings) -> None:
        self.path = path
        self.max_bytes = output.max_bytes
        self.max_age_s = output.max_age_s
        self.backups = output.backups
        self.compress = output.compress
        self._opened_at = time.monotonic()
        self._handle: BinaryIO | None = None
        self._size = 0
        self._failing = False
        self._checked_at = time.monotonic()

    def open(self) -> None:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)  # it may have been removed
        # unbuffered: every batch is one joined write of whole lines, and a failed write leaves
        # nothing behind in a buffer to be written later in pieces
        self._handle = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - closed by close()
        self._size = self._handle.seek(0, os.SEEK_END)
        self._opened_at = time.monotonic()
        if self._size and os.pread(self._handle.fileno(), 1, self._size - 1) != b"\n":
            # a torn last line (a crash, a full disk): end it, so the next record stays whole
            self._write(b"\n")

    def write_lines(self, lines: list[bytes]) -> int:
        """Write `lines`, rotating between them as needed. Returns how many were lost."""
        done = 0
        try:
            if self._handle is not None and self._moved_away():
                self._handle.close()
                self._handle = None
            if self._handle is None:
                self.open()
            if self.max_age_s and self._size and time.monotonic() - self._opened_at >= self.max_age_s:
                self._rotate()
            pending: list[bytes] = []
            pending_size = 0
            for line in lines:
                if self._size + pending_size + len(line) > self.max_bytes and self._size + pending_size:
                    done += self._flush(pending)
                    pending, pending_size = [], 0
                    self._rotate()
                pending.append(line)
                pending_size += len(line)
            done += self._flush(pending)
        except OSError as exc:
            self._fail(exc)
            return len(lines) - done
        if self._failing:
            self._failing = False
            print(f"poller: writing {self.path} again", file=sys.stderr)
        return 0

    def _moved_away(self) -> bool:
        """True when the active name no longer leads to our open file (the file or its directory
        was removed or renamed by someone else): writing on would go nowhere anyone reads. Checked
        at most once a second."""
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return False
        self._checked_at = now
        assert self._handle is not None
        try:
            return os.stat(self.path).st_ino != os.fstat(self._handle.fileno()).st_ino
        except OSError:
            return True

    def _flush(self, pending: list[bytes]) -> int:
        self._write(b"".join(pending))
        return len(pending)

    def _write(self, data: bytes) -> None:
        assert self._handle is not None
        view = memoryview(data)
        while view:
            written = self._handle.write(view)
            view = view[written or 0:]
        self._size += len(data)

    def _rotate(self) -> None:
        assert self._handle is not None
        self._handle.close()
        self._handle = None
        if self.backups > 0:
            # shift .1 .. .k up by one, where .k is the last of the contiguous run (or the oldest
            # kept, which the shift then replaces); files beyond it are not ours to keep
            last = 1
            while last < self.backups and self._backup(last).exists():
                last += 1
            for n in range(last - 1, 0, -1):
                os.replace(self._backup(n), self._backup(n + 1))
            if self.compress:
                _gzip(self.path, self._backup(1))
            else:
                os.replace(self.path, self._backup(1))
        else:
            self.path.unlink(missing_ok=True)
        # backups left from a larger `backups` setting: the oldest beyond the count go
        extra = self.backups + 1
        while self._backup(extra).exists():
            self._backup(extra).unlink()
            extra += 1
        self.open()

    def _backup(self, n: int) -> Path:
        suffix = ".gz" if self.compress else ""
        return self.path.with_name(f"{self.path.name}.{n}{suffix}")

    def _fail(self, exc: OSError) -> None:
        """Report once per failing spell; the next batch tries to open the file again."""
        if not self._failing:
            print(f"poller: cannot write {self.path}: {exc.strerror or exc}; records are dropped "
                  "and counted until it works again", file=sys.stderr)
        self._failing = True
        if self._handle is not None:
            try:
                # cut a partly written batch back to the last whole line this file holds
                os.ftruncate(self._handle.fileno(), self._size)
            except OSError:
                pass
            try:
                self._handle.close()
            except OSError:
                pass
        self._handle = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _gzip(source: Path, target: Path) -> None:
    """Compress `source` into `target` (via a temporary name, so a reader never sees half a
    file), then remove `source`."""
    partial = target.with_name(target.name + ".part")
    with open(source, "rb") as raw, gzip.open(partial, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(raw, packed, 1 << 20)
    os.replace(partial, target)
    source.unlink()

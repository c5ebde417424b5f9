"""The Recorder: where the daemon's records go. Data records (`data`, `data_many`) and events
(`event`) are rendered as JSON lines on the calling thread (poller.output.lines), put on a
bounded queue, and written by one thread (poller.output.writer) to size-rotated files
(poller.output.rotating). The only part that knows about files; structlog renders the events.

When the queue stays full for `put_timeout_s` the record is dropped, counted, and a
`records_dropped` event says how many; nothing is lost silently.
"""

from __future__ import annotations

from typing import Any, TextIO

from poller.config.model import OutputSettings
from poller.errors import OutputError
from poller.output.lines import DATA, EVENTS, bound_logger, line_of, render_many
from poller.output.rotating import RotatingFile
from poller.output.writer import BATCH_LINES, PRODUCER_CAUSES, Drops, LineQueue, Writer
from poller.schema import DROP_AFTER_CLOSE, DROP_QUEUE_FULL


class _QueueLogger:
    """structlog's final destination: the rendered line goes on the writer's queue."""

    def __init__(self, recorder: Recorder, stream: int) -> None:
        self._recorder = recorder
        self._stream = stream

    def msg(self, line: bytes) -> None:
        self._recorder.lines(self._stream, [line])

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
        files = _open_files(output)
        self._console = console
        self._queue = LineQueue(queue_max)
        self._put_timeout_s = put_timeout_s
        self._drops = Drops()
        #: the queue stayed full: until it takes a record again, drop at once instead of blocking
        #: the caller (the event loop) a full put_timeout_s for every record
        self._dropping = False
        self._closed = False
        self._events = bound_logger(_QueueLogger(self, EVENTS))
        self._writer = Writer(files, self._queue, self._drops)
        self._writer.start()

    @property
    def _files(self) -> list[RotatingFile]:
        return self._writer.files

    @property
    def dropped(self) -> int:
        """Records dropped since start, for any cause."""
        return self._drops.total

    @property
    def written(self) -> int:
        """Records written since start."""
        return self._writer.written

    # -- producers (any thread) -----------------------------------------------------------------

    def data(self, event: str, **fields: Any) -> None:
        # The bound logger's two processors, called directly: structlog's per-call context copy
        # and dispatch cost about as much as rendering a 47-field row (~13 -> ~9 us a record,
        # writer thread included), and a poll writes a record per table row. Same line.
        self.lines(DATA, [line_of(event, fields)])

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
            self._drops.count(len(lines), DROP_AFTER_CLOSE)
            return
        timeout_s = 0.0 if self._dropping else self._put_timeout_s
        if not self._queue.put_many([(stream, line) for line in lines], timeout_s):
            self._dropping = True
            self._drops.count(len(lines), DROP_QUEUE_FULL)
            return
        self._dropping = False
        if self._drops.pending(PRODUCER_CAUSES):
            self.lines(EVENTS, self._drops.report_lines(PRODUCER_CAUSES))

    def console_line(self, text: str) -> None:
        if self._console is not None:
            self._console.write(text + "\n")
            self._console.flush()

    # -- shutdown ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Write everything queued, stop the writer, close the files. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        # the writer is gone: this thread owns the files now. Write what a producer racing with
        # close() still queued, the writer's events, then every drop not yet reported (those of
        # a spell of failures that has not ended included: there is no later).
        self._writer.write_batch(self._queue.take(BATCH_LINES * 1000, wait=False))
        self._writer.say()
        for line in self._drops.report_lines():
            self._writer.write_batch([(EVENTS, line)])
        for file in self._files:
            file.close()


def _open_files(output: OutputSettings) -> list[RotatingFile]:
    """The data and events files, opened (the directory made if need be), in stream order."""
    files = [RotatingFile(output.directory / name, output)
             for name in (output.data_file, output.events_file)]
    try:
        output.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        for file in files:
            file.open()
    except OSError as exc:
        for file in files:
            file.close()
        raise OutputError(
            f"cannot write records in {output.directory}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename and exc.filename != str(output.directory) else "")
        ) from None
    return files

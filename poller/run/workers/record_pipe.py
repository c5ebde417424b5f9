"""A worker process's records: rendered here exactly as the Recorder renders its own (same
timestamp, same JSON), then shipped as whole lines to the parent, whose one writer puts them in
the files. One writer keeps rotation (size, age, backups, gzip) and drop counting as they are,
and no two processes ever append to the same file.

The wire is a multiprocessing pipe of whole messages, one byte of kind first:
D/E + lines: data/event lines, each ending in a newline; M + pickle: a message for the parent
(poller.run.workers.messages).
Lines are gathered for one turn of the event loop and sent in one message, so a poll's rows and
its summary travel together.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Callable
from typing import Any

from poller.output.lines import DATA, EVENTS, bound_logger, render_many
from poller.run.workers.messages import Message

KIND_DATA, KIND_EVENTS, KIND_MESSAGE = b"D", b"E", b"M"
KINDS = {KIND_DATA: DATA, KIND_EVENTS: EVENTS}


class _Lines:
    """structlog's final destination here: a list of rendered lines."""

    def __init__(self, shipper: ShippedRecords, lines: list[bytes]) -> None:
        self._shipper = shipper
        self._lines = lines

    def msg(self, line: bytes) -> None:
        self._lines.append(line)
        self._shipper.soon()

    info = msg


class ShippedRecords:
    """The worker's RecordSink (poller.output.sink): lines rendered here, written by the parent."""

    def __init__(self, send: Callable[[bytes], None], worker: int) -> None:
        self._send = send
        self.worker = worker
        self._pending: tuple[list[bytes], list[bytes]] = ([], [])
        self._events = bound_logger(_Lines(self, self._pending[EVENTS]))
        self._scheduled = False
        #: lines handed to the parent; what it wrote or dropped is the parent's to say
        self.written = 0
        self.dropped = 0
        #: the parent is gone (its end of the pipe closed): nothing more can be written
        self.broken = False

    def data(self, event: str, **fields: Any) -> None:
        self.data_many(event, [fields])

    def data_many(self, event: str, records: list[dict[str, Any]]) -> None:
        """`data(event, **record)` for each of `records`, rendered in one go (as the parent's
        Recorder renders its own, without structlog's per-call dispatch)."""
        if event == "poll":
            # which worker polled it, next to that worker's stats
            records = [{**record, "worker": self.worker} for record in records]
        self._pending[DATA].extend(render_many(event, records))
        self.soon()

    def event(self, event: str, **fields: Any) -> None:
        self._events.msg(event, **fields)

    def message(self, message: Message) -> None:
        """A message for the parent, after the lines recorded before it."""
        self.flush()
        self._ship(KIND_MESSAGE + pickle.dumps(message))

    @staticmethod
    def console_line(text: str) -> None:
        # one write of one short line on the shared stderr: lines of workers do not mix
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def soon(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        for kind, lines in ((KIND_DATA, self._pending[DATA]), (KIND_EVENTS, self._pending[EVENTS])):
            if lines:
                count = len(lines)
                payload = kind + b"".join(lines)
                lines.clear()
                if self._ship(payload):
                    self.written += count
                else:
                    self.dropped += count

    def _ship(self, payload: bytes) -> bool:
        if self.broken:
            return False
        try:
            self._send(payload)
        except OSError:
            self.broken = True
            return False
        return True

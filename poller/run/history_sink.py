"""History in the daemon: with `[history]`, the scheduler's sink is a HistoryTee that hands every
record to the record sink (the recorder, or a worker's pipe) and the data records also to a
HistoryWriter, whose thread writes the RRD files.

Each process that polls (the one-process daemon, each worker) has its own writer, for its own
devices, and its own fleet index file (`index.json`, `index-w<N>.json`): no two processes write
one file. librrd is imported when the writer's files are made, so a daemon without `[history]`
never loads it.
"""

from __future__ import annotations

from typing import Any

from poller.config.model import Device, HistorySettings
from poller.history.index import FleetIndex, file_name
from poller.history.rrd import RrdFiles
from poller.history.store import HistoryStore, plans_for
from poller.history.writer import HistoryWriter
from poller.output.sink import RecordSink


def check_librrd() -> None:
    """RrdError (one line: how to install it) when librrd's binding is missing: at start, in
    the parent, rather than in every worker it starts."""
    RrdFiles()


class HistoryTee:
    """A RecordSink: everything to `sink`, the data records also to `writer` (which never
    blocks: a full queue drops and counts, as `history_dropped`)."""

    def __init__(self, sink: RecordSink, writer: HistoryWriter) -> None:
        self._sink = sink
        self._writer = writer

    def data(self, event: str, **fields: Any) -> None:
        self._sink.data(event, **fields)
        self._writer.data_many(event, [fields])

    def data_many(self, event: str, records: list[dict[str, Any]]) -> None:
        self._sink.data_many(event, records)
        self._writer.data_many(event, records)

    def event(self, event: str, **fields: Any) -> None:
        self._sink.event(event, **fields)

    def console_line(self, text: str) -> None:
        self._sink.console_line(text)

    @property
    def written(self) -> int:
        return self._sink.written

    @property
    def dropped(self) -> int:
        return self._sink.dropped


class History:
    """This process's history: the writer over its devices, and the plans a reload hands it."""

    def __init__(self, settings: HistorySettings, devices: tuple[Device, ...],
                 worker: int | None = None) -> None:
        self.settings = settings
        # each file's updates of up to `hold` are written in one librrd call
        store = HistoryStore(settings, plans_for(devices, settings), RrdFiles(settings.rrdcached),
                             hold_s=settings.hold_s)
        index = FleetIndex(settings.index_directory, file_name(worker))
        self.writer = HistoryWriter(store, index=index)

    def sink(self, records: RecordSink) -> HistoryTee:
        return HistoryTee(records, self.writer)

    def apply(self, devices: tuple[Device, ...]) -> None:
        """A reload's devices: their plans from the next batch on (settings as at start)."""
        self.writer.replace_plans(plans_for(devices, self.settings))

    def stats(self) -> dict[str, int]:
        """history_stored, _skipped, _failed, _dropped (since start) and _queued (now)."""
        return self.writer.stats()

    def close(self) -> None:
        """Write what is queued and held, save the fleet index, stop the thread (blocks: call it
        off the loop, after the drain)."""
        self.writer.close()

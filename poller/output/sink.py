"""Where records go, as the producers of records see it: the Recorder (one process, and the
supervisor, which writes for its workers) and a worker's ShippedRecords (poller.run.workers)
both are one."""

from __future__ import annotations

from typing import Any, Protocol


class RecordSink(Protocol):
    def data(self, event: str, **fields: Any) -> None:
        """One data record (a summary, a row)."""

    def data_many(self, event: str, records: list[dict[str, Any]]) -> None:
        """`data(event, **record)` for each of `records`, in one go (a poll's rows)."""

    def event(self, event: str, **fields: Any) -> None:
        """One record of the events stream (`started`, `stats`, `overrun`...)."""

    def console_line(self, text: str) -> None:
        """One short human line for the terminal (`--console`)."""

    @property
    def written(self) -> int:
        """Records handed on so far (to the files, or to the parent that writes them)."""

    @property
    def dropped(self) -> int:
        """Records lost so far, each counted."""

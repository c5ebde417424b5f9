"""Finishing a table row: its index decoded into named fields, and one rate per counter where a
profile asks for both the 64-bit and the 32-bit column of it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from poller.config.model import Table
from poller.mib.index import decode
from poller.mib.names import IndexPart


def index_fields(table: Table, index: tuple[int, ...]) -> dict[str, Any]:
    """The INDEX clause's objects and their values (ipAdEntAddr = "10.0.0.1"); empty for an
    unknown table or an index that does not fit its clause. Not to be changed: the same dict
    is handed out again for the same index (a fleet's rows repeat theirs on every poll)."""
    if table.index_parts is None:
        return _NONE
    return _decoded(index, table.index_parts)


_NONE: dict[str, Any] = {}


@lru_cache(maxsize=65_536)
def _decoded(index: tuple[int, ...], parts: tuple[IndexPart, ...]) -> dict[str, Any]:
    return decode(index, parts) or _NONE


def prefer_wide(table: Table, row: dict[str, Any]) -> None:
    """Keep one rate per counter asked for in both widths: the 64-bit column's, in its own rate
    field, when the row has that counter; else the 32-bit column's, moved into the 64-bit rate
    field with `<rate field>_from` naming the 32-bit column. The 32-bit rate field is never
    written, so sums over rows never count a counter twice. Raw values stay as read."""
    for wide, narrow in table.wide_pairs:
        narrow_rate = row.pop(narrow.rate_field, None)
        narrow_reason = row.pop(narrow.reason_field, None)
        if wide.rate_field in row:
            continue
        if narrow_rate is None and narrow_reason is None:
            continue  # neither width was read for this row
        if narrow_rate is not None and wide.bits != narrow.bits:
            narrow_rate = narrow_rate * 8 if wide.bits else narrow_rate / 8
        row[wide.rate_field] = narrow_rate
        if narrow_reason is not None:
            row[wide.reason_field] = narrow_reason
        row[f"{wide.rate_field}_from"] = narrow.name

"""Backfill: the records of existing files (active, rotated `.1`, gzipped `.gz`) into the RRD
files, in time order. Running it twice stores nothing more: RRD refuses updates at or before a
file's last one, and the store skips and counts them."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, cast

import orjson

from poller.history.store import HistoryStore

#: records taken between two writes of the files
FLUSH_EVERY = 20_000
_GZIP_MAGIC = b"\x1f\x8b"


class RecordFileError(OSError):
    """A record file cannot be read; the message is one line naming it."""


@dataclass(slots=True)
class ImportCounts:
    files: int = 0
    lines: int = 0
    #: lines that are not a record with a time (a torn last line, another program's output)
    unreadable: int = 0


def import_files(paths: list[Path], store: HistoryStore) -> ImportCounts:
    """Feed every record of `paths` to `store`, the files oldest first, and write them."""
    counts = ImportCounts()
    for path in sorted(paths, key=_first_time):
        counts.files += 1
        for line in _lines(path):
            counts.lines += 1
            if not _take(line, store):
                counts.unreadable += 1
            if counts.lines % FLUSH_EVERY == 0:
                store.flush()
    store.flush()
    return counts


def _take(line: bytes, store: HistoryStore) -> bool:
    try:
        record = orjson.loads(line)
        at_s = int(datetime.fromisoformat(record["timestamp"]).timestamp())
        event = record["event"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return False
    if not isinstance(event, str) or not isinstance(record, dict):
        return False
    store.add(event, record, at_s)
    return True


def _open(path: Path) -> IO[bytes]:
    """The file's bytes, unpacked when gzipped (by its content: rotation names vary)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
        raw.seek(0)
        return raw
    except OSError as exc:
        raise RecordFileError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _lines(path: Path) -> Iterator[bytes]:
    with _open(path) as stream:
        try:
            yield from (line for line in stream if line.strip())
        except (OSError, EOFError) as exc:  # gzip's BadGzipFile is an OSError
            raise RecordFileError(f"{path}: cannot read: {exc}") from None


def _first_time(path: Path) -> float:
    """The time of a file's first record (rotated files hold older records than the active
    one); files without one go first."""
    try:
        for line in _lines(path):
            record = orjson.loads(line)
            return datetime.fromisoformat(record["timestamp"]).timestamp()
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        pass
    return 0.0

"""The counter-state file: each process's device snapshots (poller.poll.snapshot), one JSON
object per line, written whole and atomically (a temporary file, fsync, rename), so a crash
leaves the previous file or the new one, never a torn one. At start every process reads all
the state files of the directory and takes, per device, the newest entry: a change of the worker
count or of the shard moves devices between files without losing their counters."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

#: state files are named counters.jsonl (one process) or counters-wN.jsonl (worker N)
PATTERN = "counters*.jsonl"
#: a state file larger than this is not read (it cannot be ours: ~200 B per counter)
MAX_FILE_BYTES = 1 << 30


_writes = itertools.count()


def file_name(worker: int | None) -> str:
    return "counters.jsonl" if worker is None else f"counters-w{worker}.jsonl"


def write(path: Path, entries: Iterable[dict[str, Any]]) -> int:
    """Replace `path` with one line per entry; returns the bytes written. Raises OSError."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{next(_writes)}.tmp")
    try:
        with open(temporary, "wb") as file:
            for entry in entries:
                file.write(orjson.dumps(entry))
                file.write(b"\n")
            size = file.tell()
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return size


def read(directory: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """Every device's newest entry in the directory's state files, and how many lines were
    unreadable (torn by a foreign writer, or not JSON objects). A missing directory is empty."""
    newest: dict[str, dict[str, Any]] = {}
    bad = 0
    try:
        paths = sorted(directory.glob(PATTERN))
    except OSError:
        return newest, 0
    for path in paths:
        try:
            if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                bad += 1
                continue
            data = path.read_bytes()
        except OSError:
            bad += 1
            continue
        for line in data.splitlines():
            entry = _entry(line)
            if entry is None:
                bad += 1
            elif entry["taken_at"] > newest.get(entry["device"], {}).get("taken_at", float("-inf")):
                newest[entry["device"]] = entry
    return newest, bad


def _entry(line: bytes) -> dict[str, Any] | None:
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not (isinstance(entry, dict) and isinstance(entry.get("device"), str)
            and isinstance(entry.get("taken_at"), int | float) and not isinstance(entry["taken_at"], bool)):
        return None
    return entry

"""The fleet index: what the web pages list without opening an RRD file.

Per device, its last `poll` summary and, per table row and scalar group, its labels and current
values, as the history writer's thread last saw them. Each process writes its own file in the
history directory (`index.json`, or `index-w<N>.json` for worker N), whole and atomically (a
temporary file renamed over the old one), at most every `every_s` and at close; a reader merges
the files, taking each device from the file that saw it last (after a reload moves a device to
another worker, the old worker's entry is older).

Nothing secret is in a record, so nothing secret is in the index: it holds a subset of the
records' fields (POLL_FIELDS, labels, rates in bits per second, scalar numbers). It must stay
so: with [cluster] the files are sent to Redis for the web (poller.cluster.index_share).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

#: the format of the files; a reader skips files of another version
VERSION = 1
#: a poll summary's fields kept (besides `at`, when the writer took it)
POLL_FIELDS = ("status", "scheduled_at", "duration_s", "error_type", "error", "rows")
#: row fields kept as labels, besides those named like one (LABEL_SUFFIXES)
ROW_LABELS = ("ifName", "ifAlias", "ifDescr", "ifHighSpeed", "ifSpeed", "ifOperStatus",
              "ifAdminStatus")
LABEL_SUFFIXES = ("Name", "Descr", "Alias")
#: a label longer than this is cut (an index is a summary, not a record store)
MAX_TEXT = 200
#: record fields that are the record's envelope, not its values
_ENVELOPE = frozenset({"device", "table", "index", "group", "timestamp", "event", "seq"})


def file_name(worker: int | None = None) -> str:
    """The index file of the one-process daemon (None) or of worker `worker`."""
    return "index.json" if worker is None else f"index-w{worker}.json"


def _text(value: Any) -> Any:
    return value[:MAX_TEXT] if isinstance(value, str) else value


#: what a row field is to the index (_row_kind): not kept, bits per second, a label whatever
#: its value, a label when text
_SKIP, _BPS, _LABEL, _TEXT = range(4)


def _row_kind(key: str) -> int:
    if key in _ENVELOPE:
        return _SKIP
    if key.endswith("_bps"):
        return _BPS
    if key in ROW_LABELS:
        return _LABEL
    return _TEXT if key.endswith(LABEL_SUFFIXES) else _SKIP


def _row_entry(record: Mapping[str, Any], at_s: int, kinds: dict[str, int]) -> dict[str, Any]:
    """The index's entry of a row; `kinds` caches each field name's _row_kind (a table's rows
    all have the same fields, so the names are looked at once, not at every row)."""
    entry: dict[str, Any] = {"at": at_s}
    for key, value in record.items():
        kind = kinds.get(key)
        if kind is None:
            kind = kinds[key] = _row_kind(key)
        if kind == _SKIP or value is None or value.__class__ is bool:
            continue
        if kind == _BPS:
            if isinstance(value, int | float):
                entry[key] = value
        elif kind == _LABEL or isinstance(value, str):
            entry[key] = _text(value)
    return entry


def _group_entry(record: Mapping[str, Any], at_s: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": at_s}
    for key, value in record.items():
        if key not in _ENVELOPE and isinstance(value, int | float) and \
                not isinstance(value, bool):
            entry[key] = value
    return entry


class FleetIndex:
    """One process's index. Not thread-safe: the history writer's thread owns it."""

    def __init__(self, directory: Path, name: str = "index.json", *, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = directory / name
        self.every_s = every_s
        self.last_error: str | None = None
        self._clock = clock
        self._devices: dict[str, dict[str, Any]] = {}
        self._row_kinds: dict[str, int] = {}
        self._changed = False
        self._saved_at = clock()

    def _device(self, name: str, at_s: int) -> dict[str, Any]:
        entry = self._devices.get(name)
        if entry is None:
            entry = self._devices[name] = {"at": at_s, "poll": None, "tables": {}, "groups": {}}
        entry["at"] = max(entry["at"], at_s)
        self._changed = True
        return entry

    def add(self, event: str, record: Mapping[str, Any], at_s: int) -> None:
        """Take one record of `event` handed over at `at_s` (seconds since the epoch)."""
        name = record.get("device")
        if not isinstance(name, str):
            return
        if event == "poll":
            poll = {k: _text(record[k]) for k in POLL_FIELDS if k in record}
            self._device(name, at_s)["poll"] = {**poll, "at": at_s}
        elif event == "row" and isinstance(record.get("table"), str):
            tables = self._device(name, at_s)["tables"]
            rows = tables.setdefault(record["table"], {})
            rows[str(record.get("index"))] = _row_entry(record, at_s, self._row_kinds)
        elif event == "scalars" and isinstance(record.get("group"), str):
            self._device(name, at_s)["groups"][record["group"]] = _group_entry(record, at_s)

    def keep(self, names: Iterable[str]) -> None:
        """Forget the devices not among `names` (a reload removed them)."""
        kept = set(names)
        for name in [n for n in self._devices if n not in kept]:
            del self._devices[name]
            self._changed = True

    def due(self) -> bool:
        return self._changed and self._clock() - self._saved_at >= self.every_s

    def save(self) -> bool:
        """Write the file when anything changed; False (and last_error) when it cannot be."""
        if not self._changed:
            return True
        self._saved_at = self._clock()
        data = orjson.dumps({"version": VERSION, "written_at": int(time.time()),
                             "devices": self._devices})
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
        except OSError as exc:
            self.last_error = f"{self.path}: cannot write the fleet index: {exc.strerror or exc}"
            return False
        self._changed = False
        return True


def read_index(directory: Path) -> dict[str, dict[str, Any]]:
    """Every index file of `directory` merged: each device from the file that saw it last.
    Unreadable or foreign files are skipped (a writer may be between two renames)."""
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("index*.json")):
        merge_newest(merged, read_file(path))
    return merged


def merge_newest(merged: dict[str, dict[str, Any]], devices: Mapping[str, dict[str, Any]]
                 ) -> dict[str, dict[str, Any]]:
    """`devices` merged into `merged` (changed in place, returned): each device's entry from
    whichever saw it last (its `at`); on a tie the entry already there stays."""
    for name, entry in devices.items():
        if name not in merged or entry.get("at", 0) > merged[name].get("at", 0):
            merged[name] = entry
    return merged


def read_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    return parse_index(data)


def parse_index(data: bytes) -> dict[str, dict[str, Any]]:
    """The devices of one index file's bytes; empty when they are not an index of VERSION."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(parsed, dict) or parsed.get("version") != VERSION:
        return {}
    devices = parsed.get("devices")
    if not isinstance(devices, dict):
        return {}
    return {k: v for k, v in devices.items() if isinstance(v, dict)}

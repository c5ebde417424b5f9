"""The fleet as the pages see it: the merged fleet index (poller.history.index), read again only
when an index file changed, with the index of the cluster's other hosts when there is one (an
IndexSource: each device from the entry that saw it last), plus the devices that have RRD files
but no index entry yet (an import, or a daemon that has not saved its index). Filter, sort and
page on the server, so a page of 10,000 devices costs a page, not 10,000 rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from poller.history.index import merge_newest, read_index

#: the directory listing (devices without an index entry) is taken again after this long
LIST_EVERY_S = 10.0
SORTS = ("name", "status", "age", "duration", "error")
PER_PAGE, MAX_PER_PAGE = 100, 1000


@dataclass(frozen=True, slots=True)
class FleetQuery:
    q: str = ""
    status: str = ""
    sort: str = "name"
    descending: bool = False
    page: int = 1
    per_page: int = PER_PAGE


class IndexSource(Protocol):
    """The fleet index of other hosts: with [cluster], every member's, as Redis holds it
    (poller.cluster.index_share.SharedIndex). Both calls are safe from any thread and bounded
    in time; `devices` answers from what it had when it cannot fetch, and `warning` says so."""

    def devices(self) -> Mapping[str, dict[str, Any]]: ...

    def warning(self) -> str | None: ...


class FleetView:
    """The merged index of one history directory (and of `shared`), shared by the server's
    threads."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time,
                 shared: IndexSource | None = None) -> None:
        self.directory = directory
        self.shared = shared
        self._clock = clock
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._devices: dict[str, dict[str, Any]] = {}
        #: the local and shared indexes last merged, and the merge (made again when one changed)
        self._merged_of: tuple[object, object] = (None, None)
        self._merged: dict[str, dict[str, Any]] = {}
        self._listed: list[str] = []
        self._listed_at = -LIST_EVERY_S

    def devices(self) -> Mapping[str, dict[str, Any]]:
        """Device name -> index entry (an empty poll for a device known by its files only)."""
        shared = self.shared.devices() if self.shared is not None else {}
        with self._lock:
            signature = self._index_signature()
            if signature != self._signature:
                self._devices = read_index(self.directory)
                self._signature = signature
            now = time.monotonic()
            if now - self._listed_at >= LIST_EVERY_S:
                self._listed = self._device_directories()
                self._listed_at = now
            merged = dict(self._with_shared(shared))
        for name in self._listed:
            merged.setdefault(name, {"at": 0, "poll": None, "tables": {}, "groups": {}})
        return merged

    def _with_shared(self, shared: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not shared:
            return self._devices
        if self._merged_of[0] is not self._devices or self._merged_of[1] is not shared:
            self._merged = merge_newest(dict(self._devices), shared)
            self._merged_of = (self._devices, shared)
        return self._merged

    def warning(self) -> str | None:
        """What the pages say while the other hosts' index cannot be had."""
        return self.shared.warning() if self.shared is not None else None

    def _index_signature(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for path in self.directory.glob("index*.json"):
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(found))

    def _device_directories(self) -> list[str]:
        try:
            return [unquote(entry.name) for entry in self.directory.iterdir()
                    if entry.is_dir() and not entry.name.startswith(".")]
        except OSError:
            return []

    def now(self) -> float:
        return self._clock()


def fleet_rows(devices: Mapping[str, dict[str, Any]], now_s: float) -> list[dict[str, Any]]:
    rows = []
    for name, entry in devices.items():
        poll = entry.get("poll") or {}
        at = poll.get("at")
        rows.append({"device": name, "status": poll.get("status"),
                     "scheduled_at": poll.get("scheduled_at"),
                     "age_s": round(now_s - at, 1) if isinstance(at, int | float) else None,
                     "duration_s": poll.get("duration_s"), "error_type": poll.get("error_type"),
                     "error": poll.get("error")})
    return rows


def _sort_key(sort: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    # a sort key names a row field, the same but for the two with units
    field = {"age": "age_s", "duration": "duration_s"}.get(sort, sort)
    if field not in ("age_s", "duration_s", "error", "status"):
        return lambda row: (row["device"],)
    # rows without the value go last whatever the order; the name breaks ties
    return lambda row: (row[field] is None, row[field] if row[field] is not None else 0,
                        row["device"])


def query_fleet(rows: list[dict[str, Any]], query: FleetQuery) -> dict[str, Any]:
    """One page of the fleet: the rows matching `q` (in the name or the error) and `status`,
    sorted, with the counts a pager needs."""
    needle = query.q.casefold()
    chosen = [row for row in rows
              if (not needle or needle in row["device"].casefold()
                  or needle in str(row["error"] or "").casefold())
              and (not query.status or row["status"] == query.status)]
    chosen.sort(key=_sort_key(query.sort), reverse=query.descending)
    if query.descending and query.sort != "name":
        # keep rows without the value last when reversed too
        chosen.sort(key=lambda row: row[_field(query.sort)] is None)
    pages = max(1, -(-len(chosen) // query.per_page))
    page = min(query.page, pages)
    first = (page - 1) * query.per_page
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[str(row["status"])] = statuses.get(str(row["status"]), 0) + 1
    return {"total": len(rows), "matched": len(chosen), "page": page, "pages": pages,
            "per_page": query.per_page, "q": query.q, "status": query.status,
            "sort": query.sort, "order": "desc" if query.descending else "asc",
            "statuses": dict(sorted(statuses.items())),
            "devices": chosen[first:first + query.per_page]}


def _field(sort: str) -> str:
    return {"age": "age_s", "duration": "duration_s"}.get(sort, sort)

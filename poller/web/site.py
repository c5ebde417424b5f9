"""The pages by path: a request (path and query) in, a Reply out. Pure of HTTP, so the server
(poller.web.server) stays one thin module and the pages can be called directly."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from poller.web import html
from poller.web.charts import sparkline
from poller.web.fleet import (
    MAX_PER_PAGE,
    PER_PAGE,
    SORTS,
    FleetQuery,
    FleetView,
    IndexSource,
    fleet_rows,
    query_fleet,
)
from poller.web.series import RrdReader, SeriesError
from poller.web.views import BadQuery, device_data, series_data, series_path, windows_for

HTML = "text/html; charset=utf-8"
JSON = "application/json"
SVG = "image/svg+xml"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class NotFound(LookupError):
    """No such device, row or group."""


class Site:
    def __init__(self, directory: Path, reader: RrdReader | None = None,
                 clock: Callable[[], float] = time.time,
                 shared: IndexSource | None = None) -> None:
        self.directory = directory
        self.fleet = FleetView(directory, clock, shared)
        self.reader = reader or RrdReader()
        self._clock = clock
        self._routes: dict[str, Callable[[Mapping[str, str], bool], Reply]] = {
            "/": self._fleet, "/device": self._device, "/row": self._row,
            "/group": self._group}

    def handle(self, path: str, query: Mapping[str, str]) -> Reply:
        as_json = path.endswith(".json") or query.get("format") == "json"
        route = "/" if path == "/fleet.json" else path.removesuffix(".json")
        try:
            if path == "/spark.svg":
                return self._spark(query)
            if path in ("/static/poller.css", "/static/poller.js", "/static/icon.svg",
                        "/favicon.ico"):
                return _static(path)
            handler = self._routes.get(route)
            if handler is None:
                raise NotFound(f"no page {path}")
            return handler(query, as_json)
        except NotFound as exc:
            return _error(404, str(exc), as_json)
        except BadQuery as exc:
            return _error(400, str(exc), as_json)
        except SeriesError as exc:
            return _error(500, str(exc).replace(f"{self.directory}/", ""), as_json)

    # -- pages --------------------------------------------------------------------------------

    def _fleet(self, query: Mapping[str, str], as_json: bool) -> Reply:
        rows = fleet_rows(self.fleet.devices(), self._clock())
        data = {**query_fleet(rows, fleet_query(query)), "warning": self._warning()}
        return _json(data) if as_json else Reply(200, HTML, html.fleet_page(data))

    def _entry(self, name: str) -> Mapping[str, Any]:
        entry = self.fleet.devices().get(name)
        if entry is None:
            raise NotFound(f"no device {name!r}")
        return entry

    def _device(self, query: Mapping[str, str], as_json: bool) -> Reply:
        name = _required(query, "d")
        data = {**device_data(self.directory, name, self._entry(name), self._clock()),
                "warning": self._warning()}
        return _json(data) if as_json else Reply(200, HTML, html.device_page(data))

    def _row(self, query: Mapping[str, str], as_json: bool) -> Reply:
        name, table, index = _required(query, "d"), _required(query, "t"), _required(query, "i")
        labels = ((self._entry(name).get("tables") or {}).get(table) or {}).get(index) or {}
        data = {"device": name, "table": table, "index": index, "labels": labels,
                **self._series(series_path(self.directory, name, table, index, None), query)}
        if as_json:
            return _json(data)
        title = f"{name} {labels.get('ifName') or table + ' ' + index}"
        crumbs = [("fleet", "/"), (name, html.href("/device", d=name)),
                  (f"{table} {index}", html.href("/row", d=name, t=table, i=index))]
        return Reply(200, HTML, html.series_page(
            data, title, crumbs, html.href("/row.json", **query), query))

    def _group(self, query: Mapping[str, str], as_json: bool) -> Reply:
        name, group = _required(query, "d"), _required(query, "g")
        values = ((self._entry(name).get("groups") or {}).get(group)) or {}
        data = {"device": name, "group": group, "labels": {},
                "values": {k: v for k, v in values.items() if k != "at"},
                **self._series(series_path(self.directory, name, None, None, group), query)}
        if as_json:
            return _json(data)
        crumbs = [("fleet", "/"), (name, html.href("/device", d=name)),
                  (group, html.href("/group", d=name, g=group))]
        return Reply(200, HTML, html.series_page(
            data, f"{name} {group}", crumbs, html.href("/group.json", **query), query))

    def _series(self, path: Path, query: Mapping[str, str]) -> dict[str, Any]:
        if not path.is_file():
            raise NotFound("no history for this row or group")
        data = series_data(self.reader, path, windows_for(query, int(self._clock())))
        return {**data, "warning": self._warning()}

    def _warning(self) -> str | None:
        """The lines every page shows while its values may be late (rrdcached out of reach)
        or its devices' last polls incomplete (the cluster's Redis out of reach), one per
        line."""
        lines = [self.reader.rrdcached.warning(), self.fleet.warning()]
        return "\n".join(line for line in lines if line) or None

    def _spark(self, query: Mapping[str, str]) -> Reply:
        name, table, index = _required(query, "d"), _required(query, "t"), _required(query, "i")
        path = series_path(self.directory, name, table, index, None)
        if not path.is_file():
            raise NotFound("no history for this row")
        now = int(self._clock())
        day = series_data(self.reader, path, [("day", now - 86_400, now)])["windows"][0]
        chart = day["charts"][0]
        lines = [(line["label"], chart["values"][line["ds"]]) for line in chart["lines"]]
        return Reply(200, SVG, sparkline(lines).encode())


def fleet_query(query: Mapping[str, str]) -> FleetQuery:
    sort = query.get("sort", "name")
    if sort not in SORTS:
        raise BadQuery(f"sort: {sort[:40]!r} is not one of {', '.join(SORTS)}")
    order = query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadQuery(f"order: {order[:40]!r} is not asc or desc")
    return FleetQuery(q=query.get("q", "")[:200], status=query.get("status", "")[:40],
                      sort=sort, descending=order == "desc",
                      page=_number(query, "page", 1, 1, 10**9),
                      per_page=_number(query, "per_page", PER_PAGE, 1, MAX_PER_PAGE))


def _number(query: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    text = query.get(key)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadQuery(f"{key}: {text[:40]!r} is not a whole number in {low}..{high}")
    return int(text)


def _required(query: Mapping[str, str], key: str) -> str:
    value = query.get(key)
    if not value:
        raise BadQuery(f"{key}: missing")
    return value


def _json(data: Any) -> Reply:
    return Reply(200, JSON, orjson.dumps(data))


def _error(status: int, message: str, as_json: bool) -> Reply:
    if as_json:
        return Reply(status, JSON, orjson.dumps({"error": message}))
    return Reply(status, HTML, html.page(f"{status}", f"<p>{html.esc(message)}</p>",
                                         [("fleet", "/")], "/fleet.json"))


def _static(path: str) -> Reply:
    if path.endswith((".svg", ".ico")):
        return Reply(200, SVG, html.ICON.encode())
    if path.endswith(".css"):
        return Reply(200, "text/css; charset=utf-8", html.STYLE.encode())
    return Reply(200, "text/javascript; charset=utf-8", html.SCRIPT.encode())

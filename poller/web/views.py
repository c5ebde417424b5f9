"""Each page's numbers, as one dict: the JSON form serves it as it is, the HTML form draws it.
Nothing here knows HTTP: the server calls these in a thread (librrd and pygal block)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from poller.history.layout import ARCHIVES, encode, group_path, row_path
from poller.web.series import (
    PERCENTILE,
    PERCENTILE_STEP_S,
    WINDOWS,
    Fetched,
    Header,
    Rows,
    RrdReader,
    percent,
    resolution_for,
    summary,
)

OPER_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
               7: "lowerLayerDown"}
#: a custom window reaches back at most this far (the longest archive)
MAX_WINDOW_S = 3 * 366 * 86_400
#: a window this short ends on the newest polls (the archive of every poll reaches as far)
FRESH_WINDOW_S = ARCHIVES[0][1]
_TRAFFIC = re.compile(r"(In|Out)Octets_b(ps)?$")
_ERRORS = re.compile(r"(In|Out)(Errors|Discards)")


class BadQuery(ValueError):
    """A query parameter that cannot be used; one line for the reader."""


# -- device ------------------------------------------------------------------------------------


def _rrd_names(directory: Path) -> list[str]:
    try:
        return [unquote(p.name[:-4]) for p in directory.iterdir() if p.name.endswith(".rrd")]
    except OSError:
        return []


def _index_key(index: str) -> tuple[Any, ...]:
    """1, 2, 10 in number order; 1.3.6 part by part; anything else after, as text."""
    parts = index.split(".")
    return (0, *map(int, parts)) if all(p.isdigit() for p in parts) else (1, index)


def _octets(entry: Mapping[str, Any], direction: str) -> float | None:
    for key, value in entry.items():
        match = _TRAFFIC.search(key)
        if match and match[1] == direction and isinstance(value, int | float):
            return float(value)
    return None


def _row(table_dir: Path, index: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    high = entry.get("ifHighSpeed")
    speed = high * 1_000_000 if isinstance(high, int) and high else entry.get("ifSpeed")
    status = entry.get("ifOperStatus")
    return {"index": index,
            "name": entry.get("ifName") or entry.get("ifDescr") or _first_label(entry) or index,
            "alias": entry.get("ifAlias"), "speed_bps": speed,
            "oper_status": OPER_STATUS.get(status, status) if isinstance(status, int) else status,
            "in_bps": _octets(entry, "In"), "out_bps": _octets(entry, "Out"),
            "history": (table_dir / f"{encode(index)}.rrd").exists(), "at": entry.get("at")}


def _first_label(entry: Mapping[str, Any]) -> str | None:
    return next((v for k, v in entry.items() if isinstance(v, str) and k != "ifAlias"), None)


def device_data(directory: Path, name: str, entry: Mapping[str, Any], now_s: float
                ) -> dict[str, Any]:
    base = directory / encode(name)
    tables: dict[str, list[dict[str, Any]]] = {}
    indexed = entry.get("tables") or {}
    for table in sorted(set(indexed) | set(_subdirectories(base / "tables"))):
        table_dir = base / "tables" / encode(table)
        rows = dict(indexed.get(table) or {})
        for index in _rrd_names(table_dir):
            rows.setdefault(index, {})
        tables[table] = [_row(table_dir, i, rows[i]) for i in sorted(rows, key=_index_key)]
    groups = dict(entry.get("groups") or {})
    for group in _rrd_names(base / "scalars"):
        groups.setdefault(group, {})
    poll = dict(entry.get("poll") or {})
    if isinstance(poll.get("at"), int | float):
        poll["age_s"] = round(now_s - poll["at"], 1)
    return {"device": name, "poll": poll or None, "tables": tables,
            "groups": [{"group": g, "values": {k: v for k, v in groups[g].items() if k != "at"},
                        "history": group_path(directory, name, g).exists()}
                       for g in sorted(groups)]}


def _subdirectories(directory: Path) -> list[str]:
    try:
        return [unquote(p.name) for p in directory.iterdir() if p.is_dir()]
    except OSError:
        return []


# -- one file's graphs ----------------------------------------------------------------------------


def chart_groups(names: tuple[str, ...]) -> list[tuple[str, str, list[str]]]:
    """(chart name, unit, data sources) per chart: traffic in and out, then errors and
    discards; a file without traffic has one chart of all its data sources."""
    traffic = [n for n in names if _TRAFFIC.search(n)]
    errors = [n for n in names if _ERRORS.search(n)]
    if not traffic:
        return [("values", "", list(names))]
    charts = [("traffic", "b/s", traffic)]
    if errors:
        charts.append(("errors", "/s", errors))
    return charts


def line_label(name: str) -> str:
    """`ifHCInOctets_bps` -> `in`, `ifOutDiscards_rate` -> `out discards`; else the name."""
    if match := _TRAFFIC.search(name):
        return match[1].lower()
    if match := _ERRORS.search(name):
        return f"{match[1].lower()} {match[2].lower()}"
    return name


def parse_time(text: str, key: str) -> int:
    """Seconds since the epoch, or an ISO 8601 time (UTC unless it says otherwise)."""
    text = text.strip()
    if re.fullmatch(r"\d{1,11}", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{key}: {text[:60]!r} is not a time (seconds since the epoch, or "
                       "ISO 8601 such as 2024-05-01T10:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def windows_for(query: Mapping[str, str], now_s: int) -> list[tuple[str, int, int]]:
    """The standard windows ending now, or the one the query's start (and end) name."""
    if "start" not in query and "end" not in query:
        return [(name, now_s - span, now_s) for name, span in WINDOWS]
    end = parse_time(query["end"], "end") if "end" in query else now_s
    start = parse_time(query["start"], "start") if "start" in query else end - WINDOWS[0][1]
    if start >= end:
        raise BadQuery(f"start {start} is not before end {end}")
    if end - start > MAX_WINDOW_S:
        raise BadQuery(f"start..end spans {end - start} s; at most {MAX_WINDOW_S} s")
    return [("custom", start, end)]


def series_path(directory: Path, device: str, table: str | None, index: str | None,
                group: str | None) -> Path:
    if group is not None:
        return group_path(directory, device, group)
    return row_path(directory, device, table or "", index or "")


def series_data(reader: RrdReader, path: Path, windows: list[tuple[str, int, int]]
                ) -> dict[str, Any]:
    """Per window: each chart's times and values (as drawn), and per line the MRTG numbers."""
    header = reader.header(path)
    charts = chart_groups(header.names)
    out = []
    for name, start, end in windows:
        fetched = reader.fetch(path, start, end, resolution_for(end - start, header.step_s))
        drawn, fresh_from = fetched.rows(fetched.start_s, end), None
        if fetched.step_s > header.step_s and end - start <= FRESH_WINDOW_S:
            drawn, fresh_from = _fresh(reader, path, header, drawn, end)
        # the percentile takes the rows as `rrdtool graph` does (its oracle)
        p_step = max(header.step_s, PERCENTILE_STEP_S)
        p_rows = fetched if fetched.step_s == p_step else reader.fetch(path, start, end, p_step)
        out.append({"window": name, "start": start, "end": end, "step_s": fetched.step_s,
                    "fresh_from": fresh_from,
                    "fresh_step_s": None if fresh_from is None else header.step_s,
                    "percentile_step_s": p_rows.step_s,
                    "charts": [_chart(chart, unit, sources, drawn, p_rows)
                               for chart, unit, sources in charts]})
    return {"step_s": header.step_s, "data_sources": list(header.names), "windows": out}


def _fresh(reader: RrdReader, path: Path, header: Header, coarse: Rows, end: int
           ) -> tuple[Rows, int | None]:
    """`coarse` with every poll after its last consolidated row spliced on: a consolidated
    row is written only when its bin is over, so without these the graph's newest point is up
    to a bin (5 minutes) old. Returns the rows and the time after which they are per poll."""
    if coarse.times and coarse.times[-1] > header.last_update_s:
        coarse = coarse.before_last()  # its bin is not over: unknown for now, not a gap
    if not coarse.times:
        return coarse, None
    after = coarse.times[-1]
    fine = reader.fetch(path, after, end, header.step_s)
    if fine.step_s != header.step_s:
        return coarse, None
    return coarse.then(fine.rows(after, end)), after


def _chart(name: str, unit: str, sources: list[str], drawn: Rows, p_rows: Fetched
           ) -> dict[str, Any]:
    lines = [{"ds": ds, "label": line_label(ds), **summary(drawn.columns[ds], drawn.spans_s),
              "p95": percent(p_rows.columns[ds], PERCENTILE)} for ds in sources]
    return {"chart": name, "unit": unit, "lines": lines, "times": drawn.times,
            "values": {ds: drawn.columns[ds] for ds in sources}}

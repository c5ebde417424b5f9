"""The HTML form of each page, drawn from the same dict the JSON form serves. Every piece of
text from the outside (device names, labels, errors, query values) goes through `esc`."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from poller.web.charts import line_chart, si
from poller.web.fleet import SORTS

STYLE = """
body{font-family:sans-serif;margin:1em 2em;color:#222}
a{color:#0645ad;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:.5em 0}
th,td{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#080}.bad{color:#b00}.muted{color:#777}
.warning{background:#fff4ce;border:1px solid #e0c060;padding:.3em .6em}
nav.crumbs{margin-bottom:1em}form{margin:.5em 0}
section.window{margin:1.5em 0}.chart svg{max-width:100%;height:auto}
"""
#: a small icon (browsers ask for one; a missing one is an error in their console)
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><polyline points="0,12 5,6 '
        '9,9 16,2" fill="none" stroke="#0645ad" stroke-width="2"/></svg>')
#: turns each point's description (pygal's <desc class="value">) into its hover tooltip
SCRIPT = """
document.querySelectorAll("svg .tooltip-trigger").forEach(function (dot) {
  var desc = dot.parentNode.querySelector("desc.value");
  if (!desc) { return; }
  var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
  title.textContent = desc.textContent;
  dot.appendChild(title);
});
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def href(path: str, **params: Any) -> str:
    shown = {k: v for k, v in params.items() if v not in (None, "")}
    return esc(f"{path}?{urlencode(shown)}" if shown else path)


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def page(title: str, body: str, crumbs: list[tuple[str, str]], json_href: str,
         warning: str | None = None) -> bytes:
    trail = " / ".join(f'<a href="{link}">{esc(name)}</a>' for name, link in crumbs)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>{esc(title)} - poller</title>'
            f'<link rel="icon" href="/static/icon.svg" type="image/svg+xml">'
            f'<link rel="stylesheet" href="/static/poller.css">'
            f'<script src="/static/poller.js" defer></script></head><body>'
            f'<nav class="crumbs">{trail} · <a href="{json_href}">JSON</a></nav>'
            f'<h1>{esc(title)}</h1>{_warning(warning)}{body}</body></html>').encode()


def _warning(text: str | None) -> str:
    # one paragraph per line: each problem is said in its own line
    return "".join(f'<p class="warning" role="status">{esc(line)}</p>'
                   for line in (text or "").splitlines())


def _status(status: Any) -> str:
    kind = "ok" if status == "ok" else "muted" if status is None else "bad"
    return f'<span class="{kind}">{esc(status or "no poll yet")}</span>'


# -- fleet --------------------------------------------------------------------------------------


def fleet_page(data: Mapping[str, Any]) -> bytes:
    base = {"q": data["q"], "status": data["status"], "per_page": data["per_page"]}
    options = "".join(f'<option value="{esc(s)}"{" selected" if s == data["status"] else ""}>'
                      f'{esc(s)} ({n})</option>' for s, n in data["statuses"].items())
    form = (f'<form method="get" action="/"><input type="search" name="q" value="{esc(data["q"])}"'
            f' placeholder="device or error"> <select name="status"><option value="">any status'
            f'</option>{options}</select> <button>Filter</button></form>')
    heads = "".join(_sort_head(sort, data, base) for sort in SORTS)
    rows = "".join(
        f'<tr><td><a href="{href("/device", d=r["device"])}">{esc(r["device"])}</a></td>'
        f'<td>{_status(r["status"])}</td><td class="n">{age(r["age_s"])}</td>'
        f'<td class="n">{esc(r["duration_s"] if r["duration_s"] is not None else "-")}</td>'
        f'<td>{esc(r["error_type"] or "")} {esc(r["error"] or "")}</td></tr>'
        for r in data["devices"])
    pager = _pager(data, base)
    body = (f'{form}<p>{data["matched"]} of {data["total"]} devices · page {data["page"]} of '
            f'{data["pages"]} {pager}</p><table><tr>{heads}</tr>{rows}</table><p>{pager}</p>')
    return page("Fleet", body, [("fleet", "/")], href("/fleet.json", **base, sort=data["sort"],
                                                     order=data["order"], page=data["page"]),
                data.get("warning"))


def _sort_head(sort: str, data: Mapping[str, Any], base: dict[str, Any]) -> str:
    order = "desc" if data["sort"] == sort and data["order"] == "asc" else "asc"
    mark = (" ▲" if data["order"] == "asc" else " ▼") if data["sort"] == sort else ""
    label = {"age": "age", "duration": "duration (s)"}.get(sort, sort)
    return f'<th><a href="{href("/", **base, sort=sort, order=order)}">{label}{mark}</a></th>'


def _pager(data: Mapping[str, Any], base: dict[str, Any]) -> str:
    links = []
    params = {**base, "sort": data["sort"], "order": data["order"]}
    if data["page"] > 1:
        links.append(f'<a href="{href("/", **params, page=data["page"] - 1)}">« previous</a>')
    if data["page"] < data["pages"]:
        links.append(f'<a href="{href("/", **params, page=data["page"] + 1)}">next »</a>')
    return " ".join(links)


# -- device -------------------------------------------------------------------------------------


def device_page(data: Mapping[str, Any]) -> bytes:
    name = data["device"]
    poll = data["poll"] or {}
    error = (f' · {esc(poll.get("error_type"))}: {esc(poll.get("error"))}'
             if poll.get("error_type") else "")
    took = poll.get("duration_s")
    body = (f'<p>Last poll: {_status(poll.get("status"))}, {age(poll.get("age_s"))} ago, '
            f'scheduled {esc(poll.get("scheduled_at") or "-")}, took '
            f'{esc(took if took is not None else "-")} s{error}</p>')
    for table, rows in data["tables"].items():
        body += f'<h2>{esc(table)}</h2>' + _rows_table(name, table, rows)
    if data["groups"]:
        body += "<h2>Scalar groups</h2><table><tr><th>group</th><th>values</th></tr>"
        for group in data["groups"]:
            shown = ", ".join(f"{esc(k)} = {esc(v)}" for k, v in group["values"].items())
            link = (f'<a href="{href("/group", d=name, g=group["group"])}">{esc(group["group"])}'
                    f'</a>' if group["history"] else esc(group["group"]))
            body += f"<tr><td>{link}</td><td>{shown}</td></tr>"
        body += "</table>"
    return page(name, body, [("fleet", "/"), (name, href("/device", d=name))],
                href("/device.json", d=name), data.get("warning"))


def _rows_table(device: str, table: str, rows: list[dict[str, Any]]) -> str:
    head = ('<table><tr><th>name</th><th>alias</th><th class="n">speed</th><th>status</th>'
            '<th class="n">in</th><th class="n">out</th><th>day</th></tr>')
    cells = []
    for row in rows:
        params = {"d": device, "t": table, "i": row["index"]}
        name = (f'<a href="{href("/row", **params)}">{esc(row["name"])}</a>' if row["history"]
                else esc(row["name"]))
        spark = (f'<img src="{href("/spark.svg", **params)}" width="160" height="28" alt="">'
                 if row["history"] else "")
        cells.append(f'<tr><td>{name}</td><td>{esc(row["alias"] or "")}</td>'
                     f'<td class="n">{esc(si(row["speed_bps"], "b/s"))}</td>'
                     f'<td>{esc(row["oper_status"] or "")}</td>'
                     f'<td class="n">{esc(si(row["in_bps"], "b/s"))}</td>'
                     f'<td class="n">{esc(si(row["out_bps"], "b/s"))}</td><td>{spark}</td></tr>')
    return head + "".join(cells) + "</table>"


# -- one row's (or group's) graphs ----------------------------------------------------------------


def series_page(data: Mapping[str, Any], title: str, crumbs: list[tuple[str, str]],
                json_href: str, query: Mapping[str, str]) -> bytes:
    labels = data.get("labels") or {}
    shown = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in labels.items()
                      if k != "at" and not k.endswith("_bps"))
    form = (f'<form method="get"><input type="hidden" name="d" value="{esc(query.get("d"))}">'
            + "".join(f'<input type="hidden" name="{k}" value="{esc(query[k])}">'
                      for k in ("t", "i", "g") if k in query)
            + f'start <input name="start" value="{esc(query.get("start", ""))}" '
            f'placeholder="2024-05-01T10:00Z"> end <input name="end" '
            f'value="{esc(query.get("end", ""))}" placeholder="now"> <button>Show</button></form>')
    body = f'<p>{shown}</p>{form}' + "".join(_window(w) for w in data["windows"])
    return page(title, body, crumbs, json_href, data.get("warning"))


def _window(window: Mapping[str, Any]) -> str:
    fresh = (f', and after {when(window["fresh_from"])} every poll ({window["fresh_step_s"]} s)'
             if window["fresh_from"] is not None else "")
    out = (f'<section class="window"><h2>{esc(window["window"])}</h2><p class="muted">'
           f'{when(window["start"])} to {when(window["end"])}, a value every '
           f'{window["step_s"]} s{fresh}; 95th percentile of the '
           f'{window["percentile_step_s"]} s averages</p>')
    for chart in window["charts"]:
        lines = [(line["label"], chart["values"][line["ds"]]) for line in chart["lines"]]
        svg = line_chart(chart["times"], lines, chart["unit"])
        out += f'<div class="chart">{svg}</div>' + _numbers(chart)
    return out + "</section>"


def _numbers(chart: Mapping[str, Any]) -> str:
    unit = chart["unit"]
    rows = "".join(
        f'<tr><th>{esc(line["label"])}</th>' + "".join(
            f'<td class="n">{esc(si(line[k], unit))}</td>'
            for k in ("max", "average", "current", "p95")) + "</tr>"
        for line in chart["lines"])
    return ('<table class="mrtg"><tr><th></th><th class="n">maximum</th><th class="n">average'
            '</th><th class="n">current</th><th class="n">95th percentile</th></tr>'
            f'{rows}</table>')

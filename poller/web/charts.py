"""SVG charts drawn with pygal (imported on first use): a line per data source over time, a
break in the line where a value is unknown, each point's time and value in its tooltip."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

#: (name, values) per line, values aligned with the chart's times
Lines = Sequence[tuple[str, Sequence[float | None]]]

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
#: pygal always writes its config as an inline script, which the pages' Content-Security-Policy
#: forbids (and nothing needs: the tooltips come from the page's own script)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>|<script\b[^>]*/>", re.DOTALL)


def si(value: float | None, unit: str = "") -> str:
    """`1.23 Mb/s`: three significant digits and an SI prefix, as MRTG and Cacti print."""
    if value is None:
        return "-"
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def _pygal() -> Any:
    import pygal
    return pygal


@functools.cache
def _line_class() -> Any:
    """pygal's DateTimeLine, drawing the same lines and dots (tests/unit/test_web_charts.py
    compares the two) at less cost per point: a row page draws ~8,000 points, which took pygal's
    own class ~0.45 s, most of it in its attribute lookups and in three descriptions per point
    that only pygal's script (never served) reads."""
    base: Any = _pygal().DateTimeLine

    # the same name: pygal names the SVG's graph class after it
    class DateTimeLine(base):  # type: ignore[misc]
        def __getattribute__(self, name: str) -> Any:
            # pygal's BaseGraph.__getattribute__ makes this lookup (the chart's config state
            # first) in four calls of itself, and a point drawn takes ~35 lookups
            state = object.__getattribute__(self, "__dict__").get("state")
            if state is not None and name != "state" and not name.startswith("__"):
                found = state.__dict__
                if name in found:
                    return found[name]
            return object.__getattribute__(self, name)

        def line(self, serie: Any, rescale: bool = False) -> None:
            # pygal's Graph.line for this chart's config (no secondary series, metadata,
            # logarithm, fill or interpolation; breaks at unknown values), writing the same
            # dots with only the description the page reads: each dot's "time: value"
            overlay = self.svg.serie(serie)
            view = self.view
            view_values = [view(point) for point in serie.points]
            sub = _pygal().etree.etree.SubElement
            size = str(serie.dots_size)
            text = self._format
            for i, (x, y) in enumerate(view_values):
                if x is None or y is None:
                    continue
                dots = sub(overlay["overlay"], "g", {"class": "dots"})
                sub(dots, "circle", {"cx": str(x), "cy": str(y), "r": size,
                                     "class": "dot reactive tooltip-trigger"})
                sub(dots, "desc", {"class": "value"}).text = text(serie, i)
            for run in _runs(view_values):
                self.svg.line(overlay["plot"], run, close=self._self_close,
                              class_="line reactive nofill")

    return DateTimeLine


def _runs(points: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """The stretches between unknown values (a line is broken there)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def _time_label(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def line_chart(times: Sequence[int], lines: Lines, unit: str, *, title: str = "") -> str:
    """An inline `<svg>` element (no XML declaration, no scripts: the page's own script turns
    each point's description into its tooltip)."""
    pygal = _pygal()
    chart = _line_class()(
        width=800, height=260, title=title or None, js=[], disable_xml_declaration=True,
        allow_interruptions=True, show_dots=True, dots_size=1.6, stroke_style={"width": 1.5},
        x_label_rotation=0, truncate_label=-1, x_labels_major_count=6,
        x_value_formatter=_time_label, value_formatter=lambda v: si(v, unit),
        legend_at_bottom=True, show_x_guides=False, explicit_size=True,
        style=pygal.style.LightStyle(font_family="sans-serif"))
    # seconds since the epoch are what pygal turns datetimes into (and back, in UTC)
    for name, values in lines:
        chart.add(name, list(zip(times, values, strict=True)))
    return _without_scripts(chart.render(is_unicode=True))


def sparkline(lines: Lines) -> str:
    """A small standalone SVG document (for an <img>): lines only, gaps kept."""
    pygal = _pygal()
    chart = pygal.Line(js=[], allow_interruptions=True, show_dots=False,
                       stroke_style={"width": 1.2}, style=pygal.style.LightStyle)
    for name, values in lines:
        chart.add(name, list(values))
    return _without_scripts(chart.render_sparkline(width=160, height=28, is_unicode=True))


def _without_scripts(svg: str) -> str:
    cleaned = _SCRIPT.sub("", svg)
    if "<script" in cleaned:  # never serve a script pygal may one day write another way
        raise ValueError("pygal wrote a script that could not be removed")
    return cleaned

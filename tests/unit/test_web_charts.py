"""The charts: the row page's pygal chart, made cheaper per point, draws exactly what pygal's own
DateTimeLine draws (the same lines, dots and hover texts), minus the descriptions only pygal's
script reads; gaps stay breaks in the line."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pygal

from poller.web.charts import _time_label, _without_scripts, line_chart, si

START_S, STEP_S = 1_700_000_000, 300
TIMES = [START_S + i * STEP_S for i in range(300)]
#: gaps of 3 values every 50, and one value alone between two gaps (a dot, no line)
IN = [None if i % 50 < 3 or i in (119, 121) else 1e6 + i * 1000.0 for i in range(300)]
OUT = [2e5 + (i % 7) * 1e4 for i in range(300)]


def plain_pygal() -> str:
    """The same chart through pygal's own class, with datetimes, as pygal's docs draw one."""
    chart = pygal.DateTimeLine(
        width=800, height=260, title=None, js=[], disable_xml_declaration=True,
        allow_interruptions=True, show_dots=True, dots_size=1.6, stroke_style={"width": 1.5},
        x_label_rotation=0, truncate_label=-1, x_labels_major_count=6,
        x_value_formatter=_time_label, value_formatter=lambda v: si(v, "b/s"),
        legend_at_bottom=True, show_x_guides=False, explicit_size=True,
        style=pygal.style.LightStyle(font_family="sans-serif"))
    moments = [datetime.fromtimestamp(t, UTC) for t in TIMES]
    for name, values in (("in", IN), ("out", OUT)):
        chart.add(name, list(zip(moments, values, strict=True)))
    return _without_scripts(chart.render(is_unicode=True))


def normal(svg: str) -> str:
    return re.sub(r"chart-[0-9a-f-]{36}", "chart-ID", svg)


def test_the_chart_is_pygals_own_without_unread_descriptions() -> None:
    ours = line_chart(TIMES, [("in", IN), ("out", OUT)], "b/s")
    theirs = plain_pygal()
    unread = re.compile(r'<desc class="(x|y|x_label)\b[^"]*">[^<]*</desc>')
    assert len(unread.findall(theirs)) > 2 * 500 and not unread.findall(ours)
    assert normal(ours) == normal(unread.sub("", theirs))


def test_each_dot_says_its_time_and_value_and_gaps_break_the_line() -> None:
    svg = line_chart(TIMES, [("in", IN), ("out", OUT)], "b/s")
    hover = re.findall(r'<desc class="value">([^<]*)</desc>', svg)
    assert len(hover) == sum(v is not None for v in IN) + len(OUT)
    assert hover[0] == f"{_time_label(datetime.fromtimestamp(TIMES[3], UTC))}: {si(IN[3], 'b/s')}"
    # "in" has 7 runs of known values and the one alone, "out" one
    assert svg.count('class="line reactive nofill"') == 7 + 1

"""The day graph ends on the newest polls: its 5-minute averages, then every poll since the last
5-minute bin that is over, so a value written a poll ago is in the day series (the JSON form and
the graph drawn from it), a null rate there is a gap, and the numbers under the graph keep their
definitions (the average over time, rrdtool's own 95th percentile of the 5-minute averages).
Real RRD files written by the real history writer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from poller.history.layout import row_path
from poller.history.writer import HistoryWriter
from poller.web.charts import _time_label, si
from poller.web.site import Site
from tests.unit.test_history import fleet, row, store_for
from tests.unit.test_web_pages import rrdtool_percentile

STEP_S, BIN_S = 60, 300
#: a 5-minute boundary some hours ago; three hours of polls lead up to it
BOUNDARY = (1_790_000_000 // BIN_S) * BIN_S
FIRST = BOUNDARY - 3 * 3600
NEWEST = 7_770_000.0


def rate(at: int) -> float:
    return 1e6 + 1e3 * (at // STEP_S % 97)


def write(base: Path, last_poll: int, null_at: int | None) -> tuple[Path, dict[int, float | None]]:
    """Polls of port 2 every minute from FIRST to `last_poll` (its rate NEWEST, the one at
    `null_at` null), through the real writer with its clock at each poll."""
    directory = base / "history"
    now = [FIRST]
    writer = HistoryWriter(store_for(fleet(base), directory), clock=lambda: now[0])
    rates: dict[int, float | None] = {}
    for at in range(FIRST, last_poll + 1, STEP_S):
        now[0] = at
        value = NEWEST if at == last_poll else None if at == null_at else rate(at)
        rates[at] = value
        writer.data("row", **row("2", at, value, None if value is None else value / 2))
    writer.close()
    assert writer.store.counts.failed == 0, writer.store.last_error
    return directory, rates


def day(site: Site) -> tuple[dict[str, Any], dict[str, Any]]:
    reply = site.handle("/row.json", {"d": "sw1", "t": "interfaces", "i": "2"})
    assert reply.status == 200, reply.body[:300]
    window = orjson.loads(reply.body)["windows"][0]
    assert window["window"] == "day"
    traffic = next(c for c in window["charts"] if c["chart"] == "traffic")
    return window, traffic


# (last poll, now): two polls after a boundary, a poll ago; and the poll due at the next
# boundary 10 s late, so the bin that ended there is not over in the file yet
CASES = [(BOUNDARY + 120, BOUNDARY + 140), (BOUNDARY + 240, BOUNDARY + 310)]


@pytest.mark.parametrize(("last_poll", "now"), CASES, ids=["after-a-boundary", "poll-late"])
def test_the_day_series_ends_on_the_newest_poll(tmp_path: Path, last_poll: int, now: int
                                                ) -> None:
    directory, rates = write(tmp_path, last_poll, null_at=BOUNDARY + 60)
    window, traffic = day(Site(directory, clock=lambda: now))
    by_time = dict(zip(traffic["times"], traffic["values"]["ifHCInOctets_bps"], strict=True))
    assert by_time[last_poll] == NEWEST
    assert by_time[BOUNDARY + 60] is None  # the null rate stays a gap
    assert window["fresh_from"] == BOUNDARY and window["fresh_step_s"] == STEP_S
    for at in range(BOUNDARY + STEP_S, last_poll + 1, STEP_S):  # every poll since, as it was
        assert by_time[at] == rates[at], at
    bins = [t for t in traffic["times"] if t <= BOUNDARY]
    assert all(t % BIN_S == 0 for t in bins) and len(bins) >= 287  # a day of 5-minute bins
    assert by_time[BOUNDARY] == pytest.approx(
        sum(rate(BOUNDARY - i * STEP_S) for i in range(5)) / 5, rel=1e-9)
    assert max(traffic["times"]) <= now


def test_the_numbers_keep_their_definitions(tmp_path: Path) -> None:
    """The average is over time: the mean of every poll's rate (not of the points, of which the
    newest stand for a minute each); the 95th percentile is rrdtool's of the 5-minute
    averages; the current value is the newest poll's."""
    last_poll, now = CASES[0]
    directory, rates = write(tmp_path, last_poll, null_at=BOUNDARY + 60)
    window, traffic = day(Site(directory, clock=lambda: now))
    line = next(x for x in traffic["lines"] if x["label"] == "in")
    # the first poll only starts the file: the rows stand for the polls after it
    known = [v for at, v in rates.items() if v is not None and at > FIRST]
    assert line["average"] == pytest.approx(sum(known) / len(known), rel=1e-9)
    assert line["current"] == NEWEST and line["max"] == NEWEST
    path = row_path(directory, "sw1", "interfaces", "2")
    assert line["p95"] == pytest.approx(
        rrdtool_percentile(path, "ifHCInOctets_bps", window["start"], window["end"]), rel=1e-6)


def test_the_graph_draws_the_series_of_the_json(tmp_path: Path) -> None:
    last_poll, now = CASES[0]
    directory, _ = write(tmp_path, last_poll, null_at=BOUNDARY + 60)
    site = Site(directory, clock=lambda: now)
    _, traffic = day(site)
    page = site.handle("/row", {"d": "sw1", "t": "interfaces", "i": "2"}).body.decode()
    day_html = page[page.index("<h2>day</h2>"):page.index("<h2>week</h2>")]
    traffic_svg = day_html[:day_html.index('class="mrtg"')]
    hovers = re.findall(r'<desc class="value">([^<]*)</desc>', traffic_svg)
    known = [(t, v) for name in ("ifHCInOctets_bps", "ifHCOutOctets_bps")
             for t, v in zip(traffic["times"], traffic["values"][name], strict=True)
             if v is not None]
    assert len(hovers) == len(known)
    assert f"{_time_label(datetime.fromtimestamp(last_poll, UTC))}: {si(NEWEST, 'b/s')}" in hovers
    assert "every poll (60 s)" in day_html

"""The web pages over real RRD files written by the real history writer (and its fleet index)
from generated records: the page's 95th percentile is rrdtool's own `VDEF ... PERCENT` on the
same file, its averages are the records' mean, its gaps are where the records had null rates or
failed polls; names from the fleet file are escaped; nothing but pages is served."""

from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from poller.history.index import FleetIndex, file_name, read_index
from poller.history.layout import row_path
from poller.history.writer import HistoryWriter
from poller.web.site import Site
from tests.unit.test_history import FLEET, IN, OUT, fleet, row, store_for

STEP_S = 60
HOUR_S, DAY_S = 3600, 86_400
#: the history ends on the last full hour (so a server on the real clock shows all of it)
END = (int(time.time()) // HOUR_S - 1) * HOUR_S
START = END - 2 * DAY_S
#: port 1's rates are null here (a restart: first samples), every port's polls fail here
NULL = (END - 6 * HOUR_S, END - 5 * HOUR_S)
FAILED = (END - 3 * HOUR_S, END - 2 * HOUR_S)
PORTS = ("1", "2", "10")
HOSTILE = '<script>alert("x")</script>&'


def rate(port: str, at: int) -> float:
    """A traffic shape with a daily wave and minute-to-minute spread, different per port."""
    return 1e6 * (1 + int(port)) + 4e5 * math.sin(at / 7200) + (at // STEP_S % 7) * 3e4


@dataclass
class History:
    directory: Path
    #: (port, time) -> the in-rate the records carried (None: null in the record)
    rates: dict[tuple[str, int], float | None]
    failed_at: set[int]


def _minute(writer: HistoryWriter, at: int, rates: dict[tuple[str, int], float | None],
            failed_at: set[int]) -> None:
    if FAILED[0] < at <= FAILED[1]:
        failed_at.add(at)
        for device in ("sw1", HOSTILE):
            writer.data("poll", device=device, status="timeout", scheduled_at="t",
                        duration_s=2.0, error_type="timeout", error="no answer after 2 tries")
        return
    records = []
    for port in PORTS:
        value = None if port == "1" and NULL[0] < at <= NULL[1] else rate(port, at)
        rates[(port, at)] = value
        records.append(row(port, at, value, None if value is None else value / 2,
                           ifAlias=f"uplink {port} <b>", ifOperStatus=1,
                           ifInErrors_rate=0.5, ifOutDiscards_rate=0.25))
    writer.data_many("row", records)
    writer.data_many("row", [{**records[1], "device": HOSTILE}])
    writer.data("scalars", device="ups1", group="ups", hrSystemProcesses=40 + at % 5,
                snmpInPkts_rate=12.5)
    for device in ("sw1", "ups1", HOSTILE):
        writer.data("poll", device=device, status="ok", scheduled_at="t", duration_s=0.2)


def make_history(base: Path) -> History:
    """Two days of one-minute polls through the real writer (and its index), the writer's
    clock set to each record's time."""
    text = FLEET + f'[[devices]]\nname = {orjson.dumps(HOSTILE).decode()}\nhost = "192.0.2.3"\n' \
        'interval = "60s"\nprofiles = ["interfaces"]\n'
    config = fleet(base, text)
    directory = base / "history"
    now = [START]
    writer = HistoryWriter(store_for(config, directory), clock=lambda: now[0],
                           index=FleetIndex(directory, file_name()))
    rates: dict[tuple[str, int], float | None] = {}
    failed_at: set[int] = set()
    for at in range(START + STEP_S, END + 1, STEP_S):
        now[0] = at
        _minute(writer, at, rates, failed_at)
    writer.close()
    assert writer.store.counts.failed == 0, writer.store.last_error
    return History(directory, rates, failed_at)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def site(history: History) -> Site:
    return Site(history.directory, clock=lambda: END)


def get_json(site: Site, path: str, **query: str) -> Any:
    reply = site.handle(path, query)
    assert reply.status == 200, reply.body[:300]
    assert reply.content_type == "application/json"
    return orjson.loads(reply.body)


def rrdtool_percentile(path: Path, ds: str, start: int, end: int) -> float:
    """rrdtool's own 95th percentile of the 5-minute averages (the oracle)."""
    out = subprocess.run(
        ["rrdtool", "graph", "/dev/null", "--start", str(start), "--end", str(end),
         "--width", "5000", f"DEF:x={path}:{ds}:AVERAGE:step=300", "VDEF:p=x,95,PERCENT",
         "PRINT:p:%lf"], capture_output=True, text=True, check=True, timeout=30).stdout
    return float(out.split()[-1])


def lines_of(window: dict[str, Any], chart: str) -> dict[str, dict[str, Any]]:
    found = next(c for c in window["charts"] if c["chart"] == chart)
    return {line["label"]: {**line, "values": found["values"][line["ds"]],
                            "times": found["times"]} for line in found["lines"]}


# -- the numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["1", "2"])
@pytest.mark.parametrize("window", ["day", "week"])
def test_95th_percentile_is_rrdtools_own(history: History, site: Site, port: str,
                                         window: str) -> None:
    data = get_json(site, "/row.json", d="sw1", t="interfaces", i=port)
    shown = next(w for w in data["windows"] if w["window"] == window)
    assert shown["percentile_step_s"] == 300
    path = row_path(history.directory, "sw1", "interfaces", port)
    for label, ds in (("in", IN), ("out", OUT)):
        p95 = lines_of(shown, "traffic")[label]["p95"]
        oracle = rrdtool_percentile(path, ds, shown["start"], shown["end"])
        assert p95 == pytest.approx(oracle, rel=1e-6), (label, p95, oracle)


def test_average_maximum_and_current_are_the_records(history: History, site: Site) -> None:
    """A 4-hour window of per-poll values: the page's average is the mean of the records' rates
    over the window, its maximum their maximum, its current the last one."""
    start, end = END - 12 * HOUR_S, END - 8 * HOUR_S
    data = get_json(site, "/row.json", d="sw1", t="interfaces", i="2", start=str(start),
                    end=str(end))
    (window,) = data["windows"]
    assert window["window"] == "custom" and window["step_s"] == STEP_S
    line = lines_of(window, "traffic")["in"]
    expected = [history.rates[("2", at)] for at in range(start + STEP_S, end + 1, STEP_S)]
    assert None not in expected
    known = [v for v in expected if v is not None]
    assert line["average"] == pytest.approx(sum(known) / len(known), rel=1e-9)
    assert line["max"] == pytest.approx(max(known), rel=1e-9)
    assert line["current"] == pytest.approx(known[-1], rel=1e-9)
    by_time = dict(zip(line["times"], line["values"], strict=True))
    assert all(by_time[at] == pytest.approx(history.rates[("2", at)], rel=1e-9)
               for at in range(start + STEP_S, end + 1, STEP_S))


@pytest.mark.parametrize(("port", "gap"), [("1", NULL), ("2", FAILED)],
                         ids=["null-rates", "failed-polls"])
def test_gaps_are_where_the_records_had_no_rate(history: History, site: Site, port: str,
                                                gap: tuple[int, int]) -> None:
    start, end = gap[0] - HOUR_S, gap[1] + HOUR_S
    data = get_json(site, "/row.json", d="sw1", t="interfaces", i=port, start=str(start),
                    end=str(end))
    line = lines_of(data["windows"][0], "traffic")["in"]
    by_time = dict(zip(line["times"], line["values"], strict=True))
    for at in range(start + STEP_S, end + 1, STEP_S):
        recorded = history.rates.get((port, at))
        if recorded is None:  # a null rate, or no row at all (a failed poll)
            assert by_time[at] is None, at
        else:
            assert by_time[at] == pytest.approx(recorded, rel=1e-9), at
    assert sum(v is None for v in line["values"]) >= 60


def test_errors_and_discards_have_their_own_graph(site: Site) -> None:
    data = get_json(site, "/row.json", d="sw1", t="interfaces", i="2")
    day = data["windows"][0]
    assert [w["window"] for w in data["windows"]] == ["day", "week", "month", "year"]
    assert [c["chart"] for c in day["charts"]] == ["traffic", "errors"]
    errors = lines_of(day, "errors")
    assert errors["in errors"]["average"] == pytest.approx(0.5)
    assert errors["out discards"]["max"] == pytest.approx(0.25)
    assert data["labels"]["ifName"] == "Eth1/2"


def test_group_page_graphs_its_scalars(site: Site) -> None:
    data = get_json(site, "/group.json", d="ups1", g="ups")
    day = data["windows"][0]
    (chart,) = day["charts"]
    assert {line["ds"] for line in chart["lines"]} == {"hrSystemProcesses", "snmpInPkts_rate"}
    assert lines_of(day, "values")["snmpInPkts_rate"]["average"] == pytest.approx(12.5)
    assert 40 <= data["values"]["hrSystemProcesses"] <= 44


# -- fleet and device pages ------------------------------------------------------------------------


def test_fleet_lists_every_device_with_its_last_poll(site: Site) -> None:
    data = get_json(site, "/fleet.json")
    by_name = {d["device"]: d for d in data["devices"]}
    assert set(by_name) == {"sw1", "ups1", HOSTILE} and data["total"] == 3
    assert by_name["sw1"]["status"] == "ok" and by_name["sw1"]["age_s"] == 0
    failing = get_json(site, "/fleet.json", q="ALERT")
    assert [d["device"] for d in failing["devices"]] == [HOSTILE]


def test_device_page_lists_rows_with_labels_and_current_values(site: Site) -> None:
    data = get_json(site, "/device.json", d="sw1")
    rows = data["tables"]["interfaces"]
    assert [r["index"] for r in rows] == ["1", "2", "10"]
    two = rows[1]
    assert two["name"] == "Eth1/2" and two["alias"] == "uplink 2 <b>"
    assert two["oper_status"] == "up" and two["speed_bps"] == 1_000_000_000
    assert two["in_bps"] == pytest.approx(rate("2", END))
    assert two["out_bps"] == pytest.approx(rate("2", END) / 2)
    page = site.handle("/device", {"d": "sw1"}).body.decode()
    assert page.count('<img src="/spark.svg?') == 3
    spark = site.handle("/spark.svg", {"d": "sw1", "t": "interfaces", "i": "2"})
    assert spark.status == 200 and spark.body.lstrip().startswith((b"<?xml", b"<svg"))


def test_operator_names_are_escaped_everywhere(site: Site) -> None:
    for path, query in (("/", {}), ("/device", {"d": HOSTILE}),
                        ("/row", {"d": HOSTILE, "t": "interfaces", "i": "2"}),
                        ("/", {"q": HOSTILE}), ("/device", {"d": HOSTILE + "x"})):
        body = site.handle(path, query).body.decode()
        assert "<script>alert" not in body and "<b>" not in body, path
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body, path


def test_row_page_has_four_windows_of_svg_charts(site: Site) -> None:
    body = site.handle("/row", {"d": "sw1", "t": "interfaces", "i": "1"}).body.decode()
    assert body.count('class="pygal-chart"') == 8  # traffic and errors, four windows
    assert body.count(">95th percentile</th>") == 8
    assert "<script" not in body.replace('<script src="/static/poller.js" defer></script>', "")


def test_only_pages_are_served(history: History, site: Site) -> None:
    (history.directory / "fleet.toml").write_text('community = "sekrit"')
    for path, query in (("/fleet.toml", {}), ("/../fleet.toml", {}), ("/history/index.json", {}),
                        ("/row", {"d": "..", "t": "..", "i": "fleet.toml"}),
                        ("/device", {"d": "../history"})):
        reply = site.handle(path, query)
        assert reply.status == 404 and b"sekrit" not in reply.body, path


@pytest.mark.parametrize(("query", "problem"), [
    ({"start": "yesterday"}, "start: 'yesterday' is not a time"),
    ({"start": "2000", "end": "1000"}, "start 2000 is not before end 1000"),
    ({"start": "0"}, "spans"),
])
def test_a_bad_window_is_one_line(site: Site, query: dict[str, str], problem: str) -> None:
    reply = site.handle("/row.json", {"d": "sw1", "t": "interfaces", "i": "1", **query})
    assert reply.status == 400
    message = orjson.loads(reply.body)["error"]
    assert problem in message and "\n" not in message


def test_an_iso_window_is_the_same_as_seconds(site: Site) -> None:
    start = datetime.fromtimestamp(END - HOUR_S, UTC)
    iso = get_json(site, "/row.json", d="sw1", t="interfaces", i="2",
                   start=start.strftime("%Y-%m-%dT%H:%MZ"),
                   end=datetime.fromtimestamp(END, UTC).isoformat())
    seconds = get_json(site, "/row.json", d="sw1", t="interfaces", i="2",
                       start=str(END - HOUR_S), end=str(END))
    assert iso["windows"][0]["start"] == END - HOUR_S and iso["windows"][0]["end"] == END
    assert iso == seconds


# -- the index ---------------------------------------------------------------------------------------


def test_index_files_merge_newest_per_device(tmp_path: Path) -> None:
    old, new = FleetIndex(tmp_path, file_name(1)), FleetIndex(tmp_path, file_name(2))
    old.add("poll", {"device": "moved", "status": "timeout"}, 100)
    old.add("poll", {"device": "stays", "status": "ok"}, 100)
    new.add("poll", {"device": "moved", "status": "ok"}, 160)
    assert old.save() and new.save()
    merged = read_index(tmp_path)
    assert merged["moved"]["poll"]["status"] == "ok" and merged["stays"]["at"] == 100
    old.keep(["stays"])
    old.save()
    assert "moved" not in orjson.loads((tmp_path / "index-w1.json").read_bytes())["devices"]


def test_index_is_saved_every_few_seconds_and_at_close(tmp_path: Path) -> None:
    clock = [0.0]
    index = FleetIndex(tmp_path, every_s=10.0, clock=lambda: clock[0])
    index.add("poll", {"device": "a", "status": "ok"}, 1)
    assert not index.due()
    clock[0] = 10.0
    assert index.due() and index.save() and not index.due()
    assert read_index(tmp_path)["a"]["poll"]["status"] == "ok"
    (tmp_path / "index-w9.json").write_bytes(b'{"version": 1, "devices": {"torn"')
    assert set(read_index(tmp_path)) == {"a"}  # a torn or foreign file is skipped


def test_an_index_that_cannot_be_written_is_reported_once(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    reports: list[str] = []
    config = fleet(tmp_path)
    writer = HistoryWriter(store_for(config, tmp_path / "h"), report=reports.append,
                           index=FleetIndex(blocked / "h", every_s=0.0))
    for _ in range(3):
        writer.data("poll", device="sw1", status="ok")
        assert writer.wait_idle(5)
    writer.close()
    assert len(reports) == 1 and "cannot write the fleet index" in reports[0]


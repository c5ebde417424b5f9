"""The history store on real librrd files, read back with the `rrdtool` command-line tool (an
independent oracle): the records' rates come back as written, nulls and missed polls are gaps,
names cannot move a file, and the writer never blocks its caller."""

from __future__ import annotations

import math
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.config.history import HistorySettings, default_settings
from poller.config.load import load_config
from poller.config.model import Config
from poller.history.layout import ARCHIVES, ds_name, encode, group_path, row_path
from poller.history.rrd import RrdFiles
from poller.history.store import HistoryStore, plans_for
from poller.history.writer import HistoryWriter

STEP_S = 60
#: a multiple of STEP_S: records on step boundaries fill one RRD row each, unmixed
T0 = 1_700_000_040
FLEET = """
[output]
directory = "out"
[credentials.public]
version = "2c"
community = "public"
[profiles.ups]
scalars = ["hrSystemProcesses.0", "snmpInPkts.0", "sysUpTime.0"]
[[devices]]
name = "sw1"
host = "192.0.2.1"
interval = "60s"
profiles = ["system", "interfaces"]
[[devices]]
name = "ups1"
host = "192.0.2.2"
interval = "60s"
profiles = ["system", "ups"]
"""
IN, OUT = "ifHCInOctets_bps", "ifHCOutOctets_bps"


def fleet(tmp_path: Path, text: str = FLEET) -> Config:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return load_config(path)


def store_for(config: Config, directory: Path, rrdcached: str | None = None) -> HistoryStore:
    settings = default_settings(config.profiles, directory)
    if rrdcached:
        settings = HistorySettings(directory=directory, rrdcached=rrdcached,
                                   fields=settings.fields)
    plans = plans_for(config.devices, settings)
    return HistoryStore(settings, plans, RrdFiles(rrdcached))


def row(index: str, at: int, rate_in: float | None, rate_out: float | None, **more: Any
        ) -> dict[str, Any]:
    """A row record as the daemon writes it (labels, raw counters, rates or null + reason)."""
    record: dict[str, Any] = {"device": "sw1", "table": "interfaces", "index": index,
                              "ifName": f"Eth1/{index}", "ifHCInOctets": 1000 * at,
                              IN: rate_in, OUT: rate_out, "ifHighSpeed": 1000, **more}
    if rate_in is None:
        record[f"{IN}_reason"] = "first_sample"
    return record


def fetch(path: Path, start: int, end: int, daemon: str | None = None,
          cf: str = "AVERAGE") -> dict[int, dict[str, float]]:
    """`rrdtool fetch` as an operator runs it: {row end time: {data source: value}}."""
    # a row is named by its end: the one ending at `start` begins a step earlier
    command = ["rrdtool", "fetch", str(path), cf, "-s", str(start - STEP_S), "-e", str(end),
               "-r", str(STEP_S)]
    if daemon:
        command += ["--daemon", daemon]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout
    header, *lines = [line for line in out.splitlines() if line.strip()]
    names = header.split()
    rows = {}
    for line in lines:
        stamp, _, values = line.partition(":")
        rows[int(stamp)] = dict(zip(names, (float(v) for v in values.split()), strict=True))
    return rows


def close(a: float, b: float) -> bool:
    # `rrdtool fetch` prints 11 significant digits
    return math.isclose(a, b, rel_tol=1e-9)


# -- layout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Eth1/1", "../x", "..", ".", "", ".hidden", "a/../../b",
                                  "x" * 400, "é/\\\x00"])
def test_names_never_leave_their_directory(tmp_path: Path, name: str) -> None:
    path = row_path(tmp_path, name, name, name)
    assert path.resolve().is_relative_to(tmp_path.resolve())
    assert path.relative_to(tmp_path).parts[1:3] == ("tables", encode(name))
    assert len(path.relative_to(tmp_path).parts) == 4
    assert all(len(part) <= 200 and not part.startswith(".")
               for part in path.relative_to(tmp_path).parts)


@given(st.text(max_size=60), st.text(max_size=60))
def test_two_names_never_share_a_file(a: str, b: str) -> None:
    if a != b:
        assert encode(a) != encode(b)
    assert "/" not in encode(a) and encode(a) not in (".", "..", "")


def test_a_table_and_a_group_of_one_name_are_two_files(tmp_path: Path) -> None:
    assert row_path(tmp_path, "d", "x.rrd", "1") != group_path(tmp_path, "d", "x")
    assert row_path(tmp_path, "d", "t", "1").parent != group_path(tmp_path, "d", "t").parent


@pytest.mark.parametrize("field", ["ifHCInOctets_bps", "ifHCOutUcastPkts_rate",
                                   "ifInUnknownProtos_rate", "aVeryLongCustomColumnName_rate",
                                   "weird-name.x"])
def test_data_source_names_are_ones_rrd_takes(field: str) -> None:
    name = ds_name(field)
    assert 1 <= len(name) <= 19 and name.replace("_", "").isalnum()
    assert ds_name(field) == name  # stable


def test_archives_reach_as_far_as_mrtg(tmp_path: Path) -> None:
    """Each archive of a created file covers its stated reach at its stated resolution."""
    config = fleet(tmp_path)
    store = store_for(config, tmp_path / "rrd")
    store.add("row", row("1", T0, 1.0, 2.0), T0)
    store.flush()
    info = subprocess.run(["rrdtool", "info", str(row_path(tmp_path / "rrd", "sw1",
                                                           "interfaces", "1"))],
                          capture_output=True, text=True, check=True).stdout
    values = dict(line.split(" = ", 1) for line in info.splitlines())
    archives = set()
    for i in range(len(values)):
        if f"rra[{i}].cf" not in values:
            break
        pdp = int(values[f"rra[{i}].pdp_per_row"])
        archives.add((values[f"rra[{i}].cf"].strip('"'), pdp * STEP_S,
                      pdp * STEP_S * int(values[f"rra[{i}].rows"])))
    for every_s, reach_s, functions in ARCHIVES:
        for function in functions:
            assert any(cf == function and length == (every_s or STEP_S) and reach >= reach_s
                       for cf, length, reach in archives), (function, every_s, reach_s, archives)
    assert values["ds[ifHCInOctets_bps].minimal_heartbeat"] == str(2 * STEP_S)


# -- values ------------------------------------------------------------------------------------


def test_rates_read_back_as_written_and_nulls_are_gaps(tmp_path: Path) -> None:
    config = fleet(tmp_path)
    store = store_for(config, tmp_path / "rrd")
    rates = [(None, None), (1e6, 2.5e5), (1.5e6, None), (12345.678, 9.75), (0.0, 3e9)]
    for i, (rate_in, rate_out) in enumerate(rates):
        at = T0 + i * STEP_S
        store.add("row", row("1", at, rate_in, rate_out), at)
        store.add("poll", {"device": "sw1", "status": "ok"}, at)
    store.flush()
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "1"), T0, T0 + 4 * STEP_S)
    for i, (rate_in, rate_out) in enumerate(rates):
        values = got[T0 + i * STEP_S]
        for name, want in ((IN, rate_in), (OUT, rate_out)):
            if want is None:
                assert math.isnan(values[name]), (i, name, values)
            else:
                assert close(values[name], want), (i, name, values)
        assert math.isnan(values[ds_name("ifInErrors_rate")])  # not in the record: unknown
    assert store.counts.stored == len(rates)


def test_a_missed_poll_is_a_gap_not_a_line_across(tmp_path: Path) -> None:
    """A failed poll between two good ones: unknown at its time, though the next rate comes
    within the heartbeat (which alone would draw the next value across the gap)."""
    config = fleet(tmp_path)
    store = store_for(config, tmp_path / "rrd")
    store.add("row", row("1", T0, 10.0, 20.0), T0)
    store.add("row", row("2", T0, 30.0, 40.0), T0)
    store.add("poll", {"device": "sw1", "status": "timeout"}, T0 + STEP_S)
    store.add("row", row("1", T0 + 2 * STEP_S, 11.0, 21.0), T0 + 2 * STEP_S)
    store.add("poll", {"device": "sw1", "status": "partial",
                       "failed_parts": [{"part": "interfaces", "error_type": "timeout"}]},
              T0 + 3 * STEP_S)
    store.add("row", row("1", T0 + 4 * STEP_S, 12.0, 22.0), T0 + 4 * STEP_S)
    store.flush()
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "1"), T0, T0 + 4 * STEP_S)
    assert [got[T0 + i * STEP_S][IN] for i in (0, 2, 4)] == [10.0, 11.0, 12.0]
    assert math.isnan(got[T0 + STEP_S][IN]) and math.isnan(got[T0 + 3 * STEP_S][IN])
    # row 2 vanished after the failed poll: unknown from then on, by the heartbeat
    other = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "2"), T0, T0 + 4 * STEP_S)
    assert other[T0][IN] == 30.0
    assert all(math.isnan(other[T0 + i * STEP_S][IN]) for i in range(1, 5))


def test_a_partial_poll_leaves_the_parts_it_read(tmp_path: Path) -> None:
    config = fleet(tmp_path)
    store = store_for(config, tmp_path / "rrd")
    group = {"device": "ups1", "group": "ups", "hrSystemProcesses": 42, "snmpInPkts_rate": 0.5,
             "sysUpTime": 100}
    store.add("scalars", group, T0)
    store.add("scalars", {**group, "hrSystemProcesses": 41, "snmpInPkts_rate": None},
              T0 + STEP_S)
    store.add("poll", {"device": "ups1", "status": "partial",
                       "failed_parts": [{"part": "interfaces", "error_type": "timeout"}]},
              T0 + STEP_S)
    store.flush()
    got = fetch(group_path(tmp_path / "rrd", "ups1", "ups"), T0, T0 + STEP_S)
    assert set(got[T0]) == {"hrSystemProcesses", "snmpInPkts_rate"}  # a gauge, a rate
    assert [got[T0 + i * STEP_S]["hrSystemProcesses"] for i in (0, 1)] == [42.0, 41.0]
    assert got[T0]["snmpInPkts_rate"] == 0.5 and math.isnan(got[T0 + STEP_S]["snmpInPkts_rate"])
    assert not (tmp_path / "rrd" / "ups1" / "scalars" / "system.rrd").exists()  # nothing kept


def test_updates_at_or_before_the_last_are_skipped_and_counted(tmp_path: Path) -> None:
    config = fleet(tmp_path)
    store = store_for(config, tmp_path / "rrd")
    store.add("row", row("1", T0 + STEP_S, 5.0, 5.0), T0 + STEP_S)
    store.flush()
    store.add("row", row("1", T0, 1.0, 1.0), T0)
    store.add("row", row("1", T0 + STEP_S, 2.0, 2.0), T0 + STEP_S)
    store.add("row", row("1", T0 + 2 * STEP_S, 3.0, 3.0), T0 + 2 * STEP_S)
    store.flush()
    assert (store.counts.stored, store.counts.skipped, store.counts.failed) == (2, 2, 0)
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "1"), T0, T0 + 2 * STEP_S)
    assert [got[T0 + i * STEP_S][IN] for i in (1, 2)] == [5.0, 3.0]


def test_records_of_unknown_devices_are_counted_not_stored(tmp_path: Path) -> None:
    store = store_for(fleet(tmp_path), tmp_path / "rrd")
    store.add("row", {**row("1", T0, 1.0, 1.0), "device": "ghost"}, T0)
    store.flush()
    assert store.counts.ignored == 1 and not (tmp_path / "rrd").exists()


def test_a_file_made_with_other_fields_keeps_its_data_sources(tmp_path: Path) -> None:
    """A change of [history] fields: old files take the fields they have, the rest unknown."""
    config = fleet(tmp_path)
    settings = default_settings(config.profiles, tmp_path / "rrd")
    narrow = HistorySettings(directory=settings.directory,
                             fields=(("interfaces", (OUT, IN)),))
    first = HistoryStore(narrow, plans_for(config.devices, narrow), RrdFiles())
    first.add("row", row("1", T0, 1.0, 2.0), T0)
    first.flush()
    second = store_for(config, tmp_path / "rrd")
    second.add("row", row("1", T0 + STEP_S, 3.0, 4.0), T0 + STEP_S)
    second.flush()
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "1"), T0, T0 + STEP_S)
    assert set(got[T0]) == {OUT, IN}
    assert (got[T0 + STEP_S][IN], got[T0 + STEP_S][OUT]) == (3.0, 4.0)
    assert second.counts.failed == 0


def test_a_librrd_failure_is_counted_with_its_reason(tmp_path: Path) -> None:
    config = fleet(tmp_path)
    (tmp_path / "rrd" / "sw1" / "tables" / "interfaces").mkdir(parents=True)
    row_path(tmp_path / "rrd", "sw1", "interfaces", "1").write_text("not an rrd")
    store = store_for(config, tmp_path / "rrd")
    store.add("row", row("1", T0, 1.0, 1.0), T0)
    store.add("row", row("2", T0, 1.0, 1.0), T0)
    store.flush()
    assert (store.counts.failed, store.counts.stored) == (1, 1)
    assert store.last_error is not None and "1.rrd" in store.last_error


# -- the writer --------------------------------------------------------------------------------


def test_the_writer_stores_off_the_callers_thread(tmp_path: Path) -> None:
    store = store_for(fleet(tmp_path), tmp_path / "rrd")
    clock = iter(range(T0, T0 + 100 * STEP_S, STEP_S))
    writer = HistoryWriter(store, clock=lambda: next(clock))
    try:
        for value in (1.0, 2.0, 3.0):
            writer.data_many("row", [row("1", 0, value, value), row("2", 0, value, None)])
            writer.data("poll", device="sw1", status="ok")
        assert writer.wait_idle(10)
    finally:
        writer.close()
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "2"), T0, T0 + 4 * STEP_S)
    # the clock ran once per call: rows at T0, T0+2 step, T0+4 step
    assert [got[T0 + i * STEP_S][IN] for i in (0, 2, 4)] == [1.0, 2.0, 3.0]
    assert math.isnan(got[T0 + 2 * STEP_S][OUT])
    assert writer.stats()["history_stored"] == 6


class _StalledFiles(RrdFiles):
    """librrd, with updates held until released: a disk that stopped answering."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def update(self, path: Path, lines: list[str]) -> None:
        self.release.wait(10)
        super().update(path, lines)


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    config = fleet(tmp_path)
    settings = default_settings(config.profiles, tmp_path / "rrd")
    files = _StalledFiles()
    store = HistoryStore(settings, plans_for(config.devices, settings), files)
    writer = HistoryWriter(store, queue_max=10, clock=lambda: T0)
    try:
        writer.data_many("row", [row("1", T0, 1.0, 1.0)])  # taken by the thread, which stalls
        time.sleep(0.2)
        started = time.perf_counter()
        for _ in range(30):
            writer.data_many("row", [row("1", T0, 1.0, 1.0)])
        elapsed_s = time.perf_counter() - started
        assert elapsed_s < 0.05
        assert writer.dropped == 20 and writer.take_drops() == 20 and writer.take_drops() == 0
    finally:
        files.release.set()
        writer.close()
    assert writer.stats()["history_dropped"] == 20
    assert writer.data_many("row", [row("1", T0, 1.0, 1.0)]) is None and writer.dropped == 21


def test_a_reload_hands_the_writer_new_plans(tmp_path: Path) -> None:
    """A device removed by a reload: its records are no longer stored, but counted."""
    store = store_for(fleet(tmp_path), tmp_path / "rrd")
    clock = iter(range(T0, T0 + 100 * STEP_S, STEP_S))
    writer = HistoryWriter(store, clock=lambda: next(clock))
    try:
        writer.data_many("row", [row("1", 0, 1.0, 1.0)])
        writer.replace_plans({name: plan for name, plan in store.plans.items() if name != "sw1"})
        writer.data_many("row", [row("1", 0, 2.0, 2.0)])
        assert writer.wait_idle(10)
    finally:
        writer.close()
    assert (store.counts.stored, store.counts.ignored) == (1, 1)

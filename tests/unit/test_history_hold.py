"""The daemon's store holds each file's updates until they span a minute and writes them in one
librrd call: checked against real RRD files read back with `rrdtool fetch`, and against the
calls librrd was asked to make. Held values are never lost at a graceful stop or a reload, a
missed poll among them is still a gap, and the `stats` figures count them."""

from __future__ import annotations

import math
import time
from pathlib import Path

from poller.config.history import DEFAULT_HOLD_S as HOLD_S
from poller.config.history import default_settings
from poller.config.model import Config
from poller.history.layout import row_path
from poller.history.rrd import RrdFiles
from poller.history.store import HOLD_MAX, HistoryStore, plans_for
from poller.history.writer import HistoryWriter
from tests.unit.test_history import FLEET, IN, OUT, STEP_S, T0, fetch, fleet, row


class _CountedFiles(RrdFiles):
    """librrd, with each update call remembered: (file name, number of values)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def update(self, path: Path, lines: list[str]) -> None:
        self.calls.append((path.name, len(lines)))
        super().update(path, lines)


def held_store(config: Config, directory: Path, hold_s: int = HOLD_S
               ) -> tuple[HistoryStore, _CountedFiles]:
    settings = default_settings(config.profiles, directory)
    files = _CountedFiles()
    return HistoryStore(settings, plans_for(config.devices, settings), files,
                        hold_s=hold_s), files


def test_a_files_updates_are_held_until_they_span_the_hold(tmp_path: Path) -> None:
    """A new file is written at once; the next polls, 15 s apart and one of them missed, are
    held until one comes HOLD_S after the first held, then written in one call; the missed
    poll is unknown, not zero."""
    store, files = held_store(fleet(tmp_path), tmp_path / "rrd")
    path = row_path(tmp_path / "rrd", "sw1", "interfaces", "1")
    for i, rate in enumerate((1.0, 2.0, None, 4.0, 6.0)):
        at = T0 + i * 15
        if rate is None:
            store.add("poll", {"device": "sw1", "status": "timeout"}, at)
        else:
            store.add("row", row("1", at, rate, 10 * rate), at)
        store.flush_due(at)
        assert path.exists() and files.calls == [("1.rrd", 1)]
    assert store.held == 4 and store.counts.stored == 1
    store.add("row", row("1", T0 + 15 + HOLD_S, 8.0, 80.0), T0 + 15 + HOLD_S)
    store.flush_due(T0 + 15 + HOLD_S)
    assert files.calls == [("1.rrd", 1), ("1.rrd", 5)] and store.held == 0
    assert (store.counts.stored, store.counts.skipped, store.counts.failed) == (6, 0, 0)
    got = fetch(path, T0, T0 + STEP_S)
    assert got[T0][IN] == 1.0 and got[T0][OUT] == 10.0
    # the 60 s row after T0 averages the 15 s values it holds: 2, unknown, 4, 6 (with the
    # missed poll as zero it would be 3)
    assert math.isclose(got[T0 + STEP_S][IN], (2.0 + 4.0 + 6.0) / 3)


def test_at_a_60_s_interval_two_polls_go_in_one_call_and_a_missed_one_is_a_gap(
        tmp_path: Path) -> None:
    store, files = held_store(fleet(tmp_path), tmp_path / "rrd")
    store.add("row", row("1", T0, 10.0, 20.0), T0)
    store.flush_due(T0)
    store.add("poll", {"device": "sw1", "status": "timeout"}, T0 + STEP_S)
    store.flush_due(T0 + STEP_S)
    store.add("row", row("1", T0 + 2 * STEP_S, 12.0, 22.0), T0 + 2 * STEP_S)
    store.flush_due(T0 + 2 * STEP_S)
    store.add("row", row("1", T0 + 3 * STEP_S, 13.0, 23.0), T0 + 3 * STEP_S)
    store.flush_due(T0 + 3 * STEP_S)
    assert files.calls == [("1.rrd", 1), ("1.rrd", 2)] and store.held == 1
    store.flush()
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "1"), T0, T0 + 3 * STEP_S)
    assert [got[T0 + i * STEP_S][IN] for i in (0, 2, 3)] == [10.0, 12.0, 13.0]
    assert math.isnan(got[T0 + STEP_S][IN]) and math.isnan(got[T0 + STEP_S][OUT])


def test_a_late_or_missing_poll_holds_a_file_one_and_a_half_holds_at_most(
        tmp_path: Path) -> None:
    store, files = held_store(fleet(tmp_path), tmp_path / "rrd")
    store.add("row", row("1", T0, 1.0, 1.0), T0)
    store.add("row", row("1", T0 + STEP_S, 2.0, 2.0), T0 + STEP_S)
    store.flush_due(T0 + STEP_S)  # the new file at once, its second value held
    assert files.calls == [("1.rrd", 2)]
    store.add("row", row("1", T0 + 2 * STEP_S, 3.0, 3.0), T0 + 2 * STEP_S)
    store.flush_due(T0 + 2 * STEP_S + HOLD_S * 3 // 2 - 1)
    assert files.calls == [("1.rrd", 2)] and store.held == 1
    store.flush_due(T0 + 2 * STEP_S + HOLD_S * 3 // 2)
    assert files.calls == [("1.rrd", 2), ("1.rrd", 1)] and store.held == 0


def test_a_file_holding_hold_max_updates_is_written_at_once(tmp_path: Path) -> None:
    store, files = held_store(fleet(tmp_path), tmp_path / "rrd", hold_s=10 * HOLD_MAX)
    for i in range(HOLD_MAX + 1):
        store.add("row", row("1", T0 + i, float(i), 0.0), T0 + i)
        if i < 2:
            store.add("row", row("2", T0 + i, float(i), 0.0), T0 + i)
        store.flush_due(T0 + i)
    # each new file's first update at once; row 1's next ones when HOLD_MAX of them are
    # held; row 2's second waits for its time
    assert files.calls == [("1.rrd", 1), ("2.rrd", 1), ("1.rrd", HOLD_MAX)]
    assert store.held == 1


def test_a_step_longer_than_the_hold_is_not_held(tmp_path: Path) -> None:
    store, files = held_store(fleet(tmp_path), tmp_path / "rrd", hold_s=STEP_S // 2)
    for i in range(3):
        store.add("row", row("1", T0 + i * STEP_S, 1.0, 1.0), T0 + i * STEP_S)
        store.flush_due(T0 + i * STEP_S)
    assert files.calls == [("1.rrd", 1)] * 3 and store.held == 0


def test_a_clock_stepped_back_holds_nothing_longer(tmp_path: Path) -> None:
    store, files = held_store(fleet(tmp_path), tmp_path / "rrd")
    store.add("row", row("1", T0, 1.0, 1.0), T0)
    store.flush_due(T0)
    store.add("row", row("1", T0 + STEP_S, 1.0, 1.0), T0 + STEP_S)
    store.flush_due(T0 + STEP_S)
    assert files.calls == [("1.rrd", 1)] and store.held == 1
    store.flush_due(T0 - 3600)  # the clock went back an hour
    assert files.calls == [("1.rrd", 1), ("1.rrd", 1)] and store.held == 0


def test_the_writer_wakes_for_a_held_file_without_new_records(tmp_path: Path) -> None:
    """A 1 s interval and a 1 s hold: the second value is due a second after it came; the
    writer's thread writes it then by itself (no record comes to wake it)."""
    config = fleet(tmp_path, FLEET.replace('interval = "60s"', 'interval = "1s"\n'
                                           'timeout = "0.2s"\nretries = 0'))
    store, files = held_store(config, tmp_path / "rrd", hold_s=1)
    now = [T0]
    writer = HistoryWriter(store, clock=lambda: now[0])
    try:
        writer.data_many("row", [row("1", 0, 5.0, 6.0)])  # a new file: written at once
        assert writer.wait_idle(10)
        now[0] = T0 + 1
        writer.data_many("row", [row("1", 0, 7.0, 8.0)])  # held until T0 + 2
        assert writer.wait_idle(10)
        assert writer.stats()["history_stored"] == 1 and writer.stats()["history_queued"] == 1
        now[0] = T0 + 2
        deadline = time.monotonic() + 10
        while writer.stats()["history_stored"] == 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.stats()["history_stored"] == 2 and writer.stats()["history_queued"] == 0
        assert files.calls == [("1.rrd", 1), ("1.rrd", 1)]
    finally:
        writer.close()


def test_close_and_a_reload_write_everything_held(tmp_path: Path) -> None:
    """A graceful stop and a reload lose nothing held; `history_queued` counts what is held."""
    config = fleet(tmp_path)
    store, files = held_store(config, tmp_path / "rrd")
    now = [T0]
    writer = HistoryWriter(store, clock=lambda: now[0])
    try:
        for i in range(3):
            now[0] = T0 + i * STEP_S // 4
            writer.data_many("row", [row("1", 0, float(i), 1.0), row("2", 0, float(i), 1.0)])
            assert writer.wait_idle(10)  # the first batch alone: the new files
        assert writer.stats()["history_queued"] == 4 and writer.stats()["history_stored"] == 2
        writer.replace_plans(dict(store.plans))
        assert writer.wait_idle(10)
        assert writer.stats()["history_stored"] == 6 and writer.stats()["history_queued"] == 0
        now[0] = T0 + STEP_S
        writer.data_many("row", [row("1", 0, 7.0, 8.0)])
        assert writer.wait_idle(10) and writer.stats()["history_stored"] == 6
    finally:
        writer.close()
    stats = writer.stats()
    assert (stats["history_stored"], stats["history_queued"], stats["history_failed"]) == \
        (7, 0, 0)
    assert sorted(files.calls) == [("1.rrd", 1), ("1.rrd", 1), ("1.rrd", 2), ("2.rrd", 1),
                                   ("2.rrd", 2)]
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "1"), T0, T0 + STEP_S)
    # the row after T0 holds every value written: 1 for 15 s, 2 for 15 s, 7 for 30 s
    assert math.isclose(got[T0 + STEP_S][IN], (15 * 1.0 + 15 * 2.0 + 30 * 7.0) / STEP_S)
    assert got[T0][IN] == 0.0 and got[T0 + STEP_S][OUT] == (30 * 1.0 + 30 * 8.0) / STEP_S

"""History through a real rrdcached on a unix socket: files are created and updated through the
cache daemon, and what `rrdtool fetch --daemon` reads back are the records' rates and gaps."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.history.layout import row_path
from poller.history.writer import HistoryWriter
from tests.unit.test_history import IN, OUT, STEP_S, T0, fetch, fleet, row, store_for

pytestmark = pytest.mark.skipif(shutil.which("rrdcached") is None,
                                reason="rrdcached is not installed (make history-deps)")


@pytest.fixture
def rrdcached(tmp_path: Path) -> Iterator[str]:
    """rrdcached in the foreground on a socket in tmp_path, holding writes (-w 3600) so that
    only its own flush puts them on disk; stopped by its pid."""
    socket = tmp_path / "rrdcached.sock"
    (tmp_path / "journal").mkdir()
    process = subprocess.Popen(
        ["rrdcached", "-g", "-l", f"unix:{socket}", "-p", str(tmp_path / "rrdcached.pid"),
         "-j", str(tmp_path / "journal"), "-w", "3600", "-f", "7200", "-F",
         "-b", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "rrdcached did not open its socket"
            time.sleep(0.02)
        yield f"unix:{socket}"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(10)


def test_updates_go_through_rrdcached(tmp_path: Path, rrdcached: str) -> None:
    config = fleet(tmp_path)
    store = store_for(config, tmp_path / "rrd", rrdcached=rrdcached)
    clock = iter(range(T0, T0 + 100 * STEP_S, STEP_S))
    writer = HistoryWriter(store, clock=lambda: next(clock))
    rates = [(1e6, None), (2e6, 3.5), (3e6, 4.5)]
    try:
        for rate_in, rate_out in rates:
            writer.data_many("row", [row("1", 0, rate_in, rate_out)])
        writer.data("poll", device="sw1", status="error")
        writer.data_many("row", [row("1", 0, 5e6, 6.5)])
        assert writer.wait_idle(10)
    finally:
        writer.close()
    assert writer.stats()["history_stored"] == 5 and store.counts.failed == 0
    path = row_path(tmp_path / "rrd", "sw1", "interfaces", "1")
    # the daemon holds the updates: the file on disk has none yet, the daemon has them all
    on_disk = fetch(path, T0, T0 + 4 * STEP_S)
    assert all(math.isnan(values[IN]) for values in on_disk.values())
    got = fetch(path, T0, T0 + 4 * STEP_S, daemon=rrdcached)
    for i, (rate_in, rate_out) in enumerate(rates):
        assert got[T0 + i * STEP_S][IN] == rate_in
        want_out = got[T0 + i * STEP_S][OUT]
        assert math.isnan(want_out) if rate_out is None else want_out == rate_out
    assert math.isnan(got[T0 + 3 * STEP_S][IN])  # the failed poll
    assert got[T0 + 4 * STEP_S][IN] == 5e6
    # after the daemon's flush the file itself says the same
    store.files.flush(path)
    assert fetch(path, T0, T0 + 4 * STEP_S)[T0 + 4 * STEP_S][OUT] == 6.5


def test_a_second_pass_through_rrdcached_is_skipped(tmp_path: Path, rrdcached: str) -> None:
    """RRD's refusal of old updates comes back through the daemon too: counted, not failed."""
    config = fleet(tmp_path)
    for expected in ((2, 0), (0, 2)):
        store = store_for(config, tmp_path / "rrd", rrdcached=rrdcached)
        for i in range(2):
            store.add("row", row("1", 0, 1.0 + i, 2.0), T0 + i * STEP_S)
        store.flush()
        assert (store.counts.stored, store.counts.skipped, store.counts.failed) == (*expected, 0)

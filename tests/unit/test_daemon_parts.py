"""Pieces of the lifecycle that are pure: the watchdog's rule and the stats record."""

from __future__ import annotations

from typing import Any

import pytest

from poller.run.lifecycle import polls_completing
from poller.run.local import stats_fields
from poller.run.scheduler import Window


@pytest.mark.parametrize(
    "since_progress_s, expected",
    [(0.0, True), (60.0, True), (124.0, True), (125.5, False), (3600.0, False)],
)
def test_the_watchdog_is_fed_only_while_summaries_keep_coming(since_progress_s: float, expected: bool) -> None:
    # slowest device every 60 s, pings every 5 s: silence beyond 2 x 60 + 5 s means stalled
    assert polls_completing(1000.0 + since_progress_s, 1000.0, 60.0, 5.0) is expected


class FakeScheduler:
    devices = 3
    in_flight = 1

    def __init__(self, window: Window) -> None:
        self._window = window

    def take_window(self) -> Window:
        return self._window


class FakeRecorder:
    written = 42
    dropped = 0


def test_stats_counts_statuses_and_lag_quantiles() -> None:
    window = Window()
    summaries: list[dict[str, Any]] = [
        {"status": "ok", "queue_delay_s": d / 1000} for d in range(1, 100)
    ] + [{"status": "skipped", "error_type": "overrun"}, {"status": "timeout", "queue_delay_s": 0.5}]
    for summary in summaries:
        window.note(summary)
    fields = stats_fields(FakeScheduler(window), FakeRecorder(), 0.0123)  # type: ignore[arg-type]
    assert fields["polls"] == {"ok": 99, "skipped": 1, "timeout": 1}
    assert fields["overruns"] == 1
    assert fields["lag_p50_s"] == 0.05 and fields["lag_max_s"] == 0.5
    assert fields["lag_p99_s"] == 0.099
    assert (fields["devices"], fields["in_flight"], fields["records_written"]) == (3, 1, 42)
    assert fields["loop_lag_s"] == 0.0123 and fields["rss_mib"] > 0 and fields["open_fds"] > 0

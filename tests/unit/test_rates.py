"""Counter rates: wraps at the counter's own width, restarts, first samples, no spikes."""

from __future__ import annotations

import pytest

from poller.poll.rates import CounterTracker

W32, W64 = 2**32, 2**64


def rate(tracker: CounterTracker, key: object, value: int, width: int, at_s: float) -> float | str:
    """The rate of counter `key`: (table, index, column) as a table row's counter, else a
    scalar's name."""
    if isinstance(key, tuple) and len(key) == 3:
        table, index, column = key
        return tracker.rate_or_reason(tracker.series((table, column)), index, value, width, at_s)
    return tracker.rate_or_reason(tracker.series(key), (), value, width, at_s)


@pytest.mark.parametrize(
    "width, first, second, elapsed, expected",
    [
        (W32, 1_000, 11_000, 10.0, 1000.0),
        (W32, W32 - 500, 500, 10.0, 100.0),  # one wrap of a Counter32
        (W32, 5, 5, 10.0, 0.0),
        (W64, 2**63, 2**63 + 2**40, 2.0, 2**39),
        (W64, 10**15, 10**12, 10.0, "counter_reset"),  # a 64-bit counter went back
        (W64, 100, 200, 0.0, "no_elapsed_time"),
    ],
)
def test_rate_between_two_samples(
    width: int, first: int, second: int, elapsed: float, expected: float | str
) -> None:
    tracker = CounterTracker()
    assert rate(tracker, "c", first, width, 100.0) == "first_sample"
    assert rate(tracker, "c", second, width, 100.0 + elapsed) == expected


def test_counters_are_independent_by_key() -> None:
    tracker = CounterTracker()
    rate(tracker, ("if", 1), 0, W64, 0.0)
    assert rate(tracker, ("if", 2), 50, W64, 10.0) == "first_sample"
    assert rate(tracker, ("if", 1), 100, W64, 10.0) == 10.0


def test_an_agent_restart_forgets_every_counter_once() -> None:
    tracker = CounterTracker()
    assert tracker.note_uptime(5_000_000, 0.0) is False
    rate(tracker, "c", 10**9, W32, 0.0)
    assert tracker.note_uptime(1_000, 60.0) is True
    assert rate(tracker, "c", 300, W32, 60.0) == "agent_restart"
    assert tracker.note_uptime(7_000, 120.0) is False
    assert rate(tracker, "c", 600, W32, 120.0) == 5.0


def test_uptime_moving_forward_or_jittering_is_not_a_restart() -> None:
    tracker = CounterTracker()
    assert tracker.note_uptime(100_000, 0.0) is False
    assert tracker.note_uptime(106_000, 60.0) is False
    assert tracker.note_uptime(105_900, 61.0) is False  # a coarse agent clock, within tolerance


def test_a_timeticks_wrap_after_497_days_is_not_a_restart() -> None:
    tracker = CounterTracker()
    tracker.note_uptime(2**32 - 3_000, 0.0)
    rate(tracker, "c", 1_000, W64, 0.0)
    assert tracker.note_uptime(3_000, 60.0) is False  # 60 s later, uptime went round
    assert rate(tracker, "c", 1_600, W64, 60.0) == 10.0


def test_a_missing_uptime_changes_nothing() -> None:
    tracker = CounterTracker()
    tracker.note_uptime(50_000, 0.0)
    assert tracker.note_uptime(None, 10.0) is False
    assert tracker.note_uptime(10, 20.0) is True


def test_prune_drops_rows_that_vanished() -> None:
    tracker = CounterTracker()
    for key in ("a", "b", "c"):
        rate(tracker, key, 1, W64, 0.0)
    assert tracker.prune() == 0
    rate(tracker, "a", 2, W64, 10.0)
    assert tracker.prune() == 2
    assert len(tracker) == 1
    assert rate(tracker, "b", 3, W64, 20.0) == "first_sample"


def test_a_changed_discontinuity_marker_resets_only_that_rows_counters() -> None:
    tracker = CounterTracker()
    assert tracker.note_discontinuity(("if", (1,)), 0) is False
    tracker.note_discontinuity(("if", (2,)), 0)
    rate(tracker, ("if", (1,), "in"), 100, W64, 0.0)
    rate(tracker, ("if", (2,), "in"), 100, W64, 0.0)
    assert tracker.note_discontinuity(("if", (1,)), 4711) is True  # the line card was swapped
    assert tracker.note_discontinuity(("if", (2,)), 0) is False
    assert rate(tracker, ("if", (1,), "in"), 5, W64, 10.0) == "counter_discontinuity"
    assert rate(tracker, ("if", (2,), "in"), 200, W64, 10.0) == 10.0
    assert rate(tracker, ("if", (1,), "in"), 15, W64, 20.0) == 1.0


def test_a_timeticks_wrap_seen_slightly_early_by_our_clock_is_not_a_restart() -> None:
    tracker = CounterTracker()
    tracker.note_uptime(2**32 - 6_100, 0.0)  # by our clock the wrap is 1 s away, the agent is ahead
    assert tracker.note_uptime(100, 60.0) is False
    assert tracker.note_uptime(6_100, 120.0) is False
    assert tracker.note_uptime(50, 180.0) is True  # a real restart still counts after a wrap


def test_a_pending_discontinuity_reason_does_not_outlive_its_row() -> None:
    tracker = CounterTracker()
    row, key = ("if", (7,)), ("if", (7,), "in")
    tracker.note_discontinuity(row, 0)
    rate(tracker, key, 100, W64, 0.0)
    tracker.prune()
    tracker.note_discontinuity(row, 1)  # the row changed, then its counter vanished this poll
    tracker.prune()
    tracker.prune()  # and the row stayed away
    assert rate(tracker, key, 5, W64, 30.0) == "first_sample"


def test_a_row_known_only_by_its_discontinuity_marker_is_kept_by_prune() -> None:
    tracker = CounterTracker()
    tracker.note_discontinuity(("if", (1,)), 0)
    tracker.prune()
    assert tracker.note_discontinuity(("if", (1,)), 9) is True


def test_a_discontinuity_resets_that_row_in_its_own_table_only() -> None:
    tracker = CounterTracker()
    tracker.note_discontinuity(("if", (1,)), 0)
    for key in (("if", (1,), "in"), ("if", (1,), "out"), ("ifx", (1,), "in"), ("if", (2,), "in")):
        rate(tracker, key, 100, W64, 0.0)
    assert tracker.note_discontinuity(("if", (1,)), 1) is True
    assert rate(tracker, ("if", (1,), "in"), 110, W64, 10.0) == "counter_discontinuity"
    assert rate(tracker, ("if", (1,), "out"), 110, W64, 10.0) == "counter_discontinuity"
    assert rate(tracker, ("ifx", (1,), "in"), 110, W64, 10.0) == 1.0
    assert rate(tracker, ("if", (2,), "in"), 110, W64, 10.0) == 1.0

"""Counter arithmetic: deltas, wraps, agent restarts and per-second rates. Pure, no I/O.

One CounterTracker per device lives across its polls, one Series per column in it. A rate is never
invented: the first sample, a restart of the agent, a 64-bit counter that went back, or no
elapsed time give `None` and the reason, never a spike.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

#: TimeTicks (sysUpTime) wrap at 2^32 hundredths of a second: after ~497 days
TICKS_WRAP = 2**32
#: how far sysUpTime may lag the wall clock before a smaller value counts as a restart (ticks);
#: agents update it coarsely, and our own clock reads it a little before or after the answer
UPTIME_TOLERANCE_TICKS = 500


class Series(dict[Hashable, tuple[int, float, int]]):
    """The counters of one column (or one scalar) of a device: index -> (last value, its time,
    the tracker's generation when it was sampled). A poll looks a column's series up once and
    then each row's counter by its index alone."""

    __slots__ = ("name", "reasons")

    def __init__(self, name: Hashable) -> None:
        super().__init__()
        self.name = name
        #: why a counter's previous value was dropped, by index, for its next rate
        self.reasons: dict[Hashable, str] = {}


class CounterTracker:
    """Last value and time of every counter of one device, in one Series per column (named
    (table, column) for table columns, (group, column) for scalars)."""

    __slots__ = (
        "_generation",
        "_markers",
        "_restarted",
        "_rows_seen",
        "_series",
        "_uptime",
        "labels",
    )

    def __init__(self) -> None:
        self._series: dict[Hashable, Series] = {}
        #: counts prunes: a counter whose entry carries an older one was not sampled since
        self._generation = 0
        #: rows whose discontinuity marker was read since the last prune
        self._rows_seen: set[Hashable] = set()
        self._uptime: tuple[int, float] | None = None
        self._restarted = False
        #: discontinuity markers (e.g. ifCounterDiscontinuityTime) by row
        self._markers: dict[Hashable, int] = {}
        #: the device's label cache (poller.poll.labels), kept across polls with its counters
        self.labels: Any = None

    def series(self, name: Hashable) -> Series:
        """The counters of column `name`, created on first use."""
        found = self._series.get(name)
        if found is None:
            found = self._series[name] = Series(name)
        return found

    def note_discontinuity(self, row: tuple[Any, ...], marker: int) -> bool:
        """Record a row's discontinuity marker (ifCounterDiscontinuityTime); `row` is (table,
        index). When it changed, the row's counters were reset or re-based: their previous
        values are dropped and their next rates say `counter_discontinuity`. Returns whether
        that happened."""
        self._rows_seen.add(row)
        previous = self._markers.get(row)
        self._markers[row] = marker
        if previous is None or previous == marker:
            return False
        table, index = row
        for name, series in self._series.items():
            if isinstance(name, tuple) and name[0] == table and index in series:
                del series[index]
                series.reasons[index] = "counter_discontinuity"
        return True

    def note_uptime(self, ticks: int | None, at_s: float) -> bool:
        """Record sysUpTime at monotonic time `at_s`. True when the agent restarted since the last
        poll; then every counter's previous value is forgotten (their next rate says why)."""
        self._restarted = False
        if ticks is None:
            return False
        previous = self._uptime
        self._uptime = (ticks, at_s)
        if previous is None or ticks >= previous[0] - UPTIME_TOLERANCE_TICKS:
            return False
        if self._wrapped(previous, ticks, at_s):
            return False
        for series in self._series.values():
            series.clear()
        self._restarted = True
        return True

    @staticmethod
    def _wrapped(previous: tuple[int, float], ticks: int, at_s: float) -> bool:
        """A smaller sysUpTime is a TimeTicks wrap when the wall clock says it went round."""
        old_ticks, old_at = previous
        expected = old_ticks + (at_s - old_at) * 100
        # the agent's clock may run a little ahead of ours: a wrap seconds early is still a wrap
        tolerance = max(UPTIME_TOLERANCE_TICKS, 0.01 * (at_s - old_at) * 100)
        return (
            expected >= TICKS_WRAP - tolerance
            and abs((ticks + TICKS_WRAP) - expected) <= tolerance
        )

    def rate_or_reason(
        self, series: Series, index: Hashable, value: int, width: int, at_s: float
    ) -> float | str:
        """The per-second rate of the counter at `index` of `series` (wrapping at `width`)
        since its last sample, as a float; or, when there is none, why, as a str (no object
        per counter)."""
        previous = series.get(index)
        series[index] = (value, at_s, self._generation)
        if previous is None:
            reasons = series.reasons
            reason = reasons.pop(index, None) if reasons else None
            return reason or ("agent_restart" if self._restarted else "first_sample")
        elapsed = at_s - previous[1]
        if elapsed <= 0:
            return "no_elapsed_time"
        delta = value - previous[0]
        if delta < 0:
            if width > 2**32:
                # Counter64 does not wrap in practice (2^64 octets at 100 Gbit/s takes 46 years):
                # going back means the counter was reset.
                return "counter_reset"
            delta += width
        return delta / elapsed

    def prune(self) -> int:
        """Forget counters not sampled since the last prune (rows that vanished). Call once per
        poll, after the poll; returns how many were dropped."""
        generation = self._generation
        self._generation += 1
        dropped = 0
        for series in self._series.values():
            stale = [index for index, entry in series.items() if entry[2] != generation]
            for index in stale:
                del series[index]
            dropped += len(stale)
            for index in [i for i in series.reasons if i not in series]:
                del series.reasons[index]
        # a marker whose row was read again stays; only for the others are the rows of the
        # counters sampled worth collecting (a marker's row may be known by its counters alone)
        orphans = self._markers.keys() - self._rows_seen
        if orphans:
            rows = {(name[0], index) for name, series in self._series.items()
                    if isinstance(name, tuple) for index in series}
            for row in orphans - rows:
                del self._markers[row]
        self._rows_seen = set()
        return dropped

    def __len__(self) -> int:
        return sum(len(series) for series in self._series.values())

    # -- a snapshot's view (poller.poll.snapshot): times are the caller's clock -------------

    def state(self) -> TrackerState:
        """What a later tracker needs to carry on: every counter's last value and time, the last
        sysUpTime, the discontinuity markers, and why counters were dropped."""
        series = {name: ({index: (entry[0], entry[1]) for index, entry in found.items()}, dict(found.reasons))
                  for name, found in self._series.items() if found or found.reasons}
        return TrackerState(series, self._uptime, dict(self._markers))

    def restore(self, state: TrackerState) -> None:
        """Carry on from `state` (taken from another tracker, its times already moved onto this
        one's clock): the next rates are over the true elapsed time."""
        generation = self._generation
        for name, (counters, reasons) in state.series.items():
            found = self.series(name)
            found.update({index: (value, at_s, generation) for index, (value, at_s) in counters.items()})
            found.reasons.update(reasons)
        self._uptime = state.uptime
        self._markers.update(state.markers)


class TrackerState(NamedTuple):
    """A CounterTracker's state as plain values: series name -> (index -> (value, time), index
    -> reason), the last (sysUpTime ticks, time), and row -> discontinuity marker."""

    series: dict[Hashable, tuple[dict[Hashable, tuple[int, float]], dict[Hashable, str]]]
    uptime: tuple[int, float] | None
    markers: dict[Hashable, int]

"""Counter arithmetic: deltas, wraps, agent restarts and per-second rates. Pure, no I/O.

One CounterTracker per device lives across its polls. A rate is never invented: the first sample,
a restart of the agent, a 64-bit counter that went back, or no elapsed time give `None` and the
reason, never a spike.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

#: TimeTicks (sysUpTime) wrap at 2^32 hundredths of a second: after ~497 days
TICKS_WRAP = 2**32
#: how far sysUpTime may lag the wall clock before a smaller value counts as a restart (ticks);
#: agents update it coarsely, and our own clock reads it a little before or after the answer
UPTIME_TOLERANCE_TICKS = 500


class CounterTracker:
    """Last value and time of every counter of one device, keyed by (table, index, column)."""

    __slots__ = (
        "_last",
        "_markers",
        "_reasons",
        "_restarted",
        "_rows_seen",
        "_seen",
        "_uptime",
        "labels",
    )

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[int, float]] = {}
        self._seen: set[Hashable] = set()
        #: rows whose discontinuity marker was read since the last prune
        self._rows_seen: set[Hashable] = set()
        self._uptime: tuple[int, float] | None = None
        self._restarted = False
        #: discontinuity markers (e.g. ifCounterDiscontinuityTime) by row
        self._markers: dict[Hashable, int] = {}
        #: why a counter's previous value was dropped, for its next rate
        self._reasons: dict[Hashable, str] = {}
        #: the device's label cache (poller.labels), kept across polls with its counters
        self.labels: Any = None

    def note_discontinuity(self, row: tuple[Any, ...], marker: int) -> bool:
        """Record a row's discontinuity marker (ifCounterDiscontinuityTime). When it changed, the
        row's counters were reset or re-based: their previous values are dropped and their next
        rates say `counter_discontinuity`. Returns whether that happened."""
        self._rows_seen.add(row)
        previous = self._markers.get(row)
        self._markers[row] = marker
        if previous is None or previous == marker:
            return False
        width = len(row)
        for key in [k for k in self._last if isinstance(k, tuple) and k[:width] == row]:
            del self._last[key]
            self._reasons[key] = "counter_discontinuity"
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
        self._last.clear()
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

    def rate_or_reason(self, key: Hashable, value: int, width: int, at_s: float) -> float | str:
        """The per-second rate of counter `key` (wrapping at `width`) since its last sample, as
        a float; or, when there is none, why, as a str (no object per counter)."""
        self._seen.add(key)
        last = self._last
        previous = last.get(key)
        last[key] = (value, at_s)
        if previous is None:
            reason = self._reasons.pop(key, None) if self._reasons else None
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
        stale = self._last.keys() - self._seen
        for key in stale:
            del self._last[key]
        if self._reasons:
            for key in self._reasons.keys() - self._seen:
                del self._reasons[key]
        # a marker whose row was read again stays; only for the others are the rows of the
        # counters sampled worth collecting (a marker's row may be known by its counters alone)
        orphans = self._markers.keys() - self._rows_seen
        if orphans:
            rows = {k[:2] for k in self._seen if isinstance(k, tuple)}
            for row in orphans - rows:
                del self._markers[row]
        self._seen = set()
        self._rows_seen = set()
        return len(stale)

    def __len__(self) -> int:
        return len(self._last)

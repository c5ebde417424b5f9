"""Counter state as a snapshot another process can carry on from: after a restart, a `--once`
run from cron, or on another host. One JSON object per device, times on the wall clock (a
tracker's own times are its process's monotonic clock, meaningless elsewhere).

A device's entry is refused, and its counters start afresh (`first_sample`), when it is older
than `max_age_s`, when the device's address or plan changed since (its `fingerprint`), or when
it does not parse. An agent that restarted meanwhile is found by the first poll itself: its
sysUpTime went back, so every rate says `agent_restart`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from poller.config.model import Device
from poller.poll.rates import CounterTracker, TrackerState

#: the snapshot format's name; an entry of any other format is refused
FORMAT = "poller-counters/1"


@dataclass(frozen=True, slots=True)
class Clocks:
    """One instant on both clocks: moves a tracker's monotonic times to the wall clock and back."""

    monotonic_s: float
    wall_s: float

    def to_wall(self, at_s: float) -> float:
        return round(at_s - self.monotonic_s + self.wall_s, 3)

    def to_monotonic(self, wall_s: float) -> float:
        return wall_s - self.wall_s + self.monotonic_s


def fingerprint(device: Device) -> str:
    """What must be unchanged for a device's counters to carry on: where it is and what is read
    (not its credentials, tags or interval, which a reload may change freely)."""
    plan = [device.host, str(device.port)]
    plan += [f"{group}:{c.name}:{c.oid}" for group, columns in device.scalar_groups for c in columns]
    plan += [f"{t.name}:{c.name}:{c.oid}" for t in device.tables for c in t.columns]
    return hashlib.sha1("\n".join(plan).encode()).hexdigest()[:16]


def export_device(device: Device, seq: int, tracker: CounterTracker, clocks: Clocks) -> dict[str, Any]:
    """The device's snapshot entry, times on the wall clock. Keys stay tuples (orjson writes
    them as arrays; import_device turns arrays back into tuples)."""
    state = tracker.state()
    offset = clocks.wall_s - clocks.monotonic_s
    walls: dict[float, float] = {}  # a poll samples many counters at one instant

    def wall(at_s: float) -> float:
        found = walls.get(at_s)
        if found is None:
            found = walls[at_s] = round(at_s + offset, 3)
        return found

    return {
        "format": FORMAT,
        "device": device.name,
        "fingerprint": fingerprint(device),
        "seq": seq,
        "taken_at": clocks.wall_s,
        "uptime": None if state.uptime is None else (state.uptime[0], wall(state.uptime[1])),
        "series": [
            (name, [(i, v, wall(at)) for i, (v, at) in counters.items()], list(reasons.items()))
            for name, (counters, reasons) in state.series.items()
        ],
        "markers": list(state.markers.items()),
    }


class Refused(ValueError):
    """An entry that must not be carried on from; its message is the reason (one word)."""


def import_device(entry: Any, device: Device, tracker: CounterTracker, clocks: Clocks,
                  max_age_s: float) -> int:
    """Restore `tracker` from `entry` and return the device's next `seq`; raises Refused
    (`stale`, `changed`, `invalid`) and leaves the tracker untouched when it must not."""
    try:
        state, seq, age_s = _parse(entry, device, clocks)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, Refused):
            raise
        raise Refused("invalid") from None
    if not 0 <= age_s <= max_age_s:
        raise Refused("stale")
    tracker.restore(state)
    return seq


def _parse(entry: Any, device: Device, clocks: Clocks) -> tuple[TrackerState, int, float]:
    if entry["format"] != FORMAT or entry["device"] != device.name:
        raise Refused("invalid")
    if entry["fingerprint"] != fingerprint(device):
        raise Refused("changed")
    seq, taken_at = entry["seq"], entry["taken_at"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Refused("invalid")
    series: dict[Hashable, tuple[dict[Hashable, tuple[int, float]], dict[Hashable, str]]] = {}
    for name, counters, reasons in entry["series"]:
        series[_key(name)] = (
            {_key(i): (_counter(v), clocks.to_monotonic(float(at))) for i, v, at in counters},
            {_key(i): str(reason) for i, reason in reasons},
        )
    uptime = entry["uptime"]
    if uptime is not None:
        uptime = (_counter(uptime[0]), clocks.to_monotonic(float(uptime[1])))
    markers = {_key(row): _counter(marker) for row, marker in entry["markers"]}
    return TrackerState(series, uptime, markers), seq, clocks.wall_s - float(taken_at)


def _counter(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Refused("invalid")
    return value


def _key(value: Any) -> Hashable:
    """A key as JSON gave it back: arrays as tuples again (a hashable key never held a list)."""
    if isinstance(value, list):
        return tuple(_key(v) for v in value)
    if isinstance(value, dict):
        raise Refused("invalid")
    return value  # type: ignore[no-any-return]

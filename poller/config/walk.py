"""The device keys that bound a table walk (allow_non_increasing, max_walk_rows,
max_walk_requests, max_walk_time): their defaults and their checks, for poller.config.load."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from poller.config.model import WalkLimits
from poller.config.reader import Reader

_BASE = WalkLimits()
#: max_walk_time 0 (the default): this share of the poll deadline (0.9 x interval) per walk, so
#: that a table that never ends stops with its own error_type, before the poll's deadline cuts
#: it; not less, so that a walk that shrinks its requests after timeouts still has time to end
#: (what an endless table costs is bounded by max_walk_rows)
DEADLINE_SHARE = 0.9
#: the keys as written in [defaults] or [[devices]], with their defaults
WALK_DEFAULTS: dict[str, Any] = {
    "allow_non_increasing": _BASE.allow_non_increasing,
    "max_walk_rows": _BASE.max_rows,
    "max_walk_requests": _BASE.max_requests,
    "max_walk_time": _BASE.max_time_s,
}


def walk_limits(reader: Reader, values: Mapping[str, Any], where: Callable[[str], str]) -> WalkLimits:
    time_s = reader.duration(values["max_walk_time"], where("max_walk_time"), 0, 86_400)
    if 0 < time_s < 0.1:
        raise reader.fail(where("max_walk_time"), f"{time_s:g} s is below 0.1 s "
                                                  "(0 means 0.9 x the poll deadline)")
    if time_s == 0:
        interval_s = reader.duration(values["interval"], where("interval"), 1, 86_400)
        time_s = round(interval_s * 0.9 * DEADLINE_SHARE, 3)
    return WalkLimits(
        allow_non_increasing=reader.boolean(values["allow_non_increasing"],
                                            where("allow_non_increasing")),
        max_rows=reader.integer(values["max_walk_rows"], where("max_walk_rows"), 1, 10_000_000),
        max_requests=reader.integer(values["max_walk_requests"], where("max_walk_requests"),
                                    1, 1_000_000),
        max_time_s=time_s,
    )

"""Reading RRD files for the pages (librrd's `fetch`, imported on first use) and the numbers
under each graph: maximum, average (over time) and current of the values drawn, and the 95th
percentile of the 5-minute averages (Cacti's "95th", computed as rrdtool's
`VDEF:x=ds,95,PERCENT`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poller.errors import PollerError
from poller.web.rrdcached import Rrdcached

DAY_S = 86_400
#: the standard windows, as MRTG's pages show them
WINDOWS: tuple[tuple[str, int], ...] = (
    ("day", DAY_S), ("week", 7 * DAY_S), ("month", 31 * DAY_S), ("year", 366 * DAY_S))
#: values per graph at most (MRTG draws 400 pixels): the archive whose step is nearest
#: window / POINTS is read
POINTS = 400
#: the percentile is taken of the 5-minute averages (or the finest archive reaching back as far)
PERCENTILE_STEP_S = 300
PERCENTILE = 95.0


class SeriesError(PollerError):
    """A file cannot be read; one line naming it."""


@dataclass(frozen=True, slots=True)
class Header:
    """What `rrdtool info` says of a file that the pages need."""

    names: tuple[str, ...]
    step_s: int
    last_update_s: int


@dataclass(frozen=True, slots=True)
class Rows:
    """Values as a graph draws them: row i stands for (times[i] - spans_s[i], times[i]]."""

    times: list[int]
    spans_s: list[int]
    columns: dict[str, list[float | None]]

    def then(self, newer: Rows) -> Rows:
        """These rows, and after them `newer`'s (same data sources, all later)."""
        return Rows(self.times + newer.times, self.spans_s + newer.spans_s,
                    {name: values + newer.columns[name] for name, values in self.columns.items()})

    def before_last(self) -> Rows:
        return Rows(self.times[:-1], self.spans_s[:-1],
                    {name: values[:-1] for name, values in self.columns.items()})


@dataclass(frozen=True, slots=True)
class Fetched:
    """What `rrdtool fetch` returned: row i covers (start_s + i*step_s, start_s + (i+1)*step_s]."""

    start_s: int
    step_s: int
    names: tuple[str, ...]
    columns: dict[str, list[float | None]]

    def rows(self, after_s: int, end_s: int) -> Rows:
        """The rows that end after `after_s` and at or before `end_s`."""
        first = max(0, (after_s - self.start_s) // self.step_s)
        last = max(first, (end_s - self.start_s) // self.step_s)
        columns = {name: values[first:last] for name, values in self.columns.items()}
        count = len(next(iter(columns.values()), []))
        times = [self.start_s + (i + 1) * self.step_s for i in range(first, first + count)]
        return Rows(times, [self.step_s] * count, columns)


class RrdReader:
    """librrd's `info` and `fetch` of the files; with `rrdcached`, what it holds of a file is
    written first (a page reads its file's header first, then fetches)."""

    def __init__(self, rrdcached: Rrdcached | None = None) -> None:
        try:
            import rrdtool
        except ImportError:
            raise SeriesError("poller web needs librrd's Python binding: pip install "
                              "'poller[history]' (`make web-deps`)") from None
        self._rrdtool: Any = rrdtool
        self.rrdcached = rrdcached or Rrdcached(None)

    def header(self, path: Path) -> Header:
        self.rrdcached.flush(path)
        info = self._call("info", path)
        names = sorted((value, key[3:-7]) for key, value in info.items()
                       if key.startswith("ds[") and key.endswith("].index"))
        return Header(tuple(name for _, name in names), int(info["step"]),
                      int(info["last_update"]))

    def fetch(self, path: Path, start_s: int, end_s: int, resolution_s: int,
              function: str = "AVERAGE") -> Fetched:
        (start, _end, step), names, rows = self._call(
            "fetch", path, function, "-r", str(resolution_s), "-s", str(start_s),
            "-e", str(end_s))
        columns: dict[str, list[float | None]] = {name: [] for name in names}
        for values in rows:
            for name, value in zip(names, values, strict=True):
                columns[name].append(value if value is not None and math.isfinite(value)
                                     else None)
        return Fetched(int(start), int(step), tuple(names), columns)

    def _call(self, name: str, path: Path, *args: str) -> Any:
        try:
            return getattr(self._rrdtool, name)(str(path), *args)
        except self._rrdtool.OperationalError as exc:
            raise SeriesError(f"{path}: {exc}") from None


def resolution_for(window_s: int, step_s: int) -> int:
    return max(step_s, math.ceil(window_s / POINTS))


def percent(values: Sequence[float | None], p: float) -> float | None:
    """rrdtool's VDEF PERCENT: unknown values sort below every number and count; the value at
    round(p * (n - 1) / 100) (C's round, halves away from zero), unknown if that is one."""
    if not values:
        return None
    known = sorted(v for v in values if v is not None)
    unknown = len(values) - len(known)
    field = math.floor(p * (len(values) - 1) / 100.0 + 0.5)
    return None if field < unknown else known[field - unknown]


def summary(values: Sequence[float | None], spans_s: Sequence[int]
            ) -> dict[str, float | None]:
    """Maximum, average and current (the last known value) of what a graph draws; the average
    over time, each value weighted by the time it stands for (a graph may draw 5-minute
    averages and then the newest polls)."""
    known = [(v, span) for v, span in zip(values, spans_s, strict=True) if v is not None]
    if not known:
        return {"max": None, "average": None, "current": None}
    return {"max": max(v for v, _ in known),
            "average": sum(v * span for v, span in known) / sum(span for _, span in known),
            "current": known[-1][0]}

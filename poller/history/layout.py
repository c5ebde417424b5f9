"""Where each series lives and what its RRD file holds.

One file per (device, table, row index) and per (device, scalar group):

    DIRECTORY/<device>/tables/<table>/<index>.rrd
    DIRECTORY/<device>/scalars/<group>.rrd

Every name is percent-encoded (only `A-Z a-z 0-9 _ . - ~` stay as they are, a leading dot is
encoded too), so a name can neither climb out of the directory (`..`) nor make one (`/`), and two
names never share a file. Labels (ifName, ifDescr) never name a file: they change, indexes don't.

A file's step is its device's poll interval and a value stays valid for two steps (the
heartbeat); its archives reach as MRTG's do (ARCHIVES). Each data source is a GAUGE holding the
record's own value: the rate the poller computed, or a gauge as read.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DAY_S = 86_400

#: (seconds per archived value, reach in seconds, consolidation functions). The first row is the
#: poll interval itself (one step per value, whatever the step).
ARCHIVES: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 2 * DAY_S, ("AVERAGE",)),
    (300, 14 * DAY_S, ("AVERAGE", "MAX")),
    (1800, 62 * DAY_S, ("AVERAGE", "MAX")),
    (7200, 366 * DAY_S, ("AVERAGE", "MAX")),
    (DAY_S, 3 * 366 * DAY_S, ("AVERAGE", "MAX")),
)
#: a consolidated value is known when at least half of its steps are (RRD's xff)
XFF = 0.5
#: heartbeat, in steps: a value is unknown after two missed polls at most
HEARTBEAT_STEPS = 2

#: RRD data-source names: 1 to 19 of these characters
_DS_NAME = re.compile(r"^[A-Za-z0-9_]{1,19}$")
#: file names are kept well under the usual 255-byte limit
_MAX_NAME = 160


def encode(name: str) -> str:
    """A file or directory name for `name`: stable, reversible for names up to _MAX_NAME
    characters, and never '.', '..', hidden, or containing a separator."""
    encoded = quote(name, safe="")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if not encoded:
        return "%"  # quote() never makes a bare "%"
    if len(encoded) > _MAX_NAME:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        encoded = f"{encoded[:_MAX_NAME - 17]}~{digest}"
    return encoded


def row_path(directory: Path, device: str, table: str, index: str) -> Path:
    return directory / encode(device) / "tables" / encode(table) / f"{encode(index)}.rrd"


def group_path(directory: Path, device: str, group: str) -> Path:
    return directory / encode(device) / "scalars" / f"{encode(group)}.rrd"


def ds_name(field: str) -> str:
    """The data-source name of a record field: the field itself when RRD takes it, else a
    shortened one (`ifHCOutUcastPkts_rate` -> `ifHCOutUcastPkts_r`), with a hash when still too
    long, so a field keeps its name in every file."""
    if _DS_NAME.match(field):
        return field
    short = re.sub(r"[^A-Za-z0-9_]", "_", field)
    for suffix, replacement in (("_rate", "_r"), ("_bps", "_b")):
        if short.endswith(suffix):
            short = short[: -len(suffix)] + replacement
    if 0 < len(short) <= 19:
        return short
    digest = hashlib.sha1(field.encode()).hexdigest()[:4]
    return f"{short[:14]}_{digest}"


def step_of(interval_s: float) -> int:
    return max(1, round(interval_s))


def archives(step_s: int) -> list[str]:
    """The RRA definitions for a file of `step_s`, as `rrdtool create` takes them; archives that
    come out alike at this step are one."""
    rows: dict[tuple[str, int], int] = {}
    for every_s, reach_s, functions in ARCHIVES:
        steps = max(1, round(every_s / step_s)) if every_s else 1
        count = math.ceil(reach_s / (steps * step_s))
        for function in functions:
            rows[(function, steps)] = max(rows.get((function, steps), 0), count)
    return [f"RRA:{function}:{XFF}:{steps}:{count}" for (function, steps), count in rows.items()]


def create_args(step_s: int, ds_names: tuple[str, ...], start_s: int) -> list[str]:
    heartbeat_s = HEARTBEAT_STEPS * step_s
    return ["--start", str(start_s), "--step", str(step_s), "--no-overwrite",
            *(f"DS:{name}:GAUGE:{heartbeat_s}:0:U" for name in ds_names), *archives(step_s)]


@dataclass(frozen=True, slots=True)
class Series:
    """What one kind of file holds: the record fields kept and their data-source names."""

    fields: tuple[str, ...]
    ds_names: tuple[str, ...]

    @classmethod
    def of(cls, fields: tuple[str, ...]) -> Series:
        names = tuple(ds_name(f) for f in fields)
        if len(set(names)) != len(names):
            raise ValueError(f"fields {', '.join(fields)} share a data-source name")
        return cls(fields, names)

"""A year of plausible history for the demo's devices, written straight into their RRD files, so
that `make run`'s week, month and year graphs show something from the first minute.

Each interface row of a recording gets a file laid out as the daemon makes it (same step, data
sources and archives: poller.history.layout), whose consolidated archives (5 min to 1 day,
average and maximum) hold a daily and weekly rhythm around the rate the simulator will serve
live; the archive of single polls stays empty for the daemon to fill. The file is made with
`rrdtool restore` from XML: the layout of a fresh file dumped once per step (`rrdtool dump`),
its rows filled in. A file that exists is left alone (an earlier demo's real history).
"""

from __future__ import annotations

import math
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from poller.config.model import Config, Device, Table
from poller.history.layout import Series, create_args, row_path
from poller.history.store import plans_for

DAY_S, WEEK_S = 86_400, 7 * 86_400
_ROW_TIME = re.compile(r"<!-- [^/]*/ (\d+) --> <row>")
_RRA = re.compile(r"<cf>(\w+)</cf>\s*<pdp_per_row>(\d+)</pdp_per_row>")
_RATE = re.compile(r"\|(?:65|70):numeric\|rate=(\d+)")


@dataclass(frozen=True, slots=True)
class RowFile:
    path: Path
    step_s: int
    series: Series
    #: the live rate of each field (per second; bits per second for _bps fields)
    rates: tuple[float, ...]


def backfill(config: Config, recordings: Path, now_s: int | None = None) -> int:
    """Write the files of every table row the recordings hold that is up; returns how many
    were made."""
    if config.history is None:
        return 0
    now_s = now_s if now_s is not None else int(time.time())
    wanted = [f for f in _row_files(config, recordings) if not f.path.exists()]
    templates: dict[tuple[int, tuple[str, ...]], Template] = {}
    for row in wanted:
        key = (row.step_s, row.series.ds_names)
        if key not in templates:
            templates[key] = _template(row, now_s - now_s % row.step_s)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda row: _restore(row, templates[(row.step_s, row.series.ds_names)]),
                      wanted))
    return len(wanted)


def _row_files(config: Config, recordings: Path) -> Iterator[RowFile]:
    assert config.history is not None
    plans = plans_for(config.devices, config.history)
    for device in config.devices:
        plan = plans[device.name]
        text = _recording(recordings, device)
        for table in device.tables:
            series = plan.tables.get(table.name)
            if series is None or text is None:
                continue
            up = _up_rows(table, text)
            for index, rates in _live_rates(table, series, text).items():
                if up is not None and index not in up:
                    continue  # a port that is down had no traffic
                yield RowFile(row_path(config.history.directory, device.name, table.name, index),
                              plan.step_s, series, rates)


def _recording(recordings: Path, device: Device) -> str | None:
    path = recordings / f"{device.credential.community.reveal()}.snmprec"
    return path.read_text("utf-8", "surrogateescape") if path.exists() else None


def _live_rates(table: Table, series: Series, text: str) -> dict[str, tuple[float, ...]]:
    """Per row index, the rate each kept field will have live: the `numeric` variation's rate
    of its column (the 64-bit one, else its 32-bit twin), x 8 for bits."""
    narrow = {wide.name: small for wide, small in table.wide_pairs}
    # column OID -> (field, factor, preference): the 64-bit column wins over its twin
    sources: dict[str, tuple[str, int, int]] = {}
    for field in series.fields:
        column = next((c for c in table.columns if field in (c.rate_field, c.name)), None)
        if column is not None:
            for rank, source in enumerate((column, narrow.get(column.name))):
                if source is not None:
                    sources[str(source.oid)] = (field, 8 if column.bits else 1, rank)
    lengths = {len(oid.split(".")) for oid in sources}
    found: dict[str, dict[str, tuple[int, float]]] = {}
    for line in text.splitlines():
        if ":numeric|" not in line or not (match := _RATE.search(line)):
            continue
        arcs = line.partition("|")[0].split(".")
        for length in lengths:
            kept = sources.get(".".join(arcs[:length]))
            if kept is not None:
                field, factor, rank = kept
                rates = found.setdefault(".".join(arcs[length:]), {})
                if field not in rates or rank < rates[field][0]:
                    rates[field] = (rank, float(match[1]) * factor)
    return {index: tuple(rates[f][1] if f in rates else 0.0 for f in series.fields)
            for index, rates in found.items()}


@dataclass(frozen=True, slots=True)
class Template:
    """A fresh file's XML cut around the rows of its consolidated archives."""

    #: static XML, and per archive to fill the level of each of its rows (the day's, the
    #: week's and the year's rhythm, higher for a MAX archive), in the file's order
    pieces: tuple[str | tuple[float, ...], ...]


def _up_rows(table: Table, text: str) -> set[str] | None:
    """The indexes whose ifOperStatus is up(1); None when the table has no such column."""
    column = next((c for c in table.columns if c.name == "ifOperStatus"), None)
    if column is None:
        return None
    prefix = f"{column.oid}."
    return {line[len(prefix):].partition("|")[0] for line in text.splitlines()
            if line.startswith(prefix) and line.endswith("|2|1")}


def _template(row: RowFile, last_s: int) -> Template:
    """The layout of a fresh, empty file of this kind whose last update is `last_s`."""
    with tempfile.TemporaryDirectory(prefix="poller-demo-") as tmp:
        path = Path(tmp) / "template.rrd"
        args = create_args(row.step_s, row.series.ds_names, last_s)
        subprocess.run(["rrdtool", "create", str(path), *args], check=True, timeout=60)
        xml = subprocess.run(["rrdtool", "dump", str(path)], check=True, timeout=60,
                             capture_output=True, text=True).stdout
    # the comments name each row's time (read here) and make restore slower (dropped there)
    times = [tuple(map(int, _ROW_TIME.findall(rra[1])))
             for rra in re.finditer(r"<database>(.*?)</database>", xml, re.DOTALL)]
    xml = re.sub(r"<!--.*?-->|\s+(?=<)", "", xml, flags=re.DOTALL)
    pieces: list[str | tuple[float, ...]] = []
    done = 0
    for rra, row_times in zip(re.finditer(r"<database>(.*?)</database>", xml, re.DOTALL), times,
                              strict=True):
        head = xml[:rra.start()].rpartition("<rra>")[2]
        cf, per_row = _RRA.search(head).groups()  # type: ignore[union-attr]
        if per_row == "1":
            continue  # the single polls' archive: the daemon's to fill
        pieces.append(xml[done:rra.start(1)])
        peak = 1.0 if cf == "AVERAGE" else 1.35
        pieces.append(tuple(peak * _shape(at_s) for at_s in row_times))
        done = rra.end(1)
    pieces.append(xml[done:])
    return Template(tuple(pieces))


def _restore(row: RowFile, template: Template) -> None:
    xml = _filled(template, row, random.Random(str(row.path)))
    row.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".xml", dir=row.path.parent) as dump:
        dump.write(xml)
        dump.flush()
        subprocess.run(["rrdtool", "restore", "-f", dump.name, str(row.path)], check=True,
                       timeout=120)


def _filled(template: Template, row: RowFile, rng: random.Random) -> str:
    """The template's XML with the consolidated archives' rows filled: octets follow the day
    and the week; errors and discards are mostly none, with a rare burst."""
    scale = [rate * rng.uniform(0.6, 1.2) for rate in row.rates]
    steady = [field.endswith("_bps") for field in row.series.fields]
    quiet = "<row>" + "".join("<v>%.3e</v>" if s else "<v>0</v>" for s in steady) + "</row>"
    burst = "<row>" + "<v>%.3e</v>" * len(steady) + "</row>"
    busy = [s for s, always in zip(scale, steady, strict=True) if always]
    parts = []
    for piece in template.pieces:
        if isinstance(piece, str):
            parts.append(piece)
            continue
        rows = []
        for level in piece:
            level *= 0.85 + 0.3 * rng.random()
            if rng.random() < 0.01:
                rows.append(burst % tuple(s * level for s in scale))
            else:
                rows.append(quiet % tuple(s * level for s in busy))
        parts.append("".join(rows))
    return "".join(parts)


def _shape(at_s: int) -> float:
    """Busy afternoons, quiet nights, quieter weekends, and a year's slow growth; about 1 now."""
    hour = (at_s % DAY_S) / 3600
    daily = 0.55 + 0.45 * math.sin((hour - 9) / 24 * 2 * math.pi)
    weekend = 0.6 if (at_s // DAY_S + 4) % 7 >= 5 else 1.0  # 1970-01-01 was a Thursday
    growth = 0.7 + 0.3 * (1 - min(1.0, (time.time() - at_s) / (366 * DAY_S)))
    return daily * weekend * growth


def summary(made: int, seconds: float, directory: Path) -> str:
    return f"demo: a year of history for {made} interface rows in {seconds:.1f} s ({directory})"


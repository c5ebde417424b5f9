"""`[history]` settings and `poller history import`: defaults per profile, one-line errors, and
a backfill from plain, rotated and gzipped record files that a second run leaves as it was."""

from __future__ import annotations

import gzip
import hashlib
import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from poller.config.history import default_fields, read_history, rrdcached_address
from poller.config.reader import Reader
from poller.errors import ConfigError
from poller.history.layout import row_path
from tests.unit.test_history import FLEET, IN, OUT, STEP_S, T0, fetch, fleet, row


def test_defaults_keep_what_the_row_page_graphs_and_every_rate_and_gauge_elsewhere(
        tmp_path: Path) -> None:
    config = fleet(tmp_path)
    profiles = config.profiles
    kept = default_fields(profiles["interfaces"], config.mibs)
    table = profiles["interfaces"].tables[0]
    rate = {c.name: c.rate_field for c in table.columns}
    assert kept == (IN, OUT, rate["ifInErrors"], rate["ifOutErrors"], rate["ifInDiscards"],
                    rate["ifOutDiscards"])
    assert default_fields(profiles["system"], config.mibs) == ()  # text and timeticks only
    # any other profile: every counter's rate and every gauge, as the MIB names say
    assert default_fields(profiles["ups"], config.mibs) == ("hrSystemProcesses",
                                                            "snmpInPkts_rate")


@pytest.mark.parametrize(("raw", "message"), [
    ({"size": 1}, "history: unknown key 'size'"),
    ({"rrdcached": "nowhere"}, "history.rrdcached: 'nowhere' is not an address"),
    ({"rrdcached": "host:99999"}, "history.rrdcached: 'host:99999' is not an address"),
    ({"fields": {"nosuch": []}}, "history.fields: unknown key 'nosuch'"),
    ({"fields": {"interfaces": ["ifFoo_rate"]}},
     "history.fields.interfaces[0]: 'ifFoo_rate' is not a field of profile 'interfaces'"),
    ({"fields": {"interfaces": [IN, IN]}}, "history.fields.interfaces: duplicate field"),
    ({"hold": "1h"}, "history.hold: '1h' is outside 0 s..600 s"),
    ({"hold": "soon"}, "history.hold: 'soon' is not a duration"),
])
def test_bad_history_settings_are_one_line_naming_the_key(
        tmp_path: Path, raw: dict[str, Any], message: str) -> None:
    config = fleet(tmp_path)
    with pytest.raises(ConfigError) as caught:
        read_history(Reader(config.path), raw, config.profiles)
    text = str(caught.value)
    assert text.startswith(f"{config.path}: {message}") and "\n" not in text


def test_history_settings_as_written(tmp_path: Path) -> None:
    config = fleet(tmp_path)
    settings = read_history(Reader(config.path), {
        "directory": "rrd", "rrdcached": "/run/rrdcached.sock",
        "fields": {"interfaces": [OUT, IN], "ups": []}}, config.profiles)
    assert settings.directory == Path.cwd() / "rrd"
    assert settings.rrdcached == "unix:/run/rrdcached.sock"
    assert settings.fields_of("interfaces") == (OUT, IN)
    assert settings.fields_of("ups") == ()
    assert settings.fields_of("system") == default_fields(config.profiles["system"])
    assert settings.hold_s == 0  # rrdcached holds the writes itself


def test_a_hold_is_refused_for_a_cluster_through_rrdcached_on_tcp(tmp_path: Path) -> None:
    config = fleet(tmp_path)
    raw = {"rrdcached": "127.0.0.1:42217", "directory": "rrd", "hold": "30s"}
    assert read_history(Reader(config.path), raw, config.profiles).hold_s == 30
    with pytest.raises(ConfigError) as caught:
        read_history(Reader(config.path), raw, config.profiles, shared=True)
    text = str(caught.value)
    assert text.startswith(f"{config.path}: history.hold: '30s' with [cluster] and rrdcached on "
                           "TCP") and "\n" not in text


@pytest.mark.parametrize(("raw", "hold_s"), [
    ({}, 60), ({"hold": "2m"}, 120), ({"hold": 0}, 0),
    ({"rrdcached": "127.0.0.1:42217", "directory": "rrd"}, 0),
    ({"rrdcached": "/run/r.sock", "hold": "30s"}, 30),
])
def test_the_writer_holds_a_minute_unless_rrdcached_or_told(
        tmp_path: Path, raw: dict[str, Any], hold_s: int) -> None:
    config = fleet(tmp_path)
    assert read_history(Reader(config.path), raw, config.profiles).hold_s == hold_s


@pytest.mark.parametrize(("text", "address"), [
    ("unix:/run/r.sock", "unix:/run/r.sock"), ("/run/r.sock", "unix:/run/r.sock"),
    ("127.0.0.1:42217", "127.0.0.1:42217"), ("[::1]:42217", "[::1]:42217"),
    ("cache.example.net:42217", "cache.example.net:42217"), ("run/r.sock", None),
    ("127.0.0.1", None), ("[::1]:0", None),
])
def test_rrdcached_addresses(text: str, address: str | None) -> None:
    assert rrdcached_address(text) == address


# -- import ------------------------------------------------------------------------------------


def _stamp(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _line(event: str, record: dict[str, Any], at: int) -> bytes:
    return orjson.dumps({"timestamp": _stamp(at), "event": event, **record}) + b"\n"


def _polls(first: int, count: int, rate: float) -> bytes:
    """`count` polls of sw1 from step `first`, each with two rows and a summary; rates grow by
    one per poll from `rate`; the poll at step 3 failed."""
    lines = []
    for step in range(first, first + count):
        at = T0 + step * STEP_S
        if step == 3:
            lines.append(_line("poll", {"device": "sw1", "status": "timeout"}, at))
            continue
        for index in ("1", "2"):
            lines.append(_line("row", row(index, at, rate + step, None if index == "2" else
                                          rate * 2), at))
        lines.append(_line("poll", {"device": "sw1", "status": "ok"}, at))
    return b"".join(lines)


def _import(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poller", "history", "import", "--config",
         str(tmp_path / "fleet.toml"), "--directory", str(tmp_path / "rrd"), *map(str, files)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)


def _digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*.rrd"))}


def test_import_backfills_rotated_and_gzipped_files_and_twice_changes_nothing(
        tmp_path: Path) -> None:
    (tmp_path / "fleet.toml").write_text(FLEET)
    records = tmp_path / "poller.jsonl"
    # oldest in .2.gz, then .1, then the active file; named in no particular order
    with gzip.open(tmp_path / "poller.jsonl.2.gz", "wb") as packed:
        packed.write(_polls(0, 3, 100.0))
    (tmp_path / "poller.jsonl.1").write_bytes(_polls(3, 3, 100.0))
    records.write_bytes(_polls(6, 2, 100.0) + b'{"timestamp": "2023-11-1')  # a torn last line
    files = [records, tmp_path / "poller.jsonl.2.gz", tmp_path / "poller.jsonl.1"]
    first = _import(tmp_path, *files)
    assert first.returncode == 0, first.stderr
    assert "16 updates stored, 0 skipped" in first.stdout and "1 unreadable" in first.stdout
    got = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "1"), T0, T0 + 7 * STEP_S)
    for step in range(8):
        values = got[T0 + step * STEP_S]
        if step == 3:
            assert math.isnan(values[IN]) and math.isnan(values[OUT])
        else:
            assert (values[IN], values[OUT]) == (100.0 + step, 200.0)
    row2 = fetch(row_path(tmp_path / "rrd", "sw1", "interfaces", "2"), T0, T0 + 7 * STEP_S)
    assert all(math.isnan(values[OUT]) for values in row2.values())
    before = _digests(tmp_path / "rrd")
    second = _import(tmp_path, *files)
    assert second.returncode == 0, second.stderr
    assert "0 updates stored, 16 skipped" in second.stdout
    assert _digests(tmp_path / "rrd") == before and len(before) == 2


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "fleet.toml").write_text(FLEET)
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    for path, reason in ((tmp_path / "missing.jsonl", "No such file"),
                         (tmp_path / "bad.gz", "cannot read")):
        done = _import(tmp_path, path)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.startswith(f"poller: {path}: cannot read") and reason in done.stderr
        assert done.stderr.count("\n") == 1


def test_a_directory_that_cannot_be_made_fails_in_one_line(tmp_path: Path) -> None:
    """The RRD directory cannot be made (a file is in the way): counted, said, exit 1."""
    (tmp_path / "fleet.toml").write_text(FLEET)
    (tmp_path / "rrd").write_text("a file, not a directory")
    (tmp_path / "poller.jsonl").write_bytes(_polls(0, 2, 1.0))
    done = _import(tmp_path, tmp_path / "poller.jsonl")
    assert done.returncode == 1, done.stdout
    assert "0 updates stored" in done.stdout and "4 failed" in done.stdout
    assert done.stderr.startswith("poller: history import: ") and done.stderr.count("\n") == 1


def test_the_fleet_file_must_load(tmp_path: Path) -> None:
    (tmp_path / "fleet.toml").write_text(FLEET + "\n[nonsense]\n")
    done = _import(tmp_path, tmp_path / "poller.jsonl")
    assert done.returncode == 2 and "unknown key 'nonsense'" in done.stderr
    assert done.stderr.count("\n") == 1

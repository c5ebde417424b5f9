"""Output faults degrade, not collapse: a rotation that cannot rename (a read-only directory, a
name in the way) loses no record the open file can take, is tried again with backoff and said
once per spell; writes that fail over many batches are reported once, when writing works again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.output.recorder import Recorder
from poller.output.rotating import RotatingFile
from tests.unit.test_records import read_lines, settings


def _events(directory: Path) -> list[dict[str, Any]]:
    return read_lines(directory / "events.jsonl")


def _rows_in_order(directory: Path) -> list[object]:
    """Every row's `n` across the rotated files and the active one, oldest first."""
    rotated = sorted(directory.glob("poller.jsonl.*"), key=lambda p: -int(p.suffix[1:]))
    return [r["n"] for f in [*rotated, directory / "poller.jsonl"] for r in read_lines(f)]


def test_a_rotation_that_cannot_rename_keeps_writing_to_the_open_file(tmp_path: Path) -> None:
    """The rotation's target name is a directory (rename() cannot replace it, not even for
    root): the records go on into the active file past max_bytes, none dropped, and the events
    file says so once, not once per batch."""
    blocker = tmp_path / "poller.jsonl.1"
    blocker.mkdir()
    (blocker / "keep").write_text("not ours\n")
    recorder = Recorder(settings(tmp_path, max_bytes=1024, backups=1))
    for n in range(300):
        recorder.data("row", n=n, pad="x" * 40)
        if n % 30 == 0:
            time.sleep(0.02)  # many batches, as a running poller writes them
    recorder.close()
    assert recorder.dropped == 0
    assert [r["n"] for r in read_lines(tmp_path / "poller.jsonl")] == list(range(300))
    assert (tmp_path / "poller.jsonl").stat().st_size > 10 * 1024
    events = _events(tmp_path)
    assert [e["event"] for e in events] == ["rotation_failed"]
    assert events[0]["file"] == str(tmp_path / "poller.jsonl")
    assert "Is a directory" in events[0]["error"] and events[0]["retry_in_s"] == 1.0


def test_a_failed_rotation_is_retried_with_backoff_and_its_recovery_said(tmp_path: Path) -> None:
    blocker = tmp_path / "poller.jsonl.1"
    blocker.mkdir()
    recorder = Recorder(settings(tmp_path, max_bytes=1024, backups=1))
    for n in range(50):
        recorder.data("row", n=n, pad="x" * 40)
    time.sleep(0.3)
    failed_at = time.monotonic()
    blocker.rmdir()
    for n in range(50, 60):  # within the first second: not tried again yet
        recorder.data("row", n=n, pad="x" * 40)
    time.sleep(max(0.0, failed_at + 1.2 - time.monotonic()))
    for n in range(60, 65):  # the first rotates the overgrown file; the rest fit in the new one
        recorder.data("row", n=n, pad="x" * 40)
    recorder.close()
    assert recorder.dropped == 0
    assert _rows_in_order(tmp_path) == list(range(65))
    assert [r["n"] for r in read_lines(tmp_path / "poller.jsonl")] == list(range(60, 65))
    events = _events(tmp_path)
    assert [e["event"] for e in events] == ["rotation_failed", "rotation_recovered"]
    recovered = events[1]
    assert recovered["file"] == str(tmp_path / "poller.jsonl")
    assert recovered["failed_tries"] == 1 and 0.9 < recovered["failed_s"] < 5
    assert recovered["size_bytes"] > 60 * 60  # what the file had grown to
    assert (tmp_path / "poller.jsonl.1").stat().st_size > 30 * 60  # the overgrown file, rotated whole


def test_the_retry_backs_off_from_one_second_doubling_to_a_minute(tmp_path: Path) -> None:
    blocker = tmp_path / "poller.jsonl.1"
    blocker.mkdir()
    file = RotatingFile(tmp_path / "poller.jsonl", settings(tmp_path, max_bytes=10, backups=1))
    file.open()
    delays = []
    clock = [1000.0]
    file._now = lambda: clock[0]  # type: ignore[method-assign]
    for _ in range(9):
        assert file.write_lines([b'{"n":1}\n', b'{"n":2}\n']) == 0
        delays.append(file.retry_in_s)
        clock[0] += delays[-1] - 0.01
        file.write_lines([b'{"n":3}\n'])  # too early: not tried, still written
        assert file.retry_in_s == delays[-1]
        clock[0] += 0.01
    file.close()
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert [name for name, _ in file.take_notices()] == ["rotation_failed"]


def test_write_failures_over_many_batches_are_reported_once_when_writing_works_again(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "logs"
    recorder = Recorder(settings(directory))
    recorder.data("row", n=0)
    time.sleep(0.2)
    shutil.rmtree(directory)
    directory.write_text("")  # where the directory was, a file: nothing can be written now
    time.sleep(1.1)  # past the writer's once-a-second check of the active name
    for n in range(1, 41):
        recorder.data("row", n=n)
        time.sleep(0.005)  # one batch each
    directory.unlink()
    time.sleep(0.1)
    recorder.data("row", n=41)
    time.sleep(0.3)
    recorder.data("row", n=42)
    recorder.close()
    assert recorder.dropped == 40
    reports = [r for r in _events(directory) if r["event"] == "records_dropped"]
    assert [(r["count"], r["total"], r["cause"]) for r in reports] == [(40, 40, "write_failed")]
    assert [r["n"] for r in read_lines(directory / "poller.jsonl")] == [41, 42]


#: a writer in its own process, as an ordinary user (root ignores a directory's mode): it writes,
#: its directory turns read-only, it writes on, the directory is writable again, it writes more
_READ_ONLY_SPELL = """
import json, os, sys, time
from pathlib import Path
if os.geteuid() == 0:
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
from poller.config.model import OutputSettings
from poller.output.recorder import Recorder
directory = Path(sys.argv[1])
recorder = Recorder(OutputSettings(directory=directory, max_bytes=4096, backups=1))
n = 0
def write(count):
    global n
    for _ in range(count):
        recorder.data("row", n=n, pad="x" * 40)
        n += 1
        if n % 50 == 0:
            time.sleep(0.01)
write(50)
time.sleep(0.2)
os.chmod(directory, 0o555)
try:
    open(directory / "probe", "w")
    sys.exit("the directory is still writable")
except PermissionError:
    pass
write(2000)
time.sleep(0.3)
os.chmod(directory, 0o755)
time.sleep(1.2)
write(20)
recorder.close()
print(json.dumps({"dropped": recorder.dropped, "written": recorder.written, "rows": n}))
"""


@pytest.fixture
def own_directory() -> Iterator[Path]:
    """A directory an ordinary user (nobody, when the tests run as root) owns and can reach."""
    top = Path(tempfile.mkdtemp(prefix="poller-ro-"))
    top.chmod(0o755)
    directory = top / "logs"
    directory.mkdir()
    if os.geteuid() == 0:
        os.chown(directory, 65534, 65534)
    yield directory
    directory.chmod(0o755)
    shutil.rmtree(top)


def test_a_read_only_directory_drops_nothing_the_open_file_can_take(own_directory: Path) -> None:
    """The directory the files are in turns read-only: rotation cannot rename, but the open
    files are still writable, so every record is kept and the events say so once."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _READ_ONLY_SPELL, str(own_directory)],
        check=False, capture_output=True, text=True, timeout=60, cwd="/",
        env={**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["dropped"] == 0
    events = [e["event"] for e in read_lines(own_directory / "events.jsonl")]
    assert events == ["rotation_failed", "rotation_recovered"]
    rows = [r["n"] for f in ("poller.jsonl.1", "poller.jsonl") for r in read_lines(own_directory / f)]
    assert rows == list(range(result["rows"] - len(rows), result["rows"]))  # whole, in order
    assert len(rows) >= 2000  # the read-only spell's rows, in the file that grew meanwhile
    assert "Permission denied" in done.stderr

"""Records: JSON lines with timestamp and event first, two files, rotation by rename that loses,
tears and repeats nothing, and counted drops."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from poller.config.model import OutputSettings
from poller.errors import OutputError
from poller.output.recorder import Recorder

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def settings(directory: Path, **overrides: object) -> OutputSettings:
    return OutputSettings(directory=directory, **overrides)  # type: ignore[arg-type]


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_a_record_is_one_json_line_with_timestamp_and_event_first(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path))
    recorder.data("row", device="sw1", index="3", ifHCInOctets=2**64 - 1, ratio=0.5, gone=None)
    recorder.close()
    raw = (tmp_path / "poller.jsonl").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    record = json.loads(raw)
    assert list(record) == ["timestamp", "event", "device", "index", "ifHCInOctets", "ratio", "gone"]
    assert TIMESTAMP.match(record["timestamp"])
    assert record["ifHCInOctets"] == 18446744073709551615  # exact, not a float
    assert b"18446744073709551615" in raw


def test_data_and_events_go_to_their_own_files(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path, data_file="d.jsonl", events_file="e.jsonl"))
    recorder.data("poll", device="a")
    recorder.event("started", pid=1)
    recorder.close()
    assert [r["event"] for r in read_lines(tmp_path / "d.jsonl")] == ["poll"]
    assert [r["event"] for r in read_lines(tmp_path / "e.jsonl")] == ["started"]


def test_rotation_under_load_keeps_every_record_exactly_once(tmp_path: Path) -> None:
    max_bytes = 4096
    recorder = Recorder(settings(tmp_path, max_bytes=max_bytes, backups=10_000))
    threads, per_thread = 4, 5_000

    def produce(worker: int) -> None:
        for n in range(per_thread):
            recorder.data("row", worker=worker, n=n, pad="x" * (n % 50))

    pool = [threading.Thread(target=produce, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    recorder.close()
    files = sorted(tmp_path.glob("poller.jsonl*"))
    assert len(files) > 50
    assert {f.name for f in files} == {"poller.jsonl"} | {f"poller.jsonl.{n}" for n in range(1, len(files))}
    seen = []
    for file in files:
        data = file.read_bytes()
        assert len(data) <= max_bytes
        assert data.endswith(b"\n")
        seen += [(r["worker"], r["n"]) for r in map(json.loads, data.splitlines())]
    assert len(seen) == threads * per_thread
    assert set(seen) == {(w, n) for w in range(threads) for n in range(per_thread)}
    assert recorder.written == threads * per_thread and recorder.dropped == 0


def test_retention_keeps_the_newest_backups_only(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path, max_bytes=1024, backups=2))
    for n in range(1000):
        recorder.data("row", n=n)
    recorder.close()
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "events.jsonl", "poller.jsonl", "poller.jsonl.1", "poller.jsonl.2"
    ]
    newest = read_lines(tmp_path / "poller.jsonl")
    older = read_lines(tmp_path / "poller.jsonl.1")
    assert newest[-1]["n"] == 999
    assert older[-1]["n"] == newest[0]["n"] - 1  # .1 holds what came right before


def test_an_unwritable_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"^cannot write records in .*/file/logs: Not a directory$"):
        Recorder(settings(blocker / "logs"))


def test_a_full_queue_drops_are_counted_and_reported(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path), queue_max=1, put_timeout_s=0.01)
    gate = threading.Event()
    original = recorder._files[0].write_lines

    def blocked(lines: list[bytes]) -> int:
        gate.wait(10)
        return original(lines)

    recorder._files[0].write_lines = blocked  # type: ignore[method-assign]
    for n in range(50):
        recorder.data("row", n=n)
    gate.set()
    recorder.close()
    assert recorder.dropped > 0
    kept = read_lines(tmp_path / "poller.jsonl")
    assert len(kept) + recorder.dropped == 50
    reports = [r for r in read_lines(tmp_path / "events.jsonl") if r["event"] == "records_dropped"]
    assert sum(r["count"] for r in reports) == recorder.dropped
    assert {r["cause"] for r in reports} == {"queue_full"}


def test_close_flushes_and_is_idempotent(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path))
    for n in range(10_000):
        recorder.data("row", n=n)
    recorder.close()
    recorder.close()
    assert len(read_lines(tmp_path / "poller.jsonl")) == 10_000


def test_a_vanished_directory_is_recreated_and_the_loss_is_counted(tmp_path: Path) -> None:
    import shutil
    import time

    directory = tmp_path / "logs"
    recorder = Recorder(settings(directory))
    recorder.data("row", n=0)
    time.sleep(0.2)
    shutil.rmtree(directory)
    time.sleep(1.1)  # past the writer's once-a-second check of the active name
    for n in range(1, 4):
        recorder.data("row", n=n)
    recorder.close()
    kept = [r["n"] for r in read_lines(directory / "poller.jsonl")]
    assert kept == [1, 2, 3]  # written to the new file, not into the removed one
    assert recorder.dropped == 0


def test_writes_that_fail_are_counted_reported_and_writing_resumes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import time

    directory = tmp_path / "logs"
    recorder = Recorder(settings(directory))
    recorder.data("row", n=0)
    time.sleep(0.2)
    shutil.rmtree(directory)
    directory.write_text("")  # where the directory was, a file: nothing can be written now
    time.sleep(1.1)
    recorder.data("row", n=1)
    recorder.data("row", n=2)
    time.sleep(0.3)
    directory.unlink()
    recorder.data("row", n=3)
    time.sleep(0.3)
    recorder.close()
    assert recorder.dropped == 2
    assert [r["n"] for r in read_lines(directory / "poller.jsonl")] == [3]
    reports = [r for r in read_lines(directory / "events.jsonl") if r["event"] == "records_dropped"]
    assert sum(r["count"] for r in reports) == 2
    # the operator is told the file failed, not that the writer was too slow
    assert {(r["cause"], r["reason"]) for r in reports} == {
        ("write_failed", "the file could not be written (see the poller's stderr)")}
    err = capfd.readouterr().err
    assert err.count("cannot write") == 1 and "writing" in err and "again" in err


def test_rotation_by_age_and_gzip_of_rotated_files_keep_every_record(tmp_path: Path) -> None:
    import gzip
    import time

    recorder = Recorder(settings(tmp_path, max_bytes=2048, max_age_s=0.5, backups=100, compress=True))
    for n in range(100):  # by size: several rotations
        recorder.data("row", n=n)
    time.sleep(0.7)
    recorder.data("row", n=100)  # by age: the active file is older than 0.5 s
    recorder.close()
    rotated = sorted(tmp_path.glob("poller.jsonl.*"))
    assert rotated and all(f.suffix == ".gz" for f in rotated)
    assert not list(tmp_path.glob("*.part"))
    seen = [json.loads(line)["n"] for f in rotated for line in gzip.decompress(f.read_bytes()).splitlines()]
    active = [r["n"] for r in read_lines(tmp_path / "poller.jsonl")]
    assert active == [100]  # the age rotation moved everything older away
    assert sorted(seen + active) == list(range(101))


def _blocked_writer(recorder: Recorder, gate: threading.Event) -> None:
    original = recorder._files[0].write_lines

    def blocked(lines: list[bytes]) -> int:
        gate.wait(10)
        return original(lines)

    recorder._files[0].write_lines = blocked  # type: ignore[method-assign]


#: the three ways records reach the queue: one by one, a poll's rows, a worker's shipped lines
PRODUCERS = {
    "data": lambda recorder, n: recorder.data("row", n=n),
    "data_many": lambda recorder, n: recorder.data_many("row", [{"n": n}]),
    "lines": lambda recorder, n: recorder.lines(0, [b'{"event":"row","n":%d}' % n]),
}


@pytest.mark.parametrize("produce", PRODUCERS.values(), ids=PRODUCERS.keys())
def test_a_stalled_writer_blocks_the_caller_once_per_spell_not_once_per_record(
    tmp_path: Path, produce: Any
) -> None:
    import time

    recorder = Recorder(settings(tmp_path), queue_max=1, put_timeout_s=0.2)
    gate = threading.Event()
    _blocked_writer(recorder, gate)
    started = time.monotonic()
    for n in range(50):
        produce(recorder, n)
    took = time.monotonic() - started
    gate.set()
    recorder.close()
    assert took < 1.5  # one 0.2 s wait, then drops at once; not 50 x 0.2 s
    assert recorder.dropped >= 40
    reports = [r for r in read_lines(tmp_path / "events.jsonl") if r["event"] == "records_dropped"]
    assert sum(r["count"] for r in reports) == recorder.dropped


def test_close_reports_drops_the_writer_made_at_the_end(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path))
    recorder._files[0].write_lines = len  # type: ignore[method-assign,assignment]  # all lost
    for n in range(3):
        recorder.data("row", n=n)
    recorder.close()
    assert recorder.dropped == 3 and recorder.written == 1  # the report itself
    reports = [r for r in read_lines(tmp_path / "events.jsonl") if r["event"] == "records_dropped"]
    assert [(r["count"], r["total"]) for r in reports] == [(3, 3)]


def test_the_writer_survives_an_unexpected_error_and_counts_the_batch(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import time

    recorder = Recorder(settings(tmp_path))
    original = recorder._files[0].write_lines
    calls = []

    def broken_once(lines: list[bytes]) -> int:
        calls.append(len(lines))
        if len(calls) == 1:
            raise RuntimeError("bug")
        return original(lines)

    recorder._files[0].write_lines = broken_once  # type: ignore[method-assign]
    recorder.data("row", n=0)
    deadline = time.monotonic() + 5
    while recorder.dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    recorder.data("row", n=1)
    closer = threading.Thread(target=recorder.close)
    closer.start()
    closer.join(5)
    assert not closer.is_alive(), "close() hangs: the writer thread died"
    assert recorder.dropped == 1
    assert [r["n"] for r in read_lines(tmp_path / "poller.jsonl")] == [1]
    assert "record writer error" in capfd.readouterr().err


def test_a_torn_last_line_left_by_a_crash_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    (tmp_path / "poller.jsonl").write_bytes(b'{"event":"row","n":0}\n{"event":"ro')
    recorder = Recorder(settings(tmp_path))
    recorder.data("row", n=1)
    recorder.close()
    lines = (tmp_path / "poller.jsonl").read_bytes().splitlines()
    assert lines[1] == b'{"event":"ro'
    assert json.loads(lines[2])["n"] == 1


def test_a_write_failing_halfway_leaves_only_whole_lines(tmp_path: Path) -> None:
    import errno

    recorder = Recorder(settings(tmp_path))
    recorder.data("row", n=0)
    recorder.close()
    recorder = Recorder(settings(tmp_path))
    file = recorder._files[0]

    class HalfThenFull:
        """A disk that takes half of a write, then is full."""

        def __init__(self, real: object) -> None:
            self.real, self.calls = real, 0

        def write(self, data: memoryview) -> int:
            self.calls += 1
            if self.calls > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.real.write(data[: len(data) // 2])  # type: ignore[attr-defined, no-any-return]

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    file._handle = HalfThenFull(file._handle)  # type: ignore[assignment]
    for n in range(1, 4):
        recorder.data("row", n=n, pad="x" * 100)
    recorder.close()
    data = (tmp_path / "poller.jsonl").read_bytes()
    assert data.endswith(b"\n")
    kept = [json.loads(line)["n"] for line in data.splitlines()]
    assert kept[0] == 0 and len(kept) + recorder.dropped == 4


def test_wide_integers_and_non_string_keys_are_written_exactly(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path))
    recorder.data("row", counter=2**64 - 1, wider=2**70, negative=-(2**63), by_index={1: "a"})
    recorder.close()
    raw = (tmp_path / "poller.jsonl").read_bytes()
    record = json.loads(raw)
    assert record["counter"] == 2**64 - 1 and record["wider"] == 2**70
    assert record["negative"] == -(2**63) and record["by_index"] == {"1": "a"}
    assert list(record)[:2] == ["timestamp", "event"]


def test_the_timestamp_is_the_time_of_the_call_in_utc_milliseconds(tmp_path: Path) -> None:
    import time
    from datetime import datetime

    recorder = Recorder(settings(tmp_path))
    stamps = []
    for _ in range(30):
        before = time.time()
        recorder.data("row")
        stamps.append((before, time.time()))
        time.sleep(0.037)
    recorder.close()
    for (before, after), record in zip(stamps, read_lines(tmp_path / "poller.jsonl")):
        text = str(record["timestamp"])
        assert TIMESTAMP.match(text)
        at = datetime.fromisoformat(text).timestamp()
        assert int(before * 1000) / 1000 - 1e-6 <= at <= after + 1e-6


def test_a_created_directory_is_0755_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        Recorder(settings(tmp_path / "a" / "logs")).close()
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "logs").stat().st_mode & 0o777 == 0o755


def test_records_after_close_are_counted_as_dropped(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path))
    recorder.close()
    recorder.data("row", n=1)
    assert recorder.dropped == 1 and recorder.written == 0


def test_a_line_longer_than_max_bytes_gets_a_file_of_its_own_unsplit(tmp_path: Path) -> None:
    recorder = Recorder(settings(tmp_path, max_bytes=200, backups=10))
    recorder.data("row", n=0)
    recorder.data("row", n=1, pad="x" * 500)
    recorder.data("row", n=2)
    recorder.close()
    files = [tmp_path / "poller.jsonl.2", tmp_path / "poller.jsonl.1", tmp_path / "poller.jsonl"]
    assert [[r["n"] for r in read_lines(f)] for f in files] == [[0], [1], [2]]


def test_backups_beyond_a_lowered_count_are_removed_at_the_next_rotation(tmp_path: Path) -> None:
    for n in range(1, 6):
        (tmp_path / f"poller.jsonl.{n}").write_text('{"old":1}\n')
    recorder = Recorder(settings(tmp_path, max_bytes=100, backups=2))
    for n in range(5):
        recorder.data("row", n=n, pad="x" * 40)
    recorder.close()
    assert sorted(f.name for f in tmp_path.glob("poller.jsonl*")) == [
        "poller.jsonl", "poller.jsonl.1", "poller.jsonl.2"
    ]


def test_rows_written_in_one_batch_are_the_lines_data_writes_one_by_one(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"device": "sw1", "table": "ifTable", "index": "3", "ifHCInOctets": 2**64 - 1,
         "ifHCInOctets_bps": None, "ifHCInOctets_bps_reason": "first_sample", "ratio": 0.5},
        {"device": "sw1", "wide": 2**70, "name": "ä\"\n"},  # past orjson's integers: the slow path
        {},
        {"device": "sw1", "timestamp": "theirs"},  # a field named like the head's: the long way
    ]
    one, batch = tmp_path / "one", tmp_path / "batch"
    recorder = Recorder(settings(one))
    for row in rows:
        recorder.data("row", **row)
    recorder.close()
    recorder = Recorder(settings(batch))
    recorder.data_many("row", [dict(row) for row in rows])
    recorder.close()

    def without_time(path: Path) -> list[bytes]:
        return [re.sub(rb'^\{"timestamp":"[^"]*"', b"", line)
                for line in path.read_bytes().splitlines()]

    assert without_time(batch / "poller.jsonl") == without_time(one / "poller.jsonl")
    written = read_lines(batch / "poller.jsonl")
    assert [list(r)[:2] for r in written] == [["timestamp", "event"]] * 4
    assert written[1]["wide"] == 2**70 and written[3]["timestamp"] == "theirs"
    assert all(TIMESTAMP.match(str(r["timestamp"])) for r in written[:3])


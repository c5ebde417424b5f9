"""The counter-state files: written whole, read newest-first per device across files, torn or
foreign lines counted and skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from poller.run import counter_state


def test_written_entries_read_back_newest_per_device_across_files(tmp_path: Path) -> None:
    counter_state.write(tmp_path / counter_state.file_name(0), [
        {"device": "a", "taken_at": 10.0, "seq": 1}, {"device": "b", "taken_at": 30.0, "seq": 2}])
    counter_state.write(tmp_path / counter_state.file_name(1), [
        {"device": "a", "taken_at": 20.0, "seq": 3}, {"device": "b", "taken_at": 5.0, "seq": 4}])
    entries, bad = counter_state.read(tmp_path)
    assert {name: e["seq"] for name, e in entries.items()} == {"a": 3, "b": 2}
    assert bad == 0


def test_a_rewrite_replaces_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state" / counter_state.file_name(None)
    counter_state.write(path, [{"device": "a", "taken_at": 1.0}, {"device": "b", "taken_at": 1.0}])
    counter_state.write(path, [{"device": "c", "taken_at": 2.0}])
    assert set(counter_state.read(path.parent)[0]) == {"c"}
    assert os.listdir(path.parent) == ["counters.jsonl"]


def test_torn_and_foreign_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "counters.jsonl").write_bytes(
        b'{"device": "a", "taken_at": 1.0}\n[1, 2]\n{"device": 3, "taken_at": 1}\n'
        b'{"device": "b", "taken_at": true}\n{"device": "c", "tak')
    entries, bad = counter_state.read(tmp_path)
    assert set(entries) == {"a"} and bad == 4


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "counters.jsonl"
    counter_state.write(path, [{"device": "a", "taken_at": 1.0}])

    def entries() -> object:
        yield {"device": "b", "taken_at": 2.0}
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        counter_state.write(path, entries())  # type: ignore[arg-type]
    assert set(counter_state.read(tmp_path)[0]) == {"a"}
    assert os.listdir(tmp_path) == ["counters.jsonl"]


def test_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert counter_state.read(tmp_path / "nowhere") == ({}, 0)

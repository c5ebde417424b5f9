"""`poller tail`'s parts: the follower walks every rotated file in order (plain and gzipped),
starts at whole lines, says when rotation outran it; filters, short lines, the file names."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from poller.cli import main
from poller.commands.follow import Follower, start_of_last
from poller.commands.tail import output_of, short_line
from poller.config.model import OutputSettings
from poller.errors import ConfigError
from poller.output.recorder import Recorder

#: a follower that misses a line waits for it for ever
pytestmark = pytest.mark.timeout(30)


def _follow_all(follower: Follower, count: int) -> list[int]:
    """The `seq` of the first `count` lines the follower gives."""
    lines = (line for chunk in follower.chunks() for line in chunk.splitlines())
    return [json.loads(line)["seq"] for line in itertools.islice(lines, count)]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_every_rotated_file_is_read_in_order_after_many_rotations_unseen(
    tmp_path: Path, compress: bool
) -> None:
    """The follower holds the first file while the writer rotates 50 times: it then reads the
    first file's end, every rotated file oldest first, and the active one, each line once."""
    output = OutputSettings(directory=tmp_path, max_bytes=1024, backups=1000, compress=compress)
    recorder = Recorder(output)
    follower = Follower(tmp_path / output.data_file, last_lines=None, interval_s=0.01)
    for seq in range(2000):
        recorder.data("row", device="sw1", seq=seq)
    recorder.close()
    assert len(list(tmp_path.glob("poller.jsonl.*"))) > 50
    assert _follow_all(follower, 2000) == list(range(2000))


def test_a_follower_outrun_by_rotation_says_so_and_repeats_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = OutputSettings(directory=tmp_path, max_bytes=1024, backups=2)
    recorder = Recorder(output)
    follower = Follower(tmp_path / output.data_file, last_lines=None, interval_s=0.01)
    for seq in range(500):
        recorder.data("row", seq=seq)
    recorder.close()
    kept = [json.loads(line)["seq"] for name in ("poller.jsonl.2", "poller.jsonl.1", "poller.jsonl")
            for line in (tmp_path / name).read_bytes().splitlines()]
    first = (tmp_path / "poller.jsonl.2").read_bytes().count(b"\n")
    seqs = _follow_all(follower, first)  # the held first file, then what is kept
    seqs += _follow_all(follower, len(kept))[: len(kept)]
    assert seqs[:first] == list(range(first)) and seqs[first:] == kept
    assert "rotated out of reach" in capsys.readouterr().err


def test_the_start_is_always_a_line_start(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a\nbb\nccc\npartial")
    with path.open("rb") as handle:
        starts = [start_of_last(handle, count) for count in (0, 1, 2, 3, 4, 100)]
    assert starts == [9, 5, 2, 0, 0, 0]


def test_a_partial_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b'{"seq":1}\n{"seq"')
    follower = Follower(path, last_lines=0, interval_s=0.01)
    with path.open("ab") as file:
        file.write(b':2}\n')
    assert _follow_all(follower, 1) == [2]


def _interrupt(_: float) -> None:
    raise KeyboardInterrupt


def test_filters_and_short_lines_then_ctrl_c_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records are printed, then the follower's first wait is interrupted as by Ctrl-C."""
    path = tmp_path / "poller.jsonl"
    records = [
        {"timestamp": "T1", "event": "poll", "device": "a", "address": "x", "seq": 1,
         "status": "timeout", "error_type": "timeout", "error": "no answer"},
        {"timestamp": "T2", "event": "poll", "device": "b", "status": "ok", "rows": 2},
        {"timestamp": "T3", "event": "row", "device": "a", "table": "if", "index": "1",
         "ifDescr": "Gi 0/1"},
    ]
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + b"torn\n")
    monkeypatch.setattr("poller.commands.follow.time.sleep", _interrupt)
    assert main(["tail", str(path), "--from-start", "--device", "a", "--line"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        'T1 poll a status=timeout error_type=timeout error="no answer"',
        'T3 row a table=if index=1 ifDescr="Gi 0/1"',
    ]
    assert "not a JSON record: b'torn'" in err
    assert short_line({"timestamp": "T", "event": "stats", "x": "y" * 300}).endswith("…")


def test_the_files_come_from_the_fleet_files_output(tmp_path: Path) -> None:
    config = tmp_path / "poller.toml"
    fleet = ('[credentials.lab]\ncommunity = "x"\n'
             '[[devices]]\nname = "a"\nhost = "127.0.0.1"\ncredential = "lab"\n')
    config.write_text('[output]\ndirectory = "/var/x"\nevents_file = "e.jsonl"\n' + fleet)
    config.chmod(0o600)
    output = output_of(config)
    assert (output.directory, output.data_file, output.events_file) == (
        Path("/var/x"), "poller.jsonl", "e.jsonl")
    config.write_text("[output]\ndata_file = 5\n" + fleet)
    with pytest.raises(ConfigError, match=r"poller.toml: output.data_file: .* got 5$"):
        output_of(config)


def test_a_file_and_events_together_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", str(tmp_path / "f"), "--events"]) == 2
    assert capsys.readouterr().err.count("\n") == 1

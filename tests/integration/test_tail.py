"""`poller tail` as a real process beside the real writer: every line once, in order, across
fast rotations (plain and gzipped); quiet on Ctrl-C and on a closed pipe."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poller.config.model import OutputSettings
from poller.output.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 20_000
#: a rotation every ~35 lines: at the pace below some 150 rotations a second
MAX_BYTES = 4096
#: how far the follower may fall behind, in rotations, before the writer removes what it needs
BACKUPS = 200


class Tail:
    """`poller tail ARGS` with its stdout lines collected by a thread."""

    def __init__(self, *args: str) -> None:
        # started with SIGINT ignored, as a background job of a shell without job control
        # starts it (CI, scripts): Ctrl-C must stop it all the same
        self.process = subprocess.Popen(
            ["sh", "-c", "trap '' INT; exec \"$@\"", "sh", sys.executable, "-m", "poller", "tail",
             *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.lines) < count and time.monotonic() < deadline:
            assert self.process.poll() is None, self.stop()[1]
            time.sleep(0.05)

    def stop(self) -> tuple[int, str]:
        """Ctrl-C; its exit code and stderr."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=10)
        self._reader.join(timeout=10)
        return self.process.returncode, stderr.decode()


@pytest.fixture()
def tails() -> Iterator[list[Tail]]:
    started: list[Tail] = []
    yield started
    for tail in started:
        if tail.process.poll() is None:
            tail.process.kill()
            tail.process.wait()


def _write_paced(recorder: Recorder, count: int) -> None:
    """`count` rows at ~6,000 a second, each numbered by `seq`."""
    for seq in range(count):
        recorder.data("row", device="sw1", table="interfaces", seq=seq, ifName=f"Gi0/{seq % 48}")
        if seq % 60 == 59:
            time.sleep(0.01)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_every_line_once_in_order_across_fast_rotations(
    tmp_path: Path, tails: list[Tail], compress: bool
) -> None:
    output = OutputSettings(directory=tmp_path, max_bytes=MAX_BYTES, backups=BACKUPS,
                            compress=compress)
    recorder = Recorder(output)
    try:
        recorder.data("row", device="marker", seq=-1)
        tail = Tail(str(tmp_path / output.data_file), "--from-start")
        tails.append(tail)
        tail.wait_for(1, timeout_s=20)  # following before the rotations begin
        assert len(tail.lines) == 1
        _write_paced(recorder, RECORDS)
    finally:
        recorder.close()
    tail.wait_for(RECORDS + 1, timeout_s=60)
    code, stderr = tail.stop()
    rotated = sorted(tmp_path.glob(output.data_file + ".*"))
    assert len(rotated) > 100  # it did rotate, many times
    seqs = [json.loads(line)["seq"] for line in tail.lines]
    assert seqs == list(range(-1, RECORDS))
    assert (code, stderr) == (0, "")


def test_a_line_is_printed_only_once_whole(tmp_path: Path, tails: list[Tail]) -> None:
    path = tmp_path / "poller.jsonl"
    path.write_bytes(b'{"event":"poll","device":"a","status":"ok"}\n{"event":"poll","dev')
    tail = Tail(str(path), "-n", "5")
    tails.append(tail)
    tail.wait_for(1, timeout_s=20)
    time.sleep(0.3)  # a torn line is not printed while it waits for its end
    assert [json.loads(line)["device"] for line in tail.lines] == ["a"]
    with path.open("ab") as file:
        file.write(b'ice":"b","status":"timeout"}\n')
    tail.wait_for(2, timeout_s=20)
    assert [json.loads(line)["device"] for line in tail.lines] == ["a", "b"]
    assert tail.stop() == (0, "")


def test_a_closed_pipe_ends_it_quietly(tmp_path: Path) -> None:
    path = tmp_path / "poller.jsonl"
    path.write_bytes(b'{"event":"row","n":0}\n' * 10)
    pipeline = f"{sys.executable} -m poller tail {path} --from-start | head -n 1"
    process = subprocess.Popen(["bash", "-c", pipeline + "; exit ${PIPESTATUS[0]}"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    with path.open("ab") as file:  # the next write finds the pipe closed
        for _ in range(50):
            file.write(b'{"event":"row","n":1}\n' * 1000)
            file.flush()
            time.sleep(0.02)
            if process.poll() is not None:
                break
    stdout, stderr = process.communicate(timeout=20)
    assert stdout == b'{"event":"row","n":0}\n'
    assert (process.returncode, stderr) == (0, b"")

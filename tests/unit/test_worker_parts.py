"""Pieces of the worker processes: how often a dying worker is started again, how a reload
is described, how an exit is named, how a worker's records reach the parent's writer whole, and
what a worker process started by its entry says."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pickle
import subprocess
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from poller.config.model import DaemonSettings, OutputSettings, fleet_diff
from poller.output.lines import EVENTS
from poller.output.recorder import Recorder
from poller.run.workers.messages import Alive, Drain, Ready, Start, Stopped
from poller.run.workers.record_pipe import KIND_MESSAGE, KINDS, ShippedRecords
from poller.run.workers.supervisor import (
    BACKOFF_S,
    RESTART_WINDOW_S,
    WORKER_ENTRY,
    RestartPolicy,
    exit_fields,
)

#: a bound for what must happen at once, far beyond any scheduling delay
PROMPTLY_S = 10.0


def test_a_dying_worker_is_restarted_later_each_time_then_given_up() -> None:
    policy = RestartPolicy()
    delays = [policy.on_exit(100.0 + n) for n in range(len(BACKOFF_S))]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert policy.on_exit(106.0) is None  # a sixth exit within the window: give up


def test_exits_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy()
    for n in range(len(BACKOFF_S)):
        policy.on_exit(float(n))
    # the window has passed since all of them: the next exit starts the backoff afresh
    assert policy.on_exit(RESTART_WINDOW_S + 10.0) == 1.0


def test_exits_are_named_by_signal_or_code() -> None:
    assert exit_fields(-9) == {"signal": "SIGKILL"}
    assert exit_fields(1) == {"exit_code": 1}
    assert exit_fields(0) == {"exit_code": 0}


class Dev:
    def __init__(self, name: str, interval_s: float) -> None:
        self.name, self.interval_s = name, interval_s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dev):
            return NotImplemented
        return (self.name, self.interval_s) == (other.name, other.interval_s)


def test_a_reload_is_told_as_added_removed_changed_unchanged() -> None:
    before = {d.name: d for d in (Dev("a", 1), Dev("b", 1), Dev("c", 1))}
    after = [Dev("a", 1), Dev("c", 2), Dev("d", 1)]
    diff = fleet_diff(before, after)  # type: ignore[arg-type]
    assert diff == {"added": ["d"], "removed": ["b"], "changed": ["c"], "unchanged": ["a"]}


def ship(records: ShippedRecords) -> None:
    async def main() -> None:
        for seq in range(3):
            records.data("row", device="d1", index=str(seq))
        records.data("poll", device="d1", seq=0, status="ok")
        records.event("overrun", device="d1")
        await asyncio.sleep(0)  # the turn ends: one message per stream
        records.message(Alive(0.5, 1, 0, 1))
        records.data("poll", device="d1", seq=1, status="ok")

    asyncio.run(main())
    records.flush()


def test_a_worker_ships_whole_lines_a_loop_turn_at_a_time_and_messages_in_order() -> None:
    sent: list[bytes] = []
    records = ShippedRecords(sent.append, worker=1)
    ship(records)
    kinds = [payload[:1] for payload in sent]
    assert kinds == [b"D", b"E", KIND_MESSAGE, b"D"]
    lines = sent[0][1:].splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["row", "row", "row", "poll"]
    assert json.loads(lines[-1])["worker"] == 1  # summaries say which worker polled
    assert "worker" not in json.loads(lines[0])  # rows do not
    assert list(json.loads(lines[0]))[:2] == ["timestamp", "event"]
    assert pickle.loads(sent[2][1:]) == Alive(0.5, 1, 0, 1)
    assert records.written == 6 and records.dropped == 0


def test_lines_that_cannot_be_sent_are_counted_as_dropped() -> None:
    def broken(_: bytes) -> None:
        raise BrokenPipeError

    records = ShippedRecords(broken, worker=0)
    ship(records)
    assert records.broken and records.written == 0 and records.dropped == 6


@pytest.mark.parametrize("compress", [False, True])
def test_shipped_lines_go_through_the_parents_writer_and_its_rotation(
    tmp_path: Path, compress: bool
) -> None:
    recorder = Recorder(OutputSettings(directory=tmp_path, max_bytes=2048, backups=100,
                                       compress=compress))
    for worker in (0, 1):
        sent: list[bytes] = []
        records = ShippedRecords(sent.append, worker=worker)

        async def main(records: ShippedRecords, device: str) -> None:
            for seq in range(40):
                records.data("poll", device=device, seq=seq, status="ok", pad="x" * 100)
                await asyncio.sleep(0)

        asyncio.run(main(records, f"d{worker}"))
        for payload in sent:
            recorder.lines(KINDS[payload[:1]], payload[1:].splitlines(keepends=True))
    recorder.lines(EVENTS, [b'{"event":"e"}\n'])
    recorder.close()
    lines = []
    for path in tmp_path.glob("poller.jsonl*"):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert len(data) <= 2048 and data.endswith(b"\n")
        lines += [json.loads(line) for line in data.splitlines()]
    assert len(list(tmp_path.glob("poller.jsonl.*"))) >= 4  # it rotated
    for worker in (0, 1):
        assert sorted(r["seq"] for r in lines if r["device"] == f"d{worker}") == list(range(40))
    assert recorder.written == 81 and recorder.dropped == 0


def test_a_worker_process_started_by_its_entry_answers_in_typed_messages() -> None:
    """The real entry (as the supervisor starts it): Start, then Ready and Alive up; a Drain
    order down, then Stopped, its last message, and exit 0."""
    up_read, up_write = os.pipe()
    down_read, down_write = os.pipe()
    process = subprocess.Popen([*WORKER_ENTRY, str(up_write), str(down_read)],
                               pass_fds=(up_write, down_read), stdin=subprocess.DEVNULL)
    os.close(up_write)
    os.close(down_read)
    messages: list[object] = []
    try:
        with Connection(down_write, readable=False) as orders, \
                Connection(up_read, writable=False) as records:
            orders.send(Start(3, (), DaemonSettings(stats_interval_s=60.0), False))
            messages.append(_next_message(records))
            orders.send(Drain(5.0))
            while not isinstance(messages[-1], Stopped):
                messages.append(_next_message(records))
    finally:
        assert process.wait(PROMPTLY_S) == 0
    assert messages[0] == Ready(process.pid, 0)
    assert all(isinstance(m, Alive) and m.devices == 0 for m in messages[1:-1])
    assert messages[-1] == Stopped(0, 0)


def _next_message(records: Connection) -> object:
    """The next message (lines, which a worker without devices does not write, are skipped)."""
    if not records.poll(PROMPTLY_S):
        raise AssertionError("the worker said nothing")
    payload = records.recv_bytes()
    return pickle.loads(payload[1:]) if payload[:1] == KIND_MESSAGE else _next_message(records)

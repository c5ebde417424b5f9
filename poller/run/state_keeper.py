"""Counter state that survives a restart: this process's devices' snapshots (poller.poll.snapshot)
restored before its first poll and written to its state file (poller.run.counter_state) every
`interval_s` and once more after the drain.

A device is exported only between its polls (never half-way through one): one with a poll in
flight keeps its previous export. Exports run on the loop in slices; the file is written by a
thread. The snapshot written after a drain is exact; one written earlier (what a crash leaves)
is behind by the polls made since, so a device restored from it skips `seq` by the ticks that
passed: a gap, which a lost poll is, never a `seq` used twice.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poller.config.model import DaemonSettings
from poller.output.sink import RecordSink
from poller.poll.snapshot import Clocks, Refused, export_device, import_device
from poller.run import counter_state
from poller.run.scheduler import DeviceState

#: devices exported per slice of the loop
SLICE = 500


@dataclass(frozen=True, slots=True)
class KeeperSettings:
    directory: Path
    #: this process's file: counters.jsonl, or counters-wN.jsonl for worker N
    file_name: str
    interval_s: float
    #: entries older than this are stale; 0: 2.5 intervals of the device (at least 60 s)
    max_age_s: float


def keeper_settings(daemon: DaemonSettings, worker: int | None = None) -> KeeperSettings | None:
    """The keeper of a process: the one-process daemon (`worker` None) or worker N."""
    if daemon.state_directory is None:
        return None
    return KeeperSettings(daemon.state_directory, counter_state.file_name(worker),
                          daemon.state_interval_s, daemon.state_max_age_s)


class StateKeeper:
    def __init__(self, settings: KeeperSettings, sink: RecordSink) -> None:
        self.settings = settings
        self._sink = sink
        self._exports: dict[str, dict[str, Any]] = {}
        self._exported_seq: dict[str, int] = {}
        self._failing = False
        #: the write in progress: a cancelled keep() leaves it to finish before the next starts
        self._writing: asyncio.Future[int] | None = None

    @property
    def path(self) -> Path:
        return self.settings.directory / self.settings.file_name

    def restore(self, states: Iterable[DeviceState]) -> None:
        """Carry on from the directory's newest entries; one `state_restored` event says how it went."""
        entries, unreadable = counter_state.read(self.settings.directory)
        clocks = _clocks()
        counts = {"restored": 0, "stale": 0, "changed": 0, "invalid": 0, "none": 0}
        for state in states:
            entry = entries.get(state.device.name)
            if entry is None:
                counts["none"] += 1
                continue
            try:
                seq = import_device(entry, state.device, state.tracker, clocks, self._max_age(state))
            except Refused as refused:
                counts[str(refused)] += 1
                continue
            state.seq = seq if entry.get("final") is True else _past_the_gap(seq, entry, clocks)
            counts["restored"] += 1
        self._sink.event("state_restored", directory=str(self.settings.directory),
                         file=self.settings.file_name, unreadable=unreadable, **counts)

    def _max_age(self, state: DeviceState) -> float:
        return self.settings.max_age_s or max(60.0, 2.5 * state.device.interval_s)

    async def keep(self, states: Any) -> None:
        """Every interval: export and write. `states` gives the current DeviceStates."""
        while True:
            await asyncio.sleep(self.settings.interval_s)
            await self.save(states(), final=False)

    async def save(self, states: Iterable[DeviceState], *, final: bool) -> None:
        entries = await self._export(list(states), final)
        if self._writing is not None:
            await asyncio.wait([self._writing])
        self._writing = asyncio.ensure_future(asyncio.to_thread(counter_state.write, self.path, entries))
        try:
            await asyncio.shield(self._writing)
        except OSError as exc:
            if not self._failing:
                self._failing = True
                self._sink.event("state_write_failed", file=str(self.path), error=str(exc))
            return
        if self._failing:
            self._failing = False
            self._sink.event("state_write_recovered", file=str(self.path))

    async def _export(self, states: list[DeviceState], final: bool) -> list[dict[str, Any]]:
        wanted = {s.device.name for s in states}
        for gone in self._exports.keys() - wanted:
            del self._exports[gone], self._exported_seq[gone]
        for start in range(0, len(states), SLICE):
            clocks = _clocks()
            for state in states[start:start + SLICE]:
                name = state.device.name
                busy = state.poll_task is not None and not state.poll_task.done()
                if busy or self._exported_seq.get(name) == state.seq:
                    continue
                entry = export_device(state.device, state.seq, state.tracker, clocks)
                entry["interval_s"] = state.device.interval_s
                self._exports[name], self._exported_seq[name] = entry, state.seq
            await asyncio.sleep(0)
        return [{**entry, "final": final} for entry in self._exports.values()]


def _clocks() -> Clocks:
    return Clocks(asyncio.get_running_loop().time(), time.time())


def _past_the_gap(seq: int, entry: dict[str, Any], clocks: Clocks) -> int:
    """A snapshot taken before the process died: at most one `seq` per tick was used since."""
    interval = entry.get("interval_s")
    if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
        interval = 1.0
    return seq + math.ceil(max(0.0, clocks.wall_s - float(entry["taken_at"])) / interval)

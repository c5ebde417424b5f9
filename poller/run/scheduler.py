"""When polls happen: one drift-free schedule per device, phase-spread, one poll in flight per
device, a global cap on polls in flight, and a summary record for every scheduled poll."""

from __future__ import annotations

import asyncio
import math
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from poller.config.model import Device, fleet_diff
from poller.output.sink import RecordSink
from poller.poll.device import PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.poll.summary import deadline_fields, internal_error_fields, outcome_fields
from poller.run.grid import Owner, Slot, first_tick_ms, interval_ms
from poller.snmp.client import SnmpClient
from poller.snmp.types import Target

#: a loop stall longer than this many intervals records the missed ticks in one summary each,
#: up to this bound, so a long stall cannot flood the files
MAX_MISSED_TICKS_RECORDED = 100


@dataclass(slots=True)
class Window:
    """Poll outcomes since the last stats record."""

    statuses: dict[str, int] = field(default_factory=dict)
    overruns: int = 0
    lags_s: list[float] = field(default_factory=list)

    def note(self, summary: dict[str, Any]) -> None:
        status = summary["status"]
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if summary.get("error_type") == "overrun":
            self.overruns += 1
        lag = summary.get("queue_delay_s")
        if lag is not None:
            self.lags_s.append(lag)


def phase_s(name: str, interval_s: float) -> float:
    """A stable offset in [0, interval) from the device name, so a fleet does not fire at once
    and a device keeps its slot across restarts."""
    millis = max(1, int(interval_s * 1000))
    return (zlib.crc32(name.encode()) % millis) / 1000.0


@dataclass(slots=True)
class DeviceState:
    """What lives across one device's polls."""

    device: Device
    tracker: CounterTracker = field(default_factory=CounterTracker)
    seq: int = 0
    loop_task: asyncio.Task[None] | None = None
    poll_task: asyncio.Task[None] | None = None
    #: where its requests go, built once per device (again when a reload changes it)
    target: Target = field(init=False)
    #: on a shared grid: this host polled the device's last tick (else it takes over first)
    held: bool = False
    #: on a shared grid: the last tick this host polled or skipped (never acted on twice)
    done_ms: int | None = None

    def __post_init__(self) -> None:
        self.target = target_for(self.device)

    def replace_device(self, device: Device) -> None:
        """A reload changed the device: new settings, and its counters start afresh."""
        self.device, self.tracker, self.target = device, CounterTracker(), target_for(device)


class Scheduler:
    def __init__(
        self,
        devices: tuple[Device, ...],
        client: SnmpClient,
        sink: RecordSink,
        *,
        max_in_flight: int,
        console: Any = None,
        owner: Owner | None = None,
    ) -> None:
        self._client = client
        self._sink = sink
        self._console = console
        #: with a cluster: ticks on the shared grid, each polled here only when this host owns it
        self._owner = owner
        self._slots = asyncio.Semaphore(max_in_flight)
        self._states = {d.name: DeviceState(d) for d in devices}
        self._polls: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._epoch = self._loop.time()
        self.in_flight = 0
        self.completed = 0
        self.cancelled = 0
        #: loop time of the last summary written: the watchdog's proof of life
        self.last_progress = self._epoch
        #: what happened since the last `take_window()`, for the stats record
        self.window = Window()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start every device's schedule."""
        for state in self._states.values():
            self._start_loop(state)

    async def run_once(self) -> None:
        """Poll every device once, now (under the same in-flight cap), and wait for all."""
        now = self._loop.time()
        for state in self._states.values():
            self._launch(state, now)
        await asyncio.gather(*self._polls, return_exceptions=True)

    async def drain(self, grace_s: float) -> int:
        """Stop starting polls, let in-flight ones finish within `grace_s`, cancel the rest.
        Returns how many were cancelled; each of them still gets its summary record."""
        loops = [s.loop_task for s in self._states.values() if s.loop_task is not None]
        for state in self._states.values():
            self._stop_loop(state)  # cancelled, and told it is no longer the device's loop
        await asyncio.gather(*loops, return_exceptions=True)
        pending = set(self._polls)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace_s)
        self.cancel_polls()
        await asyncio.gather(*pending, return_exceptions=True)
        return self.cancelled

    def cancel_polls(self) -> None:
        for task in list(self._polls):
            task.cancel()

    @property
    def devices(self) -> int:
        return len(self._states)

    def take_window(self) -> Window:
        window, self.window = self.window, Window()
        return window

    def states(self) -> list[DeviceState]:
        """Every device's state (its counters, seq, poll in flight), for the state keeper."""
        return list(self._states.values())

    def apply(self, devices: tuple[Device, ...]) -> dict[str, list[str]]:
        """Switch to a new fleet (a reload): unchanged devices keep their schedule and counter
        state; removed ones stop starting polls (one in flight ends on its own deadline); new
        ones start; changed ones restart on their new settings with fresh counter state. Each
        device's `seq` carries on, so its summaries stay contiguous."""
        wanted = {d.name: d for d in devices}
        diff = fleet_diff({name: state.device for name, state in self._states.items()}, devices)
        for name in diff["removed"]:
            self._stop_loop(self._states.pop(name))
        for name in diff["changed"]:
            state = self._states[name]
            self._stop_loop(state)
            state.replace_device(wanted[name])
            self._start_loop(state)
        for name in diff["added"]:
            state = self._states[name] = DeviceState(wanted[name])
            self._start_loop(state)
        return diff

    def recheck(self) -> None:
        """On a shared grid, after the members changed: every schedule starts again from the
        earliest tick whose deadline has not passed (past the last one acted on here), so a tick
        found not ours before this host learned of the change is looked at again."""
        for state in self._states.values():
            if state.loop_task is not None:
                self._stop_loop(state)
                self._start_loop(state)

    def _start_loop(self, state: DeviceState) -> None:
        state.loop_task = asyncio.create_task(self._device_loop(state), name=state.device.name)

    @staticmethod
    def _stop_loop(state: DeviceState) -> None:
        if state.loop_task is not None:
            state.loop_task.cancel()
            state.loop_task = None

    # -- one device --------------------------------------------------------------------------

    async def _device_loop(self, state: DeviceState) -> None:
        if self._owner is not None:
            await self._grid_loop(state, self._owner)
            return
        interval = state.device.interval_s
        next_at = self._epoch + phase_s(state.device.name, interval)
        now = self._loop.time()
        if next_at < now:  # started after a reload: join the grid at its next slot
            next_at += math.ceil((now - next_at) / interval) * interval
        while True:
            await asyncio.sleep(max(0.0, next_at - self._loop.time()))
            next_at = self._skip_missed(state, next_at)
            poll = state.poll_task
            if poll is not None and not poll.done():
                self._skip(state, next_at, "overrun", "the previous poll is still running")
            else:
                self._launch(state, next_at)
            next_at += interval

    async def _grid_loop(self, state: DeviceState, owner: Owner) -> None:
        """Ticks on the shared grid; a tick this host does not own leaves no record here. A
        loop replaced meanwhile (recheck, apply) stops after its next wait even when a library
        under that wait swallowed the cancel, so one device never has two loops."""
        me = asyncio.current_task()
        interval = interval_ms(state.device)
        at_ms = first_tick_ms(state.device, (self._loop.time() + owner.offset_s()) * 1000)
        if state.done_ms is not None:
            at_ms = max(at_ms, state.done_ms + interval)
        while True:
            tick = at_ms / 1000 - owner.offset_s()
            await asyncio.sleep(max(0.0, tick - self._loop.time()))
            await owner.settled(at_ms)
            if state.loop_task is not me:
                return
            slot = owner.slot(state.device.name, at_ms, self._loop.time())
            if slot is not None and (slot.recover or not state.held):
                slot = await self._take_over(state, owner, slot)
                if state.loop_task is not me:
                    return
            poll = state.poll_task
            if slot is None:
                pass
            elif at_ms + interval <= (self._loop.time() + owner.offset_s()) * 1000:
                self._skip(state, tick, "late", "the poller was too busy to start this poll", slot)
            elif poll is not None and not poll.done():
                self._skip(state, tick, "overrun", "the previous poll is still running", slot)
            else:
                self._launch(state, tick, slot)
            if slot is not None:
                state.done_ms = at_ms
            state.held = slot is not None
            at_ms += interval

    @staticmethod
    async def _take_over(state: DeviceState, owner: Owner, slot: Slot) -> Slot | None:
        """The first tick of a device this host did not poll just before (or a dead owner's):
        its counters (and seq) from the last owner's snapshot; None when that owner polled
        this tick already."""
        go, seq = await owner.taking_over(state.device, state.tracker, slot.at_ms)
        state.seq = state.seq if seq is None else seq
        return slot if go else None

    def _skip_missed(self, state: DeviceState, next_at: float) -> float:
        """After a stall of the loop, record the ticks whose whole interval already passed and
        resume on the grid (drift-free: deadlines stay epoch + phase + k x interval)."""
        interval = state.device.interval_s
        now = self._loop.time()
        missed = 0
        while next_at + interval <= now:
            if missed < MAX_MISSED_TICKS_RECORDED:
                self._skip(state, next_at, "late", "the poller was too busy to start this poll")
            missed += 1
            next_at += interval
        return next_at

    def _launch(self, state: DeviceState, tick: float, slot: Slot | None = None) -> None:
        task = asyncio.create_task(self._poll(state, tick, state.seq, slot),
                                   name=state.device.name)
        state.seq += 1
        state.poll_task = task
        self._polls.add(task)
        task.add_done_callback(self._polls.discard)

    def _skip(self, state: DeviceState, tick: float, error_type: str, message: str,
              slot: Slot | None = None) -> None:
        device = state.device
        seq = state.seq
        state.seq += 1
        scheduled_at = slot.scheduled_at if slot is not None else self._wall(tick)
        self._sink.event(error_type, device=device.name, seq=seq, scheduled_at=scheduled_at)
        self._summary(state, tick, seq, slot, status="skipped", error_type=error_type,
                      error=message)

    async def _poll(self, state: DeviceState, tick: float, seq: int, slot: Slot | None) -> None:
        device = state.device
        outcome = PollOutcome()
        started: float | None = None
        fields: dict[str, Any] = {}
        try:
            async with asyncio.timeout_at(tick + device.poll_deadline_s):
                async with self._slots:
                    started = self._loop.time()
                    self.in_flight += 1
                    try:
                        await poll_device(
                            device, state.target, self._client, state.tracker,
                            outcome, self._loop.time,
                        )
                    finally:
                        self.in_flight -= 1
            fields = {"status": outcome.status}
        except TimeoutError:
            fields = deadline_fields(device, outcome, started is None)
        except asyncio.CancelledError:
            self.cancelled += 1
            fields = {"status": "error", "error_type": "cancelled",
                      "error": "cancelled at shutdown after the drain grace period"}
            self._finish(state, tick, seq, outcome, started, fields, slot)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug of ours: the poll still ends in a summary
            fields = internal_error_fields(outcome, exc)
        ended = self._loop.time()
        claimed: bool | None = None
        try:
            if slot is not None and self._owner is not None:
                claimed = await self._claim(self._owner, state, slot)
        finally:
            self._finish(state, tick, seq, outcome, started, fields, slot, claimed, ended)

    @staticmethod
    async def _claim(owner: Owner, state: DeviceState, slot: Slot) -> bool:
        """On the shared grid: after a pause the next answer says whether the tick is still this
        host's (poller.cluster.owner.TickOwner.settled); then its snapshot tells Redis the tick
        was polled, before its records are written (TickOwner.claim)."""
        await owner.settled(slot.at_ms)
        return await owner.claim(state.device, state.seq, state.tracker, slot.at_ms)

    def _record(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        """A poll's records, in order; each run of one event (a table's rows) in one call."""
        for event, run in groupby(records, key=itemgetter(0)):
            self._sink.data_many(event, [record for _, record in run])

    def _finish(
        self,
        state: DeviceState,
        tick: float,
        seq: int,
        outcome: PollOutcome,
        started: float | None,
        fields: dict[str, Any],
        slot: Slot | None = None,
        claimed: bool | None = None,
        ended: float | None = None,
    ) -> None:
        """A poll's records and summary. On the shared grid, `claimed` says whether they are
        this host's to write (None: the poll was cancelled before it could claim its tick)."""
        if slot is not None and self._owner is not None and not (
                claimed if claimed is not None
                else self._owner.holds(slot.at_ms, self._loop.time())):
            # ended after this host lost its lease (a pause): the next owner polls this tick
            # again unless the snapshot shows it done, so nothing of it is written here
            self.completed += 1
            return
        self._record(outcome.records)
        now = self._loop.time() if ended is None else ended
        self.completed += 1
        self._summary(state, tick, seq, slot,
                      **outcome_fields(outcome, fields, tick, started, now))
        if self._owner is not None and slot is not None and claimed is None:
            self._owner.polled(state.device, state.seq, state.tracker, now, slot.at_ms)
        if self._console is not None:
            self._console(state.device, fields, outcome, now - (started or now))

    def _summary(self, state: DeviceState, tick: float, seq: int, slot: Slot | None = None,
                 **fields: Any) -> None:
        device = state.device
        record: dict[str, Any] = {
            "device": device.name,
            "address": state.target.address,  # [v6]:port, as operators write it
            "seq": seq,
            "scheduled_at": slot.scheduled_at if slot is not None else self._wall(tick),
            # the answer to "did it work?" comes first; the details follow
            "status": fields.pop("status"),
        }
        if "error_type" in fields:
            record["error_type"] = fields.pop("error_type")
            record["error"] = fields.pop("error", None)
        record.update(fields)
        if slot is not None:
            record["owner"], record["epoch"] = slot.owner, slot.epoch
        self._sink.data("poll", **record)
        self.last_progress = self._loop.time()
        self.window.note(record)

    def _wall(self, loop_time: float) -> str:
        """A loop-clock instant as RFC 3339 UTC."""
        wall = datetime.now(UTC).timestamp() - (self._loop.time() - loop_time)
        return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )

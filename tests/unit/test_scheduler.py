"""The scheduler on virtual time with the fake requester: when polls happen, what every scheduled
poll leaves behind, and that one bad device never moves another."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any

from poller.config.model import Column, Credential, Device, Secret, Table, fleet_diff
from poller.oid import Oid
from poller.run.grid import Slot
from poller.run.scheduler import Scheduler, phase_s
from poller.snmp.client import SnmpClient
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.types import Kind
from tests.unit.clock import VirtualClock

UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")
SYSNAME = Oid.parse("1.3.6.1.2.1.1.5.0")
IN_OCTETS = Oid.parse("1.3.6.1.2.1.31.1.1.1.6")
DESCR = Oid.parse("1.3.6.1.2.1.2.2.1.2")
PUBLIC = Credential(name="public", version="2c", community=Secret("public"))


class Sink:
    """A RecordSink (poller.output.sink), into lists."""

    written = dropped = 0

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.console: list[str] = []

    def data(self, event: str, **fields: Any) -> None:
        self.records.append((event, fields))

    def data_many(self, event: str, records: list[dict[str, Any]]) -> None:
        self.records.extend((event, record) for record in records)

    def event(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def console_line(self, text: str) -> None:
        self.console.append(text)

    def polls(self, device: str) -> list[dict[str, Any]]:
        return [f for e, f in self.records if e == "poll" and f["device"] == device]

    def rows(self, device: str) -> list[dict[str, Any]]:
        return [f for e, f in self.records if e == "row" and f["device"] == device]


def device(name: str, host: str, *, interval_s: float = 10.0, timeout_s: float = 1.0) -> Device:
    return Device(
        name=name,
        host=host,
        port=161,
        credential=PUBLIC,
        profiles=("test",),
        scalar_groups=(("system", (Column(name="sysName", oid=SYSNAME),)),),
        tables=(
            Table(
                name="interfaces",
                columns=(
                    Column(name="ifDescr", oid=DESCR),
                    Column(name="ifHCInOctets", oid=IN_OCTETS, bits=True),
                ),
            ),
        ),
        interval_s=interval_s,
        timeout_s=timeout_s,
        retries=0,
        max_repetitions=10,
        max_oids_per_request=16,
    )


def agent(*, uptime: int = 100_000, octets: int = 0, **options: Any) -> FakeAgent:
    return FakeAgent(
        {
            UPTIME: (Kind.TIMETICKS, uptime),
            SYSNAME: (Kind.OCTETS, b"sw"),
            DESCR + (1,): (Kind.OCTETS, b"eth0"),
            DESCR + (2,): (Kind.OCTETS, b"eth1"),
            IN_OCTETS + (1,): (Kind.COUNTER64, octets),
            IN_OCTETS + (2,): (Kind.COUNTER64, 7),
        },
        **options,
    )


class TimedRequester(FakeRequester):
    """The fake, also noting the loop time of each poll's first request (its GET)."""

    def __init__(self, agents: dict[str, FakeAgent], loop_time: Any) -> None:
        super().__init__(agents)
        self.get_times: dict[str, list[float]] = {}
        self._loop_time = loop_time

    async def get(self, target: Any, oids: Any) -> Any:
        self.get_times.setdefault(target.name, []).append(self._loop_time())
        return await super().get(target, oids)


def run_fleet(
    devices: list[Device],
    agents: dict[str, FakeAgent],
    seconds: float,
    *,
    max_in_flight: int = 64,
    during: Any = None,
    grace_s: float = 5.0,
) -> tuple[Sink, TimedRequester, int]:
    clock = VirtualClock()
    sink = Sink()
    requester = TimedRequester(agents, clock.loop.time)

    async def main() -> int:
        scheduler = Scheduler(tuple(devices), SnmpClient(requester), sink, max_in_flight=max_in_flight)
        scheduler.start()
        if during is not None:
            await during(clock, scheduler)
        await asyncio.sleep(seconds)
        return await scheduler.drain(grace_s)

    cancelled = clock.run(main)
    return sink, requester, cancelled


def test_phase_is_stable_spread_and_inside_the_interval() -> None:
    phases = {phase_s(f"sw{i}", 60.0) for i in range(200)}
    assert all(0.0 <= p < 60.0 for p in phases)
    assert len(phases) > 150  # spread, not bunched on a few slots
    assert phase_s("core-sw1", 60.0) == phase_s("core-sw1", 60.0)


def test_polls_follow_a_drift_free_grid_and_every_tick_has_a_summary() -> None:
    dev = device("a", "127.0.0.11", interval_s=10.0)
    sink, requester, _ = run_fleet([dev], {"127.0.0.11": agent(delay_s=0.37)}, 100.0)
    times = requester.get_times["a"]
    assert len(times) == 10
    first = times[0]
    # each poll starts on first + k x interval exactly, whatever the polls took (0.37 s x 3 requests)
    assert [round(t - first, 9) for t in times] == [10.0 * k for k in range(10)]
    polls = sink.polls("a")
    assert [p["seq"] for p in polls] == list(range(10))
    assert {p["status"] for p in polls} == {"ok"}
    assert all(p["queue_delay_s"] == 0 for p in polls)


def test_a_dead_device_times_out_without_moving_a_healthy_one() -> None:
    good, dead = device("good", "127.0.0.11"), device("dead", "127.0.0.12", timeout_s=3.0)
    agents = {"127.0.0.11": agent(), "127.0.0.12": agent(dead=True, delay_s=3.0)}
    sink, requester, _ = run_fleet([good, dead], agents, 60.0)
    good_times = requester.get_times["good"]
    assert [round(b - a, 9) for a, b in itertools.pairwise(good_times)] == [10.0] * 5
    dead_polls = sink.polls("dead")
    assert len(dead_polls) == 6
    assert {(p["status"], p["error_type"]) for p in dead_polls} == {("timeout", "timeout")}
    assert "127.0.0.12" in dead_polls[0]["address"]
    assert {p["status"] for p in sink.polls("good")} == {"ok"}


def test_a_poll_past_its_deadline_is_cut_off_and_recorded() -> None:
    slow = device("slow", "127.0.0.13", interval_s=10.0, timeout_s=4.0)
    # each request answers after 4.6 s: GET + one GETBULK take 9.2 s, past the 9 s deadline
    sink, _, _ = run_fleet([slow], {"127.0.0.13": agent(delay_s=4.6)}, 50.0)
    polls = sink.polls("slow")
    assert len(polls) == 5
    for poll in polls:
        assert poll["status"] == "partial"  # the scalars were read, the table was not
        assert poll["error_type"] == "poll_deadline"
        assert 8.9 < poll["duration_s"] <= 9.0 + 1e-6
        table = poll["failed_parts"][0]["part"]
        assert poll["failed_parts"] == [{"part": table, "error_type": "poll_deadline"}]
        assert poll["error"] == f"poll did not finish within 9 s (table {table} was running)"
    events = [e for e, _ in sink.events]
    assert "overrun" not in events


def test_the_in_flight_cap_queues_and_records_the_delay() -> None:
    devs = [device(f"d{i}", f"127.0.0.{20 + i}") for i in range(3)]
    agents = {f"127.0.0.{20 + i}": agent(delay_s=1.0) for i in range(3)}
    sink, _, _ = run_fleet(devs, agents, 10.0, max_in_flight=1)
    delays = sorted(p["queue_delay_s"] for d in devs for p in sink.polls(d.name))
    assert len(delays) == 3
    assert {p["status"] for d in devs for p in sink.polls(d.name)} == {"ok"}
    assert delays[-1] > 0.0  # someone waited for the only slot


def test_no_free_slot_before_the_deadline_is_our_fault_not_the_devices() -> None:
    hog = device("hog", "127.0.0.30", interval_s=10.0, timeout_s=5.0)
    victim = device("victim", "127.0.0.31", interval_s=10.0)
    agents = {"127.0.0.30": agent(dead=True, delay_s=5.0), "127.0.0.31": agent()}
    sink, _, _ = run_fleet([hog, victim], agents, 30.0, max_in_flight=1)
    statuses = {(p["status"], p.get("error_type")) for p in sink.polls("victim")}
    assert ("timeout", "timeout") not in statuses
    assert all(s in {("ok", None), ("skipped", "queue_full")} for s in statuses)


def test_a_stalled_loop_records_the_ticks_it_missed_as_late() -> None:
    dev = device("a", "127.0.0.11", interval_s=10.0)

    async def stall(clock: VirtualClock, _: Scheduler) -> None:
        await asyncio.sleep(15.0)
        clock.stall(35.0)  # as if a CPU hog blocked the loop

    sink, _, _ = run_fleet([dev], {"127.0.0.11": agent()}, 30.0, during=stall)
    polls = sink.polls("a")
    assert sorted(p["seq"] for p in polls) == list(range(len(polls)))
    late = [p for p in polls if p.get("error_type") == "late"]
    assert len(late) >= 2
    assert all(p["status"] == "skipped" for p in late)
    # the poll started right after the stall is on the grid and not blamed on the device
    assert all(p["status"] == "ok" for p in polls if p not in late)
    assert [f["seq"] for e, f in sink.events if e == "late"] == [p["seq"] for p in late]


def test_drain_waits_within_the_grace_then_cancels_and_still_summarizes() -> None:
    quick = device("quick", "127.0.0.40", interval_s=10.0, timeout_s=4.0)
    stuck = device("stuck", "127.0.0.41", interval_s=10.0, timeout_s=8.0)
    agents = {"127.0.0.40": agent(delay_s=0.5), "127.0.0.41": agent(delay_s=8.0)}

    async def align(clock: VirtualClock, _: Scheduler) -> None:
        # stop in the middle of both devices' polls
        await asyncio.sleep(max(phase_s("quick", 10.0), phase_s("stuck", 10.0)) + 0.2)

    sink, _, cancelled = run_fleet([quick, stuck], agents, 0.0, during=align, grace_s=2.0)
    assert cancelled == 1
    assert [p["status"] for p in sink.polls("quick")] == ["ok"]
    stuck_polls = sink.polls("stuck")
    assert [(p["status"], p["error_type"]) for p in stuck_polls] == [("error", "cancelled")]


def test_rows_carry_rates_from_the_second_poll_on() -> None:
    dev = device("a", "127.0.0.11", interval_s=10.0)
    fake = agent(octets=1_000)

    async def advance(clock: VirtualClock, _: Scheduler) -> None:
        await asyncio.sleep(phase_s("a", 10.0) + 1.0)  # after the first poll
        fake.set(IN_OCTETS + (1,), Kind.COUNTER64, 1_000 + 10 * 1250)
        fake.set(UPTIME, Kind.TIMETICKS, 100_000 + 1000)

    sink, _, _ = run_fleet([dev], {"127.0.0.11": fake}, 10.0, during=advance)
    first, second = [r for r in sink.rows("a") if r["index"] == "1"][:2]
    assert first["ifHCInOctets_bps"] is None
    assert first["ifHCInOctets_bps_reason"] == "first_sample"
    assert first["ifDescr"] == "eth0"
    assert second["ifHCInOctets"] == 13_500
    assert second["ifHCInOctets_bps"] == 10_000.0  # 12,500 octets in 10 s, as bits
    assert "ifHCInOctets_bps_reason" not in second


def test_an_agent_restart_gives_null_rates_with_a_reason_not_a_spike() -> None:
    dev = device("a", "127.0.0.11", interval_s=10.0)
    fake = agent(uptime=500_000, octets=10**12)

    async def reboot(clock: VirtualClock, _: Scheduler) -> None:
        await asyncio.sleep(phase_s("a", 10.0) + 1.0)
        fake.set(UPTIME, Kind.TIMETICKS, 900)
        fake.set(IN_OCTETS + (1,), Kind.COUNTER64, 5_000)

    sink, _, _ = run_fleet([dev], {"127.0.0.11": fake}, 10.0, during=reboot)
    second = [r for r in sink.rows("a") if r["index"] == "1"][1]
    assert second["ifHCInOctets_bps"] is None
    assert second["ifHCInOctets_bps_reason"] == "agent_restart"
    assert sink.polls("a")[1]["agent_restarted"] is True


def test_a_reload_keeps_unchanged_devices_and_restarts_changed_ones() -> None:
    import dataclasses

    keep, change, drop = (device(n, f"127.0.0.{50 + i}") for i, n in enumerate(("keep", "change", "drop")))
    new = device("new", "127.0.0.53")
    agents = {f"127.0.0.{50 + i}": agent() for i in range(4)}
    diffs: list[dict[str, list[str]]] = []
    applied_at: list[float] = []

    async def reload(clock: VirtualClock, scheduler: Scheduler) -> None:
        await asyncio.sleep(25.0)
        applied_at.append(clock.now)
        faster = dataclasses.replace(change, interval_s=5.0)
        diffs.append(scheduler.apply((keep, faster, new)))

    sink, requester, _ = run_fleet([keep, change, drop], agents, 30.0, during=reload)
    assert diffs == [{"added": ["new"], "removed": ["drop"], "changed": ["change"], "unchanged": ["keep"]}]
    for name in ("keep", "change"):
        seqs = [p["seq"] for p in sink.polls(name)]
        assert sorted(seqs) == list(range(len(seqs)))
    assert max(requester.get_times["drop"]) < applied_at[0]
    assert requester.get_times["new"]
    after = [t for t in requester.get_times["change"] if t > applied_at[0]]
    assert [round(b - a, 9) for a, b in itertools.pairwise(after)] == [5.0] * (len(after) - 1)
    assert len(after) >= 5
    # "keep" kept its counter state: only its first poll has first-sample rates
    reasons = [r.get("ifHCInOctets_bps_reason") for r in sink.rows("keep")]
    assert reasons.count("first_sample") == 2 and len(reasons) > 4


def test_a_reload_is_applied_and_told_alike_in_one_process_and_with_workers() -> None:
    """Scheduler.apply (one process, each worker) and the supervisor's `reloaded` event read
    the same diff, lists in the same order, for a file whose devices also moved around."""
    old = [device(f"d{i}", f"127.0.0.{60 + i}") for i in range(6)]
    # d0 and d3 removed, d1 and d4 changed, d2 and d5 kept, e0 and e1 added; all reordered
    new = (device("e1", "127.0.0.70"), old[5], dataclasses.replace(old[4], interval_s=5.0),
           old[2], device("e0", "127.0.0.71"), dataclasses.replace(old[1], interval_s=5.0))
    agents = {f"127.0.0.{n}": agent() for n in (*range(60, 66), 70, 71)}
    applied: list[dict[str, list[str]]] = []

    async def reload(clock: VirtualClock, scheduler: Scheduler) -> None:
        await asyncio.sleep(15.0)
        applied.append(scheduler.apply(new))
        assert scheduler.devices == len(new)

    sink, _, _ = run_fleet(old, agents, 15.0, during=reload)
    told = fleet_diff({d.name: d for d in old}, new)
    assert applied == [told]
    assert told == {"added": ["e1", "e0"], "removed": ["d0", "d3"], "changed": ["d4", "d1"],
                    "unchanged": ["d5", "d2"]}
    assert sink.polls("e0") and sink.polls("e1")  # the added ones were started


def test_an_ipv6_device_is_summarized_with_its_address_as_operators_write_it() -> None:
    v6 = dataclasses.replace(device("v6", "::1"), port=1161)
    sink, _, _ = run_fleet([v6], {"::1": agent()}, 10.0)
    assert {p["address"] for p in sink.polls("v6")} == {"[::1]:1161"}


class BrokenRequester(TimedRequester):
    """A requester with a bug for one address: its GETBULK raises what no SNMP error is."""

    async def get_bulk(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        if target.host == "127.0.0.66":
            raise RuntimeError("a bug, not the agent")
        return await super().get_bulk(target, *args, **kwargs)


def test_a_bug_in_a_poll_still_ends_in_a_summary_and_moves_no_other_device() -> None:
    broken, good = device("broken", "127.0.0.66"), device("good", "127.0.0.67")
    clock = VirtualClock()
    sink = Sink()
    requester = BrokenRequester({"127.0.0.66": agent(), "127.0.0.67": agent()}, clock.loop.time)

    async def main() -> int:
        scheduler = Scheduler((broken, good), SnmpClient(requester), sink, max_in_flight=8)
        scheduler.start()
        await asyncio.sleep(30.0)
        return await scheduler.drain(5.0)

    clock.run(main)
    polls = sink.polls("broken")
    assert [p["seq"] for p in polls] == [0, 1, 2]
    for poll in polls:
        # the scalars were read and written; the table's walk hit the bug
        assert (poll["status"], poll["error_type"]) == ("partial", "internal_error")
        assert poll["error"] == "internal error (RuntimeError) while polling table interfaces"
        assert poll["failed_parts"] == [{"part": "interfaces", "error_type": "internal_error"}]
    assert len([f for e, f in sink.records if e == "scalars" and f["device"] == "broken"]) == 3
    assert {p["status"] for p in sink.polls("good")} == {"ok"}


class SwallowingOwner:
    """A shared grid on which this host owns every tick; taking a device over waits for Redis,
    and a cancel that arrives meanwhile is swallowed, as a client library may do."""

    def __init__(self) -> None:
        self.waiting = 0

    def offset_s(self) -> float:
        return 0.0

    async def settled(self, at_ms: int) -> None:
        return None

    def slot(self, name: str, at_ms: int, now_s: float) -> Any:
        return Slot(at_ms, "h", 1)

    def holds(self, at_ms: int, now_s: float) -> bool:
        return True

    async def taking_over(self, device: Device, tracker: Any, at_ms: int) -> tuple[bool, None]:
        self.waiting += 1
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            pass  # swallowed: the loop that asked goes on unless it looks
        finally:
            self.waiting -= 1
        return True, None

    async def claim(self, device: Device, seq: int, tracker: Any, at_ms: int) -> bool:
        return True

    def polled(self, device: Device, seq: int, tracker: Any, now_s: float, at_ms: int) -> None:
        return None


def test_a_schedule_replaced_while_a_library_swallows_its_cancel_never_runs_twice() -> None:
    dev = device("a", "127.0.0.11", interval_s=10.0)
    clock = VirtualClock()
    sink = Sink()
    requester = TimedRequester({"127.0.0.11": agent()}, clock.loop.time)
    owner = SwallowingOwner()

    async def main() -> int:
        scheduler = Scheduler((dev,), SnmpClient(requester), sink, max_in_flight=8,
                              owner=owner)
        scheduler.start()
        while not owner.waiting:  # the loop is taking the device over
            await asyncio.sleep(0.01)
        scheduler.recheck()  # the members changed: the schedule starts again
        await asyncio.sleep(60.0)
        return await scheduler.drain(5.0)

    clock.run(main)
    polls = sink.polls("a")
    ticks = [p["scheduled_at"] for p in polls]
    assert len(ticks) == len(set(ticks)), [(p["scheduled_at"], p["status"]) for p in polls]
    assert {p["status"] for p in polls} == {"ok"}


def test_a_drain_ends_while_a_library_swallows_the_cancel_of_a_schedule() -> None:
    dev = device("a", "127.0.0.11", interval_s=10.0)
    clock = VirtualClock()
    sink = Sink()
    owner = SwallowingOwner()

    async def main() -> int:
        scheduler = Scheduler((dev,), SnmpClient(FakeRequester({"127.0.0.11": agent()})), sink,
                              max_in_flight=8, owner=owner)
        scheduler.start()
        while not owner.waiting:
            await asyncio.sleep(0.01)
        return await asyncio.wait_for(scheduler.drain(5.0), 60.0)

    assert clock.run(main) == 0
    assert sink.polls("a") == []

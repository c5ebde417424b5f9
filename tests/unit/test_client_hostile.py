"""Request sizing after timeouts, the walk's caps and its loop guard, and partial polls, on the
fake requester: what comes back and which requests were made to get it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Sequence
from typing import ClassVar

import pytest

from poller.config.model import Column, Credential, Device, Secret, Table, WalkLimits
from poller.errors import (
    SnmpNonIncreasingOid,
    SnmpOidLoop,
    SnmpTimeout,
    SnmpWalkRows,
    SnmpWalkTime,
    SnmpWrongOid,
)
from poller.oid import Oid
from poller.poll.device import PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.snmp.client import SnmpClient
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.request_ids import RequestIds
from poller.snmp.types import Kind, RequestStats, Target, VarBind
from tests.unit.test_client_walk import A, B, C, agent, target


class DropsLarge(FakeRequester):
    """Requests with more than `most` OIDs (x repetitions) time out at once; `dead` drops all."""

    def __init__(self, fake: FakeAgent, most: int) -> None:
        super().__init__({"127.0.0.1": fake})
        self.most = most
        self.dead = False

    async def _agent(self, target: Target, op: str, oids: Sequence[Oid], reps: int | None) -> FakeAgent:
        self.calls.append((op, target.host, tuple(oids), reps))
        if self.dead or len(oids) * (reps or 1) > self.most:
            raise SnmpTimeout("no response")
        return self.agents["127.0.0.1"]


def test_a_get_that_only_times_out_when_large_is_halved_and_the_size_kept() -> None:
    requester = DropsLarge(agent(10), most=4)
    client = SnmpClient(requester)
    t = target(max_oids_per_request=10)
    oids = [A + (i,) for i in range(1, 11)]
    asyncio.run(client.get(t, oids[:2], RequestStats()))  # it answers: alive
    answer = asyncio.run(client.get(t, oids, RequestStats()))
    assert [vb.value for vb in answer] == [f"eth{i}".encode() for i in range(1, 11)]
    assert [len(call[2]) for call in requester.calls[1:4]] == [10, 5, 2]
    for _ in range(40):  # good answers do not grow it back to a size that timed out
        asyncio.run(client.get(t, oids, RequestStats()))
    assert client.size_for(t).oids == 2


def test_an_agent_that_never_answered_is_not_asked_again_in_smaller_pieces() -> None:
    requester = DropsLarge(agent(10), most=0)
    with pytest.raises(SnmpTimeout):
        asyncio.run(SnmpClient(requester).get(target(), [A + (i,) for i in range(1, 9)], RequestStats()))
    assert len(requester.calls) == 1


def test_getnext_is_kept_only_when_it_works() -> None:
    requester = DropsLarge(agent(4), most=1000)
    client = SnmpClient(requester)
    t = target(max_repetitions=16)
    asyncio.run(client.walk(t, [A], RequestStats()))  # GETBULK works
    requester.dead = True  # then the agent goes down in the middle of a walk
    with pytest.raises(SnmpTimeout):
        asyncio.run(client.walk(t, [A, B], RequestStats()))
    ops = [(call[0], len(call[2]), call[3]) for call in requester.calls[1:]]
    assert ops == [("get_bulk", 2, 16), ("get_bulk", 2, 4), ("get_bulk", 2, 1),
                   ("get_next", 2, None), ("get_next", 1, None)]
    assert client.size_for(t).bulk is True  # GETNEXT failed too: GETBULK was not the problem


class Looping(FakeAgent):
    """Rows 1, 2, 3, then 1 again, for ever."""

    def get_next(self, oids: Sequence[Oid]) -> list[VarBind]:
        return [VarBind(Oid(oid[:-1] + (oid[-1] % 3 + 1,)) if len(oid) > len(A) else oid + (1,),
                        Kind.INTEGER, 1) for oid in oids]


class OutOfOrder(FakeAgent):
    """Rows 1, 3, 2, then the end: one OID that does not increase, none twice."""

    ORDER: ClassVar[dict[int, int]] = {0: 1, 1: 3, 3: 2}

    def get_next(self, oids: Sequence[Oid]) -> list[VarBind]:
        out = []
        for oid in oids:
            row = oid[-1] if len(oid) > len(A) else 0
            following = self.ORDER.get(row)
            base = oid[:-1] if len(oid) > len(A) else oid
            out.append(VarBind(Oid(base + (following,)), Kind.INTEGER, following) if following
                       else VarBind(oid, Kind.END_OF_MIB, None))
        return out


def walk(fake: FakeAgent, t: Target) -> list[VarBind]:
    result = asyncio.run(SnmpClient(FakeRequester({"127.0.0.1": fake})).walk(t, [A], RequestStats()))
    return result[A]


def test_allowed_non_increasing_oids_are_read_and_a_repeat_is_a_loop() -> None:
    allowed = target(max_repetitions=2, walk=WalkLimits(allow_non_increasing=True))
    assert [vb.value for vb in walk(OutOfOrder({}), allowed)] == [1, 3, 2]
    with pytest.raises(SnmpOidLoop, match=r"returned 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.1 a second time"):
        walk(Looping({}), allowed)


def test_the_row_cap_stops_a_walk() -> None:
    with pytest.raises(SnmpWalkRows, match="stopped at 7 rows of 1.3.6.1.2.1.2.2.1.2 "):
        walk(agent(20), target(max_repetitions=5, walk=WalkLimits(max_rows=7)))
    assert len(walk(agent(7), target(max_repetitions=5, walk=WalkLimits(max_rows=7)))) == 7


def test_the_time_cap_stops_a_walk_of_a_slow_agent() -> None:
    slow = agent(50, delay_s=0.05)
    with pytest.raises(SnmpWalkTime, match=r"stopped after 0\.2 s \(max_walk_time\); \d+ varbinds"):
        walk(slow, target(max_repetitions=1, walk=WalkLimits(max_time_s=0.2)))


def test_a_failed_table_keeps_the_scalars_and_the_other_tables_and_says_which_failed() -> None:
    good = Table(name="names", columns=(Column(name="ifName", oid=C),))
    bad = Table(name="loop", columns=(Column(name="ifDescr", oid=A),))
    sys_name = Oid.parse("1.3.6.1.2.1.1.5.0")
    device = Device(
        name="sw", host="127.0.0.1", port=161,
        credential=Credential(name="c", version="2c", community=Secret("x")),
        profiles=("p",), scalar_groups=(("p", (Column(name="sysName", oid=sys_name),)),),
        tables=(bad, good), interval_s=10.0, timeout_s=1.0, retries=0, max_repetitions=5,
        max_oids_per_request=10,
    )

    class Mixed(Looping):
        def get_next(self, oids: Sequence[Oid]) -> list[VarBind]:
            if Oid(oids[0]).startswith(A):
                return super().get_next(oids)
            return FakeAgent.get_next(self, oids)

    fake = Mixed({sys_name: (Kind.OCTETS, b"sw"), C + (1,): (Kind.OCTETS, b"e1"),
                  C + (2,): (Kind.OCTETS, b"e2")})
    outcome = PollOutcome()
    client = SnmpClient(FakeRequester({"127.0.0.1": fake}))
    asyncio.run(poll_device(device, target_for(device), client, CounterTracker(), outcome,
                            lambda: 0.0))
    assert outcome.status == "partial"
    assert outcome.failed_parts == [{"part": "loop", "error_type": "non_increasing_oid"}]
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("table loop: sw (127.0.0.1:161) returned ")
    assert next(r for e, r in outcome.records if e == "scalars")["sysName"] == "sw"
    assert [r["ifName"] for e, r in outcome.records if e == "row"] == ["e1", "e2"]


def test_target_carries_the_devices_walk_limits() -> None:
    limits = WalkLimits(allow_non_increasing=True, max_rows=5, max_requests=6, max_time_s=1.5)
    device = Device(
        name="sw", host="127.0.0.1", port=161,
        credential=Credential(name="c", version="2c", community=Secret("x")),
        profiles=("p",), scalar_groups=(), tables=(), interval_s=10.0, timeout_s=1.0, retries=0,
        max_repetitions=5, max_oids_per_request=10, walk=limits,
    )
    assert target_for(device).walk == limits
    assert dataclasses.replace(device, walk=WalkLimits()) != device  # a reload sees the change




# -- answers that do not answer the request ------------------------------------------------------


class Echo(FakeAgent):
    """Answers each GETNEXT/GETBULK with the OIDs asked; a GET with each OID's next sibling."""

    def get_next(self, oids: Sequence[Oid]) -> list[VarBind]:
        return [VarBind(oid, Kind.INTEGER, 1) for oid in oids]

    def get(self, oids: Sequence[Oid]) -> list[VarBind]:
        return [VarBind(Oid((*oid[:-1], oid[-1] + 1)), Kind.INTEGER, 1) for oid in oids]


@pytest.mark.parametrize("bulk", [True, False])
def test_a_walk_answered_with_the_oid_asked_does_not_increase_or_loops_when_allowed(
    bulk: bool
) -> None:
    with pytest.raises(SnmpNonIncreasingOid, match=f"returned {A} after {A} .OIDs not increasing"):
        walk(Echo({}, bulk=bulk), target(max_repetitions=3))
    allowed = target(max_repetitions=3, walk=WalkLimits(allow_non_increasing=True))
    with pytest.raises(SnmpOidLoop, match=f"answered a walk at {A} with that OID itself"):
        walk(Echo({}, bulk=bulk), allowed)


def test_a_walk_answered_below_the_oid_asked_and_outside_the_column_does_not_increase() -> None:
    # (e.g. a stray answer to a GET of the system group, taken for the walk's answer)
    class Behind(FakeAgent):
        def get_next(self, oids: Sequence[Oid]) -> list[VarBind]:
            return [VarBind(Oid.parse("1.3.6.1.2.1.1.3.0"), Kind.TIMETICKS, 5) for _ in oids]

    with pytest.raises(SnmpNonIncreasingOid, match=r"returned 1\.3\.6\.1\.2\.1\.1\.3\.0 after "):
        walk(Behind({}), target())


def test_the_column_oid_itself_later_in_a_getbulk_answer_does_not_increase() -> None:
    class RootAgain(FakeAgent):
        def get_bulk(self, oids: Sequence[Oid], max_repetitions: int) -> list[VarBind]:
            return [VarBind(A + (1,), Kind.INTEGER, 1), VarBind(A, Kind.INTEGER, 1)]

    with pytest.raises(SnmpNonIncreasingOid, match=f"returned {A} after {A + (1,)}"):
        walk(RootAgain({}), target(max_repetitions=2))


def test_a_get_answered_with_other_oids_or_another_count_is_an_error() -> None:
    client = SnmpClient(FakeRequester({"127.0.0.1": Echo({})}))
    asked = [A + (1,), A + (2,)]
    with pytest.raises(SnmpWrongOid, match=f"answered a GET of {A + (1,)} with {A + (2,)}"):
        asyncio.run(client.get(target(), asked, RequestStats()))

    class Short(FakeAgent):
        def get(self, oids: Sequence[Oid]) -> list[VarBind]:
            return super().get(oids)[:1]

    values = {oid: (Kind.INTEGER, 1) for oid in asked}
    client = SnmpClient(FakeRequester({"127.0.0.1": Short(values)}))
    with pytest.raises(SnmpWrongOid, match="answered a GET of 2 OIDs with 1 varbinds"):
        asyncio.run(client.get(target(), asked, RequestStats()))


def test_request_ids_are_random_and_not_repeated_while_remembered() -> None:
    ids = RequestIds()
    drawn = [ids.new() for _ in range(2000)]
    assert len(set(drawn)) == len(drawn) and all(0 < i < 2**31 for i in drawn)
    steps = {b - a for a, b in itertools.pairwise(drawn)}
    assert len(steps) > 1900  # not a counter (a counter has one step)
    assert all(i in ids for i in drawn) and 0 not in ids


class EndlessRows(FakeAgent):
    """Every row is followed by one more, in every column: a table that never ends."""

    def get_bulk(self, oids: Sequence[Oid], max_repetitions: int) -> list[VarBind]:
        rows = [oid[-1] if len(oid) > len(A) else 0 for oid in oids]
        return [VarBind(Oid((*oid[: len(A)], row + step)), Kind.INTEGER, 1)
                for step in range(1, max_repetitions + 1) for oid, row in zip(oids, rows)]


def test_by_default_an_endless_table_stops_at_the_row_cap_with_its_error_type() -> None:
    stats = RequestStats()
    client = SnmpClient(FakeRequester({"127.0.0.1": EndlessRows({})}))
    with pytest.raises(SnmpWalkRows, match=r"stopped at 5000 rows of ") as raised:
        asyncio.run(client.walk(target(max_repetitions=50), [A, B], stats))
    assert raised.value.error_type == "max_walk_rows"
    assert stats.varbinds <= 2 * (5_000 + 50)  # bounded: the cap, and one answer past it

"""The walk loop and GET splitting on the fake requester: what comes back, and which requests
were made to get it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.config.model import Credential, Secret, WalkLimits
from poller.errors import SnmpNonIncreasingOid, SnmpWalkError, SnmpWalkRequests
from poller.oid import Oid
from poller.snmp.client import SnmpClient
from poller.snmp.column_walk import ColumnWalk
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.types import Kind, RequestStats, Target, VarBind

A = Oid.parse("1.3.6.1.2.1.2.2.1.2")  # ifDescr
B = Oid.parse("1.3.6.1.2.1.2.2.1.10")  # ifInOctets
C = Oid.parse("1.3.6.1.2.1.31.1.1.1.1")  # ifName
AFTER = Oid.parse("1.3.6.1.2.1.31.1.1.1.2.1")


def agent(rows: int = 3, **options: Any) -> FakeAgent:
    values: dict[Oid, tuple[Kind, Any]] = {AFTER: (Kind.COUNTER32, 0)}
    for i in range(1, rows + 1):
        values[A + (i,)] = (Kind.OCTETS, f"eth{i}".encode())
        values[B + (i,)] = (Kind.COUNTER32, 100 * i)
        values[C + (i,)] = (Kind.OCTETS, f"e{i}".encode())
    return FakeAgent(values, **options)


def target(version: str = "2c", **options: Any) -> Target:
    credential = Credential(name="c", version=version, community=Secret("x"))  # type: ignore[arg-type]
    return Target(name="sw", host="127.0.0.1", credential=credential, **options)


def walk(fake: FakeAgent, t: Target, columns: list[Oid]) -> tuple[dict[Oid, list[VarBind]], FakeRequester, RequestStats]:
    requester = FakeRequester({"127.0.0.1": fake})
    stats = RequestStats()
    result = asyncio.run(SnmpClient(requester).walk(t, columns, stats))
    return result, requester, stats


def test_one_getbulk_reads_several_columns_and_stops_at_their_ends() -> None:
    result, requester, stats = walk(agent(3), target(max_repetitions=10), [A, B, C])
    assert [vb.value for vb in result[A]] == [b"eth1", b"eth2", b"eth3"]
    assert [vb.value for vb in result[B]] == [100, 200, 300]
    assert [vb.oid for vb in result[C]] == [C + (1,), C + (2,), C + (3,)]  # not AFTER
    assert [call[0] for call in requester.calls] == ["get_bulk"]
    assert requester.calls[0][2:] == ((A, B, C), 10)
    assert stats.requests == 1


def test_small_repetitions_continue_from_each_columns_last_oid() -> None:
    result, requester, _ = walk(agent(5), target(max_repetitions=2), [A, C])
    assert len(result[A]) == len(result[C]) == 5
    assert [call[2] for call in requester.calls] == [
        (A, C), (A + (2,), C + (2,)), (A + (4,), C + (4,))
    ]


def test_columns_per_request_are_capped() -> None:
    _, requester, _ = walk(agent(2), target(max_repetitions=5, max_oids_per_request=2), [A, B, C])
    assert [len(call[2]) for call in requester.calls] == [2, 1]


def test_v1_walks_with_getnext_and_ends_on_no_such_name() -> None:
    fake = FakeAgent({A + (1,): (Kind.OCTETS, b"eth1"), A + (2,): (Kind.OCTETS, b"eth2")}, v1=True)
    result, requester, _ = walk(fake, target("1"), [A])
    assert [vb.value for vb in result[A]] == [b"eth1", b"eth2"]
    assert {call[0] for call in requester.calls} == {"get_next"}


def test_an_absent_column_is_empty_not_an_error() -> None:
    missing = Oid.parse("1.3.6.1.2.1.2.2.1.99")
    result, _, _ = walk(agent(2), target(), [missing, A])
    assert result[missing] == [] and len(result[A]) == 2


class Looping(FakeAgent):
    def get_bulk(self, oids: Any, max_repetitions: int) -> list[VarBind]:
        return [VarBind(oid + (1,) if len(oid) == len(A) else oid, Kind.INTEGER, 1) for oid in oids]


def test_an_agent_that_repeats_an_oid_is_stopped() -> None:
    with pytest.raises(SnmpNonIncreasingOid, match=r"returned 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.1 after"):
        walk(Looping({}), target(), [A])


class Endless(FakeAgent):
    def get_bulk(self, oids: Any, max_repetitions: int) -> list[VarBind]:
        return [VarBind(oid + (1,), Kind.INTEGER, 1) for oid in oids]


def test_an_endless_walk_hits_the_request_cap() -> None:
    with pytest.raises(SnmpWalkRequests, match="stopped after 50 requests"):
        walk(Endless({}), target(walk=WalkLimits(max_requests=50)), [A])


class Mute(FakeAgent):
    def get_bulk(self, oids: Any, max_repetitions: int) -> list[VarBind]:
        return []


def test_an_empty_answer_is_an_error_not_a_spin() -> None:
    with pytest.raises(SnmpWalkError, match="sent an empty answer to a walk at 1.3.6.1.2.1.2.2.1.2$"):
        walk(Mute({}), target(), [A, B])


def test_get_splits_and_keeps_order_and_v1_missing_objects_become_no_such_instance() -> None:
    oids = [A + (i,) for i in (3, 1, 9, 2)]
    fake = agent(3, v1=True)
    requester = FakeRequester({"127.0.0.1": fake})
    stats = RequestStats()
    answer = asyncio.run(SnmpClient(requester).get(target("1", max_oids_per_request=3), oids, stats))
    assert [vb.oid for vb in answer] == oids
    assert [vb.kind for vb in answer] == [Kind.OCTETS, Kind.OCTETS, Kind.NO_SUCH_INSTANCE, Kind.OCTETS]
    # [3, 1, 9] answers noSuchName for 9, then [3, 1] again; [2] alone
    assert [call[2] for call in requester.calls] == [tuple(oids[:3]), tuple(oids[:2]), (oids[3],)]
    assert stats.requests == 3


def test_too_big_halves_the_request_and_the_device_remembers() -> None:
    fake = agent(20, max_varbinds=12)  # an agent that answers tooBig instead of truncating
    requester = FakeRequester({"127.0.0.1": fake})
    client = SnmpClient(requester)
    t = target(max_repetitions=25)
    first = asyncio.run(client.walk(t, [A, B], RequestStats()))
    assert [len(first[c]) for c in (A, B)] == [20, 20]
    reps = [call[3] for call in requester.calls]
    assert reps[:3] == [25, 12, 6]  # 50, 24, then 12 varbinds: halved until it fits
    assert client.size_for(t).repetitions == 6
    requester.calls.clear()
    second = asyncio.run(client.walk(t, [A, B], RequestStats()))
    assert second == first
    assert requester.calls[0][3] == 6  # learned: no tooBig round trips on the next poll


def test_a_request_size_grows_back_after_good_answers() -> None:
    from poller.snmp.request_size import RequestSize

    size = RequestSize(40, 32)
    size.too_big(repetitions=40, oids=10)
    assert (size.repetitions, size.oids) == (20, 32)
    size.too_big(repetitions=1, oids=32)
    assert (size.repetitions, size.oids) == (20, 16)
    for _ in range(RequestSize.GROW_AFTER * 10):
        size.worked()
    assert (size.repetitions, size.oids) == (40, 32)


def test_get_splits_on_too_big() -> None:
    fake = agent(10, max_oids=3)
    requester = FakeRequester({"127.0.0.1": fake})
    oids = [A + (i,) for i in range(1, 11)]
    answer = asyncio.run(SnmpClient(requester).get(target(), oids, RequestStats()))
    assert [vb.oid for vb in answer] == oids
    assert max(len(call[2]) for call in requester.calls if call[0] == "get") >= 10
    assert all(len(call[2]) <= 3 for call in requester.calls[-3:])


def test_a_single_oid_that_is_too_big_is_an_error() -> None:
    from poller.errors import SnmpTooBig

    with pytest.raises(SnmpTooBig):
        walk(agent(3, max_varbinds=0), target(max_repetitions=1), [A])


def test_an_agent_without_getbulk_is_walked_with_getnext_after_small_bulks_fail() -> None:
    fake = agent(4, bulk=False)
    requester = FakeRequester({"127.0.0.1": fake})
    client = SnmpClient(requester)
    t = target(max_repetitions=25)
    result = asyncio.run(client.walk(t, [A, B], RequestStats()))
    assert [len(result[c]) for c in (A, B)] == [4, 4]
    ops = [(call[0], call[3]) for call in requester.calls]
    assert ops[:4] == [("get_bulk", 25), ("get_bulk", 6), ("get_bulk", 1), ("get_next", None)]
    assert client.size_for(t).bulk is False
    requester.calls.clear()
    asyncio.run(client.walk(t, [A], RequestStats()))
    assert {call[0] for call in requester.calls} == {"get_next"}  # remembered


def test_a_real_agent_error_on_getnext_is_not_retried_for_ever() -> None:
    from poller.errors import SnmpAgentError

    class Broken(FakeAgent):
        def get_next(self, oids: Any) -> list[VarBind]:
            raise SnmpAgentError("genErr", status="genErr")

    with pytest.raises(SnmpAgentError):
        walk(Broken({}, bulk=False), target(max_repetitions=4), [A])


class _Scripted:
    """A requester whose one GETBULK answer is given: for answers no agent model produces."""

    def __init__(self, answer: list[VarBind]) -> None:
        self.answer = answer

    async def get_bulk(self, target: Target, oids: Any, max_repetitions: int) -> list[VarBind]:
        return self.answer

    async def close(self) -> None:
        pass


def test_the_first_bad_varbind_in_the_answers_order_is_the_one_reported() -> None:
    # ifInOctets goes back at the answer's 4th varbind, ifDescr only at its 5th
    answer = [VarBind(A + (i,), Kind.OCTETS, b"x") if col == A
              else VarBind(B + (i,), Kind.COUNTER32, i)
              for i, col in [(1, A), (1, B), (2, A), (0, B), (1, A), (3, B)]]
    client = SnmpClient(_Scripted(answer))  # type: ignore[arg-type]
    with pytest.raises(SnmpNonIncreasingOid) as raised:
        asyncio.run(client.walk(target(), [A, B], RequestStats()))
    assert f"returned {B + (0,)} after {B + (1,)}" in str(raised.value)
    # one column ending early does not hide the other's fault after it
    answer[3] = VarBind(C + (1,), Kind.OCTETS, b"e1")  # ifInOctets leaves its subtree
    with pytest.raises(SnmpNonIncreasingOid) as raised:
        asyncio.run(client.walk(target(), [A, B], RequestStats()))
    assert f"returned {A + (1,)} after {A + (2,)}" in str(raised.value)


# -- a column's slice taken at once equals taking it varbind by varbind --------------------------

_COLUMN = Oid.parse("1.3.6.1.2.1.2.2.1.10")
_OIDS = st.one_of(
    st.lists(st.integers(0, 4), min_size=1, max_size=3).map(lambda i: _COLUMN + tuple(i)),
    st.sampled_from([_COLUMN, Oid(_COLUMN[:-1]), Oid((*_COLUMN[:-1], 11, 1)),
                     Oid((*_COLUMN[:-1], 9, 7)), Oid((1, 3, 6, 1, 2, 1, 31))]),
)
_KINDS = st.sampled_from([Kind.COUNTER32, Kind.COUNTER32, Kind.COUNTER32, Kind.END_OF_MIB,
                          Kind.NO_SUCH_INSTANCE])


class _OneByOne(ColumnWalk):
    def _take_in_order(self, varbinds: list[VarBind]) -> bool:
        return False


def _take(column_walk: Any, slices: list[list[VarBind]]) -> tuple[Any, ...]:
    outcome: list[Any] = []
    for varbinds in slices:
        try:
            column_walk.take_all(varbinds, target())
            outcome.append(("ok", column_walk.taken))
        except SnmpWalkError as exc:
            outcome.append((type(exc).__name__, str(exc), column_walk.taken))
            break
    return (*outcome, tuple(column_walk.varbinds), column_walk.last, column_walk.done)


@settings(max_examples=400, deadline=None)
@given(
    slices=st.lists(st.lists(st.tuples(_OIDS, _KINDS), max_size=8).map(
        lambda pairs: sorted(pairs) if len(pairs) % 3 else pairs), min_size=1, max_size=3),
    max_rows=st.integers(1, 12),
)
def test_a_slice_taken_at_once_is_taken_as_one_by_one(
    slices: list[list[tuple[Oid, Kind]]], max_rows: int
) -> None:
    limits = WalkLimits(max_rows=max_rows)
    answers = [[VarBind(oid, kind, n) for n, (oid, kind) in enumerate(s)] for s in slices]
    fast = _take(ColumnWalk(_COLUMN, limits), answers)
    slow = _take(_OneByOne(_COLUMN, limits), answers)
    assert fast == slow

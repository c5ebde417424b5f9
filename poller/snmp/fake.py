"""A Requester that answers from dicts and records every call: the fake for unit tests.

It follows the protocol rules the walk depends on: GETNEXT/GETBULK return the next OID in order,
endOfMibView past the end (v2c) or noSuchName with its index (v1), GETBULK rows interleaved.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence

from poller.errors import SnmpAgentError, SnmpNoSuchName, SnmpTimeout, SnmpTooBig
from poller.oid import Oid
from poller.snmp.types import Kind, Target, Value, VarBind


class FakeAgent:
    def __init__(
        self,
        varbinds: dict[Oid, tuple[Kind, Value]],
        *,
        delay_s: float = 0.0,
        dead: bool = False,
        max_oids: int | None = None,
        max_response: int | None = None,
        max_varbinds: int | None = None,
        bulk: bool = True,
        v1: bool = False,
    ) -> None:
        self._values = dict(varbinds)
        self._order = sorted(self._values)
        self.delay_s = delay_s
        self.dead = dead
        self.max_oids = max_oids  # more varbinds in a request than this: tooBig
        self.max_response = max_response  # GETBULK answers are cut to this many varbinds
        self.max_varbinds = max_varbinds  # a GETBULK answer longer than this: tooBig
        self.bulk = bulk  # False: GETBULK is refused with genErr, as some old agents do
        self.v1 = v1

    def set(self, oid: Oid, kind: Kind, value: Value) -> None:
        if oid not in self._values:
            bisect.insort(self._order, oid)
        self._values[oid] = (kind, value)

    def get(self, oids: Sequence[Oid]) -> list[VarBind]:
        answer = []
        for i, oid in enumerate(oids):
            if oid in self._values:
                answer.append(VarBind(oid, *self._values[oid]))
            elif self.v1:
                raise SnmpNoSuchName("noSuchName", status="noSuchName", index=i + 1)
            else:
                answer.append(VarBind(oid, Kind.NO_SUCH_INSTANCE, None))
        return answer

    def next(self, oid: Oid) -> VarBind | None:
        at = bisect.bisect_right(self._order, oid)
        if at == len(self._order):
            return None
        found = self._order[at]
        return VarBind(found, *self._values[found])

    def get_next(self, oids: Sequence[Oid]) -> list[VarBind]:
        answer = []
        for i, oid in enumerate(oids):
            vb = self.next(oid)
            if vb is None and self.v1:
                raise SnmpNoSuchName("noSuchName", status="noSuchName", index=i + 1)
            answer.append(vb if vb is not None else VarBind(oid, Kind.END_OF_MIB, None))
        return answer

    def get_bulk(self, oids: Sequence[Oid], max_repetitions: int) -> list[VarBind]:
        if not self.bulk:
            raise SnmpAgentError("genErr", status="genErr", index=0)
        answer: list[VarBind] = []
        current = list(oids)
        for _ in range(max_repetitions):
            row = self.get_next(current)
            answer.extend(row)
            current = [vb.oid for vb in row]
            if all(vb.kind is Kind.END_OF_MIB for vb in row):
                break
        if self.max_varbinds is not None and len(answer) > self.max_varbinds:
            raise SnmpTooBig("tooBig", status="tooBig")
        return answer[: self.max_response] if self.max_response else answer


class FakeRequester:
    """Answers for each target from the FakeAgent registered under its host (or host:port)."""

    def __init__(self, agents: dict[str, FakeAgent]) -> None:
        self.agents = agents
        self.calls: list[tuple[str, str, tuple[Oid, ...], int | None]] = []
        self.closed = False

    async def _agent(self, target: Target, op: str, oids: Sequence[Oid], reps: int | None) -> FakeAgent:
        self.calls.append((op, target.host, tuple(oids), reps))
        agent = self.agents.get(f"{target.host}:{target.port}") or self.agents.get(target.host)
        if agent is None or agent.dead:
            await asyncio.sleep(agent.delay_s if agent else target.timeout_s)
            raise SnmpTimeout(f"no response from {target.name} ({target.address})")
        if agent.delay_s:
            await asyncio.sleep(agent.delay_s)
        if agent.max_oids is not None and len(oids) > agent.max_oids:
            raise SnmpTooBig("tooBig", status="tooBig")
        return agent

    async def get(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return (await self._agent(target, "get", oids, None)).get(oids)

    async def get_next(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return (await self._agent(target, "get_next", oids, None)).get_next(oids)

    async def get_bulk(
        self, target: Target, oids: Sequence[Oid], max_repetitions: int
    ) -> list[VarBind]:
        agent = await self._agent(target, "get_bulk", oids, max_repetitions)
        return agent.get_bulk(oids, max_repetitions)

    def dropped_replies(self) -> dict[str, int] | None:
        return None  # no datagrams

    async def close(self) -> None:
        self.closed = True

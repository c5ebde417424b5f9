"""The SNMP client interface the rest of poller uses, and the walk loop built on single requests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from poller.errors import (
    SnmpAgentError,
    SnmpNonIncreasingOid,
    SnmpNoSuchName,
    SnmpOidLoop,
    SnmpTimeout,
    SnmpTooBig,
    SnmpWalkError,
    SnmpWalkRequests,
    SnmpWalkTime,
    SnmpWrongOid,
)
from poller.oid import Oid
from poller.snmp.column_walk import END_KINDS, ColumnWalk
from poller.snmp.failures import who
from poller.snmp.request_size import RequestSize, plain_timeout
from poller.snmp.types import Kind, RequestStats, Target, VarBind


class Requester(Protocol):
    """One request, one response. Raises poller.errors.SnmpError subclasses, never library errors.

    Implementations: the pysnmp one (real), and a dict-backed fake for unit tests.
    """

    async def get(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]: ...

    async def get_next(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]: ...

    async def get_bulk(
        self, target: Target, oids: Sequence[Oid], max_repetitions: int
    ) -> list[VarBind]: ...

    async def close(self) -> None: ...

    def dropped_replies(self) -> dict[str, int] | None:
        """Datagrams dropped since start because they answered no request waited for, by
        reason; None when the implementation cannot see them."""
        ...


class SnmpClient:
    """GET with request splitting and the multi-column GETBULK/GETNEXT walk, on a Requester.

    Request sizing and the walk's guards live here, whatever codec sits below."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester
        self._sizes: dict[str, RequestSize] = {}

    def size_for(self, target: Target) -> RequestSize:
        """What this agent has been found to take (learned on tooBig, per device name)."""
        size = self._sizes.get(target.name)
        limits = (target.max_repetitions, target.max_oids_per_request)
        if size is None or size.limits != limits:
            size = self._sizes[target.name] = RequestSize(*limits)
        return size

    def replies_dropped(self) -> dict[str, int] | None:
        """The requester's count of replies dropped (late, repeated, to ids never sent...)."""
        return self._requester.dropped_replies()

    async def get(self, target: Target, oids: Sequence[Oid], stats: RequestStats) -> list[VarBind]:
        """GET `oids` (in requests of at most target.max_oids_per_request), in order.

        SNMPv1 answers a missing object with noSuchName for the whole request: that OID becomes
        a noSuchInstance varbind (as v2c would say) and the rest is asked again."""
        answer: list[VarBind] = []
        size = self.size_for(target)
        start = 0
        while start < len(oids):
            chunk = list(oids[start : start + size.oids])
            try:
                answer.extend(await self._get_chunk(target, chunk, stats))
            except SnmpTooBig:
                if len(chunk) == 1:
                    raise
                size.too_big(oids=len(chunk))
                continue
            except SnmpTimeout as exc:
                if not (plain_timeout(exc) and size.timed_out(len(chunk))):
                    size.gave_up()
                    raise
                continue
            size.worked()
            start += len(chunk)
        return answer

    async def _get_chunk(
        self, target: Target, oids: list[Oid], stats: RequestStats
    ) -> list[VarBind]:
        missing: dict[Oid, VarBind] = {}
        asked = oids
        while asked:
            stats.requests += 1
            try:
                found = await self._requester.get(target, asked)
            except SnmpNoSuchName as exc:
                if not 1 <= exc.index <= len(asked):
                    raise
                oid = asked[exc.index - 1]
                missing[oid] = VarBind(oid, Kind.NO_SUCH_INSTANCE, None)
                asked = asked[: exc.index - 1] + asked[exc.index :]
                continue
            stats.varbinds += len(found)
            _check_get(found, asked, target)
            by_oid = dict(zip(asked, found))
            by_oid.update(missing)
            return [by_oid[oid] for oid in oids]
        return [missing[oid] for oid in oids]

    async def walk(
        self, target: Target, columns: Sequence[Oid], stats: RequestStats
    ) -> dict[Oid, list[VarBind]]:
        """Walk each column subtree; returns {column: varbinds under it, in the agent's order}.

        Several columns share each request (GETBULK, or GETNEXT for v1); a column ends when the
        agent leaves its subtree or says endOfMibView. Guards, each its own error: an OID that
        does not increase (SnmpNonIncreasingOid; with target.walk.allow_non_increasing only an
        OID seen twice, SnmpOidLoop), and the caps of target.walk on rows, requests and time
        (SnmpWalkRows, SnmpWalkRequests, SnmpWalkTime). The first error ends the walk."""
        limits = target.walk
        walks = [ColumnWalk(column, limits) for column in dict.fromkeys(columns)]
        # checked before each request, and the timer cuts a request that would run past it
        deadline = asyncio.get_running_loop().time() + limits.max_time_s \
            if limits.max_time_s else None
        timer = asyncio.timeout_at(deadline)
        try:
            async with timer:
                await self._walk(target, walks, stats, deadline)
        except TimeoutError:
            if not timer.expired():
                raise  # an SnmpTimeout of a request, not the walk's own cap
            raise self._too_long(target, walks) from None
        return {w.column: w.varbinds for w in walks}

    @staticmethod
    def _too_long(target: Target, walks: list[ColumnWalk]) -> SnmpWalkTime:
        return SnmpWalkTime(
            f"walk of {who(target)} stopped after {target.walk.max_time_s:g} s (max_walk_time); "
            f"{_read(walks)}"
        )

    async def _walk(
        self, target: Target, walks: list[ColumnWalk], stats: RequestStats, deadline: float | None
    ) -> None:
        active = list(walks)
        requests = 0
        bulk_possible = target.credential.version != "1"
        loop = asyncio.get_running_loop()
        while active:
            if deadline is not None and loop.time() >= deadline:
                raise self._too_long(target, walks)
            if requests >= target.walk.max_requests:
                raise SnmpWalkRequests(
                    f"walk of {who(target)} stopped after {requests} requests "
                    f"(max_walk_requests); {_read(walks)}"
                )
            size = self.size_for(target)
            batch = active[: size.oids]
            bulk = bulk_possible and size.bulk
            requests += 1
            try:
                await self._step(target, batch, stats, size, bulk)
            except SnmpTooBig:
                repetitions = size.repetitions if bulk else 1
                if repetitions == 1 and len(batch) == 1:
                    raise
                size.too_big(repetitions=repetitions, oids=len(batch))
                continue
            except (SnmpTimeout, SnmpAgentError) as exc:
                if not size.walk_failed(exc, len(batch), bulk=bulk):
                    raise
                continue
            size.worked()
            active = [w for w in active if not w.done]

    async def close(self) -> None:
        await self._requester.close()

    async def _step(
        self, target: Target, batch: list[ColumnWalk], stats: RequestStats, size: RequestSize,
        bulk: bool,
    ) -> None:
        """One request for the columns in `batch`; advances or finishes each of them."""
        oids = [w.last for w in batch]
        stats.requests += 1
        try:
            if bulk:
                answer = await self._requester.get_bulk(target, oids, size.repetitions)
            else:
                answer = await self._requester.get_next(target, oids)
        except SnmpNoSuchName as exc:
            # v1's end of the MIB view: that column is done, the others are asked again
            if not 1 <= exc.index <= len(batch):
                raise
            batch[exc.index - 1].done = True
            return
        stats.varbinds += len(answer)
        if not answer:
            # nothing to go on: looping on the same request would never end (some agents
            # answer an oversized GETBULK this way instead of with tooBig)
            raise SnmpWalkError(
                f"{who(target)} sent an empty answer to a walk at {oids[0]}"
            )
        _check_next(answer, oids, target)
        width = len(batch)
        if width == 1:
            batch[0].take_all(answer, target)
            return
        # each column takes its slice of the answer in one call; the first error in the
        # answer's order is the one raised, as if the varbinds had been taken one by one
        first: tuple[int, SnmpWalkError] | None = None
        for i, walk in enumerate(batch):
            try:
                walk.take_all(answer[i::width], target)
            except SnmpWalkError as exc:
                at = i + width * walk.taken
                if first is None or at < first[0]:
                    first = (at, exc)
        if first is not None:
            raise first[1]


def _check_get(found: list[VarBind], asked: Sequence[Oid], target: Target) -> None:
    """A GET's answer carries the OIDs asked, in their order: anything else answers another
    request (a stray or forged datagram) or comes from a broken agent."""
    if len(found) != len(asked):
        raise SnmpWrongOid(f"{who(target)} answered a GET of {len(asked)} OIDs with "
                           f"{len(found)} varbinds")
    for oid, vb in zip(asked, found):
        if vb.oid != oid:
            raise SnmpWrongOid(f"{who(target)} answered a GET of {oid} with {vb.oid}")


def _check_next(answer: list[VarBind], asked: Sequence[Oid], target: Target) -> None:
    """The first varbind for each OID asked in a GETNEXT or GETBULK comes after it (an end
    kind carries the OID asked itself). The OID asked echoed back would be asked again for
    ever: with allow_non_increasing that is a loop, else an OID that does not increase (as
    net-snmp says), as is any OID before the one asked."""
    allowed = target.walk.allow_non_increasing
    for oid, vb in zip(asked, answer):
        if vb.oid > oid or vb.kind in END_KINDS or (allowed and vb.oid != oid):
            continue
        if allowed:
            raise SnmpOidLoop(f"{who(target)} answered a walk at {oid} with that OID itself "
                              "(a loop)")
        raise SnmpNonIncreasingOid(
            f"{who(target)} returned {vb.oid} after {oid} (OIDs not increasing; "
            "allow_non_increasing = true accepts them)"
        )


def _read(walks: list[ColumnWalk]) -> str:
    return f"{sum(len(w.varbinds) for w in walks)} varbinds read"

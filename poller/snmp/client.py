"""The SNMP client interface the rest of poller uses, and the walk loop built on single requests."""

from __future__ import annotations

from typing import Protocol, Sequence

from poller.errors import (
    SnmpAgentError, SnmpNoSuchName, SnmpNonIncreasingOid, SnmpTimeout, SnmpTooBig, SnmpWalkError,
    SnmpWalkLimit,
)
from poller.oid import Oid
from poller.snmp.failures import who
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
            by_oid = {vb.oid: vb for vb in found}
            by_oid.update(missing)
            return [by_oid.get(oid, VarBind(oid, Kind.NO_SUCH_INSTANCE, None)) for oid in oids]
        return [missing[oid] for oid in oids]

    async def walk(
        self, target: Target, columns: Sequence[Oid], stats: RequestStats
    ) -> dict[Oid, list[VarBind]]:
        """Walk each column subtree; returns {column: varbinds under it, in OID order}.

        Several columns share each request (GETBULK, or GETNEXT for v1); a column ends when the
        agent leaves its subtree or says endOfMibView. Guards: an OID that does not increase
        raises SnmpNonIncreasingOid; more than target.max_walk_requests requests raises
        SnmpWalkLimit. The first error ends the walk."""
        walks = [_ColumnWalk(column) for column in dict.fromkeys(columns)]
        active = list(walks)
        requests = 0
        while active:
            if requests >= target.max_walk_requests:
                raise SnmpWalkLimit(
                    f"walk of {who(target)} stopped after {requests} requests "
                    f"(max_walk_requests); {sum(len(w.varbinds) for w in walks)} varbinds read"
                )
            size = self.size_for(target)
            batch = active[: size.oids]
            requests += 1
            try:
                await self._step(target, batch, stats, size)
            except SnmpTooBig:
                if size.repetitions == 1 and len(batch) == 1:
                    raise
                size.too_big(repetitions=size.repetitions, oids=len(batch))
                continue
            except (SnmpTimeout, SnmpAgentError):
                # A GETBULK that fails where the GET worked: try small bulks, then GETNEXT
                # (agents without GETBULK, or that drop large answers); anything else is real.
                if not size.bulk or target.credential.version == "1":
                    raise
                size.bulk_failed()
                continue
            size.worked()
            active = [w for w in active if not w.done]
        return {w.column: w.varbinds for w in walks}

    async def close(self) -> None:
        await self._requester.close()

    async def _step(
        self, target: Target, batch: list[_ColumnWalk], stats: RequestStats, size: RequestSize
    ) -> None:
        """One request for the columns in `batch`; advances or finishes each of them."""
        oids = [w.last for w in batch]
        stats.requests += 1
        try:
            if target.credential.version == "1" or not size.bulk:
                answer = await self._requester.get_next(target, oids)
            else:
                answer = await self._requester.get_bulk(target, oids, size.repetitions)
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
        width = len(batch)
        for i, vb in enumerate(answer):
            walk = batch[i % width]
            if not walk.done:
                walk.take(vb, target)


class RequestSize:
    """How big a request one agent takes. tooBig halves the repetitions first, then the OIDs
    per request; after GROW_AFTER good requests in a row they grow back by a quarter, up to the
    configured limits (so a transient tooBig does not shrink a device for ever)."""

    GROW_AFTER = 16
    __slots__ = ("limits", "repetitions", "oids", "bulk", "_good")

    def __init__(self, max_repetitions: int, max_oids: int) -> None:
        self.limits = (max_repetitions, max_oids)
        self.repetitions = max(1, max_repetitions)
        self.oids = max(1, max_oids)
        #: False once GETBULK failed even with one repetition: this agent is walked with GETNEXT
        self.bulk = True
        self._good = 0

    def bulk_failed(self) -> None:
        """A GETBULK went unanswered or was refused: quarter the repetitions, and at one give up
        on GETBULK for this device."""
        self._good = 0
        if self.repetitions > 1:
            self.repetitions = max(1, self.repetitions // 4)
        else:
            self.bulk = False

    def too_big(self, *, repetitions: int = 1, oids: int = 1) -> None:
        self._good = 0
        if repetitions > 1:
            self.repetitions = max(1, repetitions // 2)
        else:
            self.oids = max(1, oids // 2)

    def worked(self) -> None:
        self._good += 1
        if self._good >= self.GROW_AFTER:
            self._good = 0
            self.repetitions = min(self.limits[0], self.repetitions + max(1, self.repetitions // 4))
            self.oids = min(self.limits[1], self.oids + max(1, self.oids // 4))


class _ColumnWalk:
    """Where the walk of one column stands."""

    __slots__ = ("column", "last", "varbinds", "done")

    def __init__(self, column: Oid) -> None:
        self.column = column
        self.last = column
        self.varbinds: list[VarBind] = []
        self.done = False

    def take(self, vb: VarBind, target: Target) -> None:
        """Accept the next varbind of this column, or end the column."""
        oid, column = vb.oid, self.column
        # Oid.is_under, inline: this runs for every varbind of every walk
        if vb.kind in _END_KINDS or len(oid) <= len(column) or oid[: len(column)] != column:
            self.done = True
            return
        if oid <= self.last:
            raise SnmpNonIncreasingOid(
                f"{who(target)} returned {vb.oid} after {self.last} "
                "(OIDs not increasing)"
            )
        self.varbinds.append(vb)
        self.last = oid


_END_KINDS = frozenset({Kind.END_OF_MIB, Kind.NO_SUCH_OBJECT, Kind.NO_SUCH_INSTANCE})

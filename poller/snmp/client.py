"""The SNMP client interface the rest of poller uses, and the walk loop built on single requests."""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Sequence
from itertools import islice
from operator import itemgetter, lt
from typing import Protocol

from poller.config.model import WalkLimits
from poller.errors import (
    SnmpAgentError,
    SnmpError,
    SnmpNonIncreasingOid,
    SnmpNoSuchName,
    SnmpOidLoop,
    SnmpTimeout,
    SnmpTooBig,
    SnmpWalkError,
    SnmpWalkRequests,
    SnmpWalkRows,
    SnmpWalkTime,
    SnmpWrongOid,
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
                if not (_plain_timeout(exc) and size.timed_out(len(chunk))):
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
        walks = [_ColumnWalk(column, limits) for column in dict.fromkeys(columns)]
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
    def _too_long(target: Target, walks: list[_ColumnWalk]) -> SnmpWalkTime:
        return SnmpWalkTime(
            f"walk of {who(target)} stopped after {target.walk.max_time_s:g} s (max_walk_time); "
            f"{_read(walks)}"
        )

    async def _walk(
        self, target: Target, walks: list[_ColumnWalk], stats: RequestStats, deadline: float | None
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
        self, target: Target, batch: list[_ColumnWalk], stats: RequestStats, size: RequestSize,
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
        if vb.oid > oid or vb.kind in _END_KINDS or (allowed and vb.oid != oid):
            continue
        if allowed:
            raise SnmpOidLoop(f"{who(target)} answered a walk at {oid} with that OID itself "
                              "(a loop)")
        raise SnmpNonIncreasingOid(
            f"{who(target)} returned {vb.oid} after {oid} (OIDs not increasing; "
            "allow_non_increasing = true accepts them)"
        )


def _read(walks: list[_ColumnWalk]) -> str:
    return f"{sum(len(w.varbinds) for w in walks)} varbinds read"


def _plain_timeout(exc: Exception) -> bool:
    """A timeout with no sign of its cause (not a wrong request-id, source or garbage): one
    that a smaller request may avoid."""
    return isinstance(exc, SnmpTimeout) and exc.error_type == SnmpTimeout.error_type


class RequestSize:
    """How big a request one agent takes. tooBig halves the repetitions first, then the OIDs
    per request; after GROW_AFTER good requests in a row they grow back by a quarter, up to the
    configured limits (so a transient tooBig does not shrink a device for ever).

    A plain timeout of a request with several OIDs, from an agent that has answered before,
    halves the OIDs too (paths that lose large datagrams time out only large requests), and the
    OIDs never grow back beyond that half: probing for the largest size that passes would cost
    a timeout per probe."""

    GROW_AFTER = 16
    __slots__ = ("_ceiling", "_good", "_next_proven", "answered", "bulk", "limits", "oids",
                 "repetitions")

    def __init__(self, max_repetitions: int, max_oids: int) -> None:
        self.limits = (max_repetitions, max_oids)
        self.repetitions = max(1, max_repetitions)
        self.oids = max(1, max_oids)
        #: False once GETBULK failed even with one repetition and GETNEXT then worked: this
        #: agent is walked with GETNEXT
        self.bulk = True
        #: the agent answered since the last request given up on: a timeout may be the size's
        #: fault, not a dead agent's
        self.answered = False
        self._ceiling = self.oids
        self._good = 0
        self._next_proven = True

    def bulk_failed(self) -> None:
        """A GETBULK went unanswered or was refused: quarter the repetitions, and at one try
        GETNEXT (kept only once a GETNEXT has worked)."""
        self._good = 0
        if self.repetitions > 1:
            self.repetitions = max(1, self.repetitions // 4)
        else:
            self.bulk = False
            self._next_proven = False

    def too_big(self, *, repetitions: int = 1, oids: int = 1) -> None:
        self._good = 0
        if repetitions > 1:
            self.repetitions = max(1, repetitions // 2)
        else:
            self.oids = max(1, oids // 2)

    def timed_out(self, oids: int) -> bool:
        """A plain timeout of a request of `oids` OIDs: True when a smaller one is worth a try
        (then the size is halved), False when the request is given up on."""
        if oids > 1 and self.answered:
            self._good = 0
            self.oids = oids // 2
            self._ceiling = min(self._ceiling, self.oids)
            return True
        self.gave_up()
        return False

    def walk_failed(self, exc: SnmpError, oids: int, *, bulk: bool) -> bool:
        """A walk request timed out or was refused (not tooBig): True when it is worth another
        try with the size (or the operation) changed here."""
        if bulk and (_plain_timeout(exc) or isinstance(exc, SnmpAgentError)):
            self.bulk_failed()
            return True
        if _plain_timeout(exc) and self.timed_out(oids):
            return True
        self.gave_up()
        return False

    def gave_up(self) -> None:
        self.answered = False
        if not self._next_proven:
            # GETNEXT failed as GETBULK did: the agent is down, GETBULK was not the problem
            self.bulk, self._next_proven = True, True

    def worked(self) -> None:
        self.answered = True
        if not self.bulk:
            self._next_proven = True
        self._good += 1
        if self._good >= self.GROW_AFTER:
            self._good = 0
            self.repetitions = min(self.limits[0], self.repetitions + max(1, self.repetitions // 4))
            self.oids = min(self.limits[1], self._ceiling, self.oids + max(1, self.oids // 4))


class _ColumnWalk:
    """Where the walk of one column stands."""

    __slots__ = ("column", "done", "end", "last", "max_rows", "seen", "taken", "varbinds")

    def __init__(self, column: Oid, limits: WalkLimits) -> None:
        self.column = column
        #: the first OID after the column's subtree: OIDs between `column` and `end` (both
        #: excluded) are exactly the ones inside it
        self.end = (*column[:-1], column[-1] + 1)
        self.last = column
        self.varbinds: list[VarBind] = []
        self.done = False
        self.max_rows = limits.max_rows
        #: with non-increasing OIDs allowed, what was read: an OID seen twice is a loop
        self.seen: set[Oid] | None = set() if limits.allow_non_increasing else None
        #: varbinds of the last answer's slice taken before `take_all` returned or raised
        self.taken = 0

    def take_all(self, varbinds: list[VarBind], target: Target) -> None:
        """Accept this column's slice of an answer, varbind by varbind, until the column ends
        (an end kind, or an OID outside its subtree); raises on an OID that does not increase
        (or, allowed, one seen twice) and past max_rows."""
        if self.done:
            return
        if self.seen is None and varbinds and self._take_in_order(varbinds):
            return
        column, seen, out = self.column, self.seen, self.varbinds
        width, last, room = len(column), self.last, self.max_rows - len(self.varbinds)
        append, end_kinds = out.append, _END_KINDS
        taken = 0
        try:
            for vb in varbinds:
                oid = vb[0]
                # the column's own OID counts as inside, as in net-snmp: returned again, it is
                # no row but a step back (or, allowed, a loop to the walk's start)
                if vb[1] in end_kinds or len(oid) < width or oid[:width] != column:
                    self.done = True
                    return
                if seen is None:
                    if oid <= last:
                        raise SnmpNonIncreasingOid(
                            f"{who(target)} returned {oid} after {last} "
                            "(OIDs not increasing; allow_non_increasing = true accepts them)"
                        )
                elif oid in seen or len(oid) == width:
                    raise SnmpOidLoop(
                        f"{who(target)} returned {oid} a second time in a walk of {column} "
                        f"(a loop), after {last}"
                    )
                else:
                    seen.add(oid)
                if room <= 0:
                    raise SnmpWalkRows(
                        f"walk of {who(target)} stopped at {self.max_rows} rows of {column} "
                        "(max_walk_rows)"
                    )
                room -= 1
                append(vb)
                last = oid
                taken += 1
        finally:
            self.last = last
            self.taken = taken

    def _take_in_order(self, varbinds: list[VarBind]) -> bool:
        """`take_all` for the usual slice, with the checks made over the whole slice at once:
        when its OIDs increase from `last` on, the ones below `end` (found by bisection) are
        the column's, and when none of those carries an end kind and they fit max_rows, they
        are taken as they are (and an OID at or past `end` ends the column). False, having
        taken nothing, when any of that does not hold: then the varbind-by-varbind loop finds
        the exact place and error."""
        oids = list(map(_OID_OF, varbinds))
        if not (oids[0] > self.last and all(map(_LESS, oids, islice(oids, 1, None)))):
            return False
        inside = bisect_left(oids, self.end)
        if inside > self.max_rows - len(self.varbinds):
            return False
        mine = varbinds if inside == len(varbinds) else varbinds[:inside]
        if not _END_KINDS.isdisjoint(map(_KIND_OF, mine)):
            return False
        if inside:
            self.varbinds.extend(mine)
            self.last = oids[inside - 1]
        self.taken = inside
        if inside < len(varbinds):
            self.done = True
        return True


_OID_OF, _KIND_OF, _LESS = itemgetter(0), itemgetter(1), lt
_END_KINDS = frozenset({Kind.END_OF_MIB, Kind.NO_SUCH_OBJECT, Kind.NO_SUCH_INSTANCE})

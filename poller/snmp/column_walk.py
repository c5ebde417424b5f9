"""Where the walk of one column stands, and how a column takes its slice of an answer: checked
and taken at once in the usual case, varbind by varbind to find the exact place of a fault."""

from __future__ import annotations

from bisect import bisect_left
from itertools import islice
from operator import itemgetter, lt

from poller.config.model import WalkLimits
from poller.errors import SnmpNonIncreasingOid, SnmpOidLoop, SnmpWalkRows
from poller.oid import Oid
from poller.snmp.failures import who
from poller.snmp.types import Kind, Target, VarBind


class ColumnWalk:
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
        append, end_kinds = out.append, END_KINDS
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
        if not END_KINDS.isdisjoint(map(_KIND_OF, mine)):
            return False
        if inside:
            self.varbinds.extend(mine)
            self.last = oids[inside - 1]
        self.taken = inside
        if inside < len(varbinds):
            self.done = True
        return True


_OID_OF, _KIND_OF, _LESS = itemgetter(0), itemgetter(1), lt
END_KINDS = frozenset({Kind.END_OF_MIB, Kind.NO_SUCH_OBJECT, Kind.NO_SUCH_INSTANCE})

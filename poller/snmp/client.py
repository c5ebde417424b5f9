"""The SNMP client interface the rest of poller uses, and the walk loop built on single requests."""

from __future__ import annotations

from typing import Protocol, Sequence

from poller.oid import Oid
from poller.snmp.types import RequestStats, Target, VarBind


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
    """GET with request splitting and the multi-column GETBULK/GETNEXT walk, on a Requester."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    async def get(self, target: Target, oids: Sequence[Oid], stats: RequestStats) -> list[VarBind]:
        """GET `oids` (in requests of at most target.max_oids_per_request), in order."""
        raise NotImplementedError

    async def walk(
        self, target: Target, columns: Sequence[Oid], stats: RequestStats
    ) -> dict[Oid, list[VarBind]]:
        """Walk each column subtree; returns {column: varbinds under it, in OID order}."""
        raise NotImplementedError

    async def close(self) -> None:
        await self._requester.close()

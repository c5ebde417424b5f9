"""Which Requester does the work: the built-in codec on one UDP socket ("builtin", the default:
v1/v2c and SNMPv3 with the built-in USM), pysnmp ("pysnmp", the reference, for every version), or
the built-in codec for v1/v2c with SNMPv3 through pysnmp ("builtin-v2c", the way to keep v3 on
the reference implementation). pysnmp is created on the first request it gets, so a fleet that
never sends it one never imports it."""

from __future__ import annotations

from collections.abc import Sequence

from poller.config.model import ENGINES
from poller.oid import Oid
from poller.snmp.client import Requester
from poller.snmp.types import Target, VarBind


def make_requester(engine: str) -> Requester:
    if engine == "pysnmp":
        return _pysnmp()
    if engine in ("builtin", "builtin-v2c"):
        from poller.snmp.udp_requester import UdpRequester

        return UdpRequester() if engine == "builtin" else VersionRouter(UdpRequester())
    raise ValueError(f"unknown SNMP engine {engine!r} (allowed: {', '.join(ENGINES)})")


def _pysnmp() -> Requester:
    from poller.snmp.pysnmp_requester import PysnmpRequester

    return PysnmpRequester()


class VersionRouter:
    """v1/v2c to `plain`; v3 to a pysnmp requester made on first use."""

    def __init__(self, plain: Requester) -> None:
        self.plain = plain
        self.v3: Requester | None = None

    def _for(self, target: Target) -> Requester:
        if target.credential.usm is None:
            return self.plain
        if self.v3 is None:
            self.v3 = _pysnmp()
        return self.v3

    async def get(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._for(target).get(target, oids)

    async def get_next(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._for(target).get_next(target, oids)

    async def get_bulk(
        self, target: Target, oids: Sequence[Oid], max_repetitions: int
    ) -> list[VarBind]:
        return await self._for(target).get_bulk(target, oids, max_repetitions)

    def dropped_replies(self) -> dict[str, int] | None:
        return self.plain.dropped_replies()  # pysnmp's (SNMPv3) are not seen

    async def close(self) -> None:
        await self.plain.close()
        if self.v3 is not None:
            await self.v3.close()

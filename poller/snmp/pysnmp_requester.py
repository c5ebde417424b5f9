"""The Requester on pysnmp's asyncio API: one request, one response, typed errors.

One SnmpEngine for the whole process, created inside the running loop on first use and closed
with the client (SNMPv3: one more only for a user name that comes with other keys, see
poller.snmp.usm). MIB lookups are off: OIDs go out and come back numeric. SNMPv3 engine
discovery is pysnmp's, cached per agent address (5 minutes) by its message processing model.
pysnmp numbers requests (v1/v2c request-ids, SNMPv3 msgIDs) from one counter for every engine;
poller replaces it with random ids (poller.snmp.request_ids), so that no repeated or late
answer is taken for the answer to a later request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyasn1.error import PyAsn1Error
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905
from pysnmp.proto.mpmod import cache
from pysnmp.proto.rfc1902 import ObjectName
from pysnmp.smi.rfc1902 import ObjectIdentity, ObjectType

from poller.config.model import Secret
from poller.errors import SnmpDecodeError, SnmpError, SnmpTimeout, SnmpTransportError
from poller.oid import Oid
from poller.snmp import usm, usm_reports
from poller.snmp.failures import status_error, who
from poller.snmp.request_ids import RequestIds
from poller.snmp.types import Kind, Target, VarBind

_KINDS = {
    rfc1902.Integer32.tagSet: Kind.INTEGER,
    rfc1902.OctetString.tagSet: Kind.OCTETS,
    rfc1902.ObjectIdentifier.tagSet: Kind.OID,
    rfc1902.IpAddress.tagSet: Kind.IPADDRESS,
    rfc1902.Counter32.tagSet: Kind.COUNTER32,
    rfc1902.Gauge32.tagSet: Kind.GAUGE32,
    rfc1902.TimeTicks.tagSet: Kind.TIMETICKS,
    rfc1902.Opaque.tagSet: Kind.OPAQUE,
    rfc1902.Counter64.tagSet: Kind.COUNTER64,
    rfc1902.Bits.tagSet: Kind.OCTETS,
    rfc1905.NoSuchObject.tagSet: Kind.NO_SUCH_OBJECT,
    rfc1905.NoSuchInstance.tagSet: Kind.NO_SUCH_INSTANCE,
    rfc1905.EndOfMibView.tagSet: Kind.END_OF_MIB,
}
_BYTES_KINDS = frozenset({Kind.OCTETS, Kind.OPAQUE, Kind.IPADDRESS})
_INT_KINDS = frozenset({Kind.INTEGER, Kind.COUNTER32, Kind.GAUGE32, Kind.TIMETICKS, Kind.COUNTER64})


#: what pysnmp raises on its own (a bad address, a value it cannot encode or decode)
_LIBRARY_ERRORS = (PySnmpError, PyAsn1Error, OSError, ValueError)


def _random_message_ids() -> None:
    """pysnmp's message cache draws every outgoing id from its class's generator (a counter):
    a random one instead. The attribute is checked first, so a pysnmp that moved it fails here,
    at start, not by going back to sequential ids unseen."""
    name = "_Cache__message_id"
    if not hasattr(cache.Cache, name):
        raise RuntimeError(f"pysnmp {cache.__name__}.Cache has no {name}: cannot randomise ids")
    if not isinstance(getattr(cache.Cache, name), RequestIds):
        setattr(cache.Cache, name, staticmethod(RequestIds()))


class PysnmpRequester:
    def __init__(self) -> None:
        _random_message_ids()
        self._engines: list[SnmpEngine] = []
        self._transports: dict[tuple[str, int, float, int], Any] = {}
        self._auth: dict[tuple[object, ...], Any] = {}
        self._placement = usm.UserPlacement()

    def _engine_for(self, target: Target) -> SnmpEngine:
        credential = target.credential
        index = self._placement.engine_index(credential.usm) if credential.usm else 0
        while len(self._engines) <= index:
            self._engines.append(SnmpEngine())
        return self._engines[index]

    async def _transport(self, target: Target) -> Any:
        key = (target.host, target.port, target.timeout_s, target.retries)
        transport = self._transports.get(key)
        if transport is None:
            kind = Udp6TransportTarget if ":" in target.host else UdpTransportTarget
            try:
                transport = await kind.create(
                    (target.host, target.port), timeout=target.timeout_s, retries=target.retries
                )
            except _LIBRARY_ERRORS as exc:  # e.g. a name that does not resolve
                raise SnmpTransportError(
                    f"cannot reach {who(target)}: {_first_line(exc)}"
                ) from None
            self._transports[key] = transport
        return transport

    def _auth_data(self, target: Target) -> Any:
        credential = target.credential
        if credential.usm is not None:
            key: tuple[object, ...] = (credential.usm.user, *usm.identity(credential.usm))
        else:
            key = (credential.name, credential.version)
        auth = self._auth.get(key)
        if auth is None:
            if credential.usm is not None:
                auth = usm.user_data(credential.usm)
            else:
                auth = CommunityData(
                    credential.community.reveal(), mpModel=0 if credential.version == "1" else 1
                )
            self._auth[key] = auth
        return auth

    async def _request(self, command: Any, target: Target, oids: Sequence[Oid], *extra: Any) -> list[VarBind]:
        engine = self._engine_for(target)
        transport = await self._transport(target)
        objects = [ObjectType(ObjectIdentity(ObjectName(oid))) for oid in oids]
        credential = target.credential
        context = ContextData(contextName=credential.usm.context) if credential.usm else ContextData()
        try:
            indication, status, index, varbinds = await command(
                engine, self._auth_data(target), transport, context, *extra, *objects,
                lookupMib=False,
            )
        except _LIBRARY_ERRORS as exc:
            # library text is not ours to trust: it must not carry a community or key out
            raise SnmpDecodeError(f"{who(target)}: {_scrubbed(_first_line(exc), target)}") from None
        if indication:
            raise _indication_error(indication, target)
        if status and int(status):
            raise status_error(str(status.prettyPrint()), int(index), target, oids)
        return [_varbind(vb, target) for vb in varbinds]

    async def get(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._request(get_cmd, target, oids)

    async def get_next(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._request(next_cmd, target, oids)

    async def get_bulk(
        self, target: Target, oids: Sequence[Oid], max_repetitions: int
    ) -> list[VarBind]:
        return await self._request(bulk_cmd, target, oids, 0, max_repetitions)

    def dropped_replies(self) -> dict[str, int] | None:
        return None  # pysnmp drops them unseen

    async def close(self) -> None:
        for engine in self._engines:
            engine.close_dispatcher()
        self._engines.clear()
        self._transports.clear()


def _varbind(vb: Any, target: Target) -> VarBind:
    name, value = vb[0], vb[1]
    kind = _KINDS.get(value.tagSet)
    if kind is None:
        if isinstance(value, rfc1902.Integer32.__bases__[0]):
            kind = Kind.INTEGER
        elif value.tagSet == rfc1902.Null.tagSet:
            kind = Kind.NULL
        else:
            raise SnmpDecodeError(f"{who(target)}: unknown type at {name}")
    oid = Oid(tuple(name))
    if kind in _INT_KINDS:
        return VarBind(oid, kind, int(value))
    if kind in _BYTES_KINDS:
        return VarBind(oid, kind, bytes(value.asOctets()))
    if kind is Kind.OID:
        return VarBind(oid, kind, Oid(tuple(value)))
    return VarBind(oid, kind, None)


def _indication_error(indication: Any, target: Target) -> SnmpError:
    v3 = target.credential.usm
    if isinstance(indication, errind.RequestTimedOut):
        tries = target.retries + 1
        hint = usm_reports.PRIV_SILENCE if v3 is not None and v3.level == "authPriv" else ""
        return SnmpTimeout(
            f"no response from {who(target)} after {tries} x "
            f"{target.timeout_s:g} s{hint}"
        )
    reported = usm.report_error(indication, who(target), v3.user if v3 else "")
    if reported is not None:
        return reported
    return SnmpTransportError(f"{who(target)}: {_scrubbed(str(indication), target)}")


def _scrubbed(text: str, target: Target) -> str:
    credential = target.credential
    secrets: list[Secret | None] = [credential.community]
    if credential.usm is not None:
        secrets += [credential.usm.auth_key, credential.usm.priv_key]
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), "<secret>")
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

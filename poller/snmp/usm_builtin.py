"""SNMPv3 USM on the built-in engine: engine discovery and time per agent, localized keys per
(credential, engine ID), building a request and checking, decrypting and reading its answer.

Discovery (RFC 3414 4): an empty-user probe is answered by a REPORT usmStatsUnknownEngineIDs that
carries the agent's engine ID, boots and time; kept per agent address, the agent's time then
runs on with the local monotonic clock. An authenticated notInTimeWindow REPORT resyncs it and the
request goes again once; so does an unknownEngineID REPORT (the agent's engine ID changed).
Key localization hashes 1 MB per key: done once per credential and engine ID."""

from __future__ import annotations

import hmac
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from poller.config.model import Usm
from poller.errors import SnmpDecodeError, SnmpUnexpectedReport
from poller.snmp import ber, ber_v3, usm_crypto, usm_reports
from poller.snmp.ber_v3 import AUTH_FLAG, PRIV_FLAG, REPORTABLE_FLAG

#: sends what the callable builds for a request-id (again on each try), returns the answer
Exchange = Callable[[Callable[[int], bytes]], Awaitable[bytes]]
_EMPTY_VARBINDS = ber.varbind_list([])


@dataclass(slots=True)
class Peer:
    """An agent's authoritative engine, as last synchronized."""

    engine_id: bytes
    boots: int
    time: int
    synced_at: float

    def now(self) -> int:
        return min(self.time + int(time.monotonic() - self.synced_at), 0x7FFFFFFF)


@dataclass(frozen=True, slots=True)
class Keys:
    auth_protocol: str | None
    auth: bytes
    privacy: usm_crypto.Privacy | None


class UsmEngine:
    def __init__(self) -> None:
        self._peers: dict[tuple[str, int], Peer] = {}
        self._keys: dict[tuple[object, ...], Keys] = {}
        self._salt = random.getrandbits(64)

    async def request(self, usm: Usm, address: tuple[str, int], pdu: int, varbinds: bytes, a: int,
                      b: int, exchange: Exchange, where: str) -> ber.Response:
        """One request as `usm`'s user; REPORTs raise the typed errors of usm_reports."""
        peer = self._peers.get(address) or await self._discover(address, exchange, where)
        for again in (True, False):
            keys = self._keys_for(usm, peer.engine_id)
            data = await exchange(self._builder(usm, keys, peer, pdu, a, b, varbinds))
            response, authentic, message = self._decode(data, usm, keys, peer, where)
            if response.pdu != ber.REPORT:
                return response
            name = _report_name(response)
            if again and name == "not_in_time_window" and authentic:
                peer.boots, peer.time, peer.synced_at = message.boots, message.time, time.monotonic()
                continue
            if again and name == "unknown_engine_id":
                peer = await self._discover(address, exchange, where)
                continue
            if name is None:
                raise SnmpUnexpectedReport(f"{where}: the agent answered with REPORT "
                                           f"{_first_oid(response)}")
            raise usm_reports.report_error(name, where, usm.user)
        raise AssertionError("unreachable")

    async def _discover(self, address: tuple[str, int], exchange: Exchange, where: str) -> Peer:
        def probe(request_id: int) -> bytes:
            scoped = ber_v3.scoped_pdu(b"", b"", ber.GET, request_id, 0, 0, _EMPTY_VARBINDS)
            return bytes(ber_v3.encode_message(request_id, REPORTABLE_FLAG, b"", 0, 0, b"", 0,
                                               b"", scoped)[0])

        message = _decoded(await exchange(probe), where)
        if message.encrypted or not message.engine_id:
            raise SnmpDecodeError(f"{where}: engine discovery answered without an engine ID")
        peer = self._peers[address] = Peer(message.engine_id, message.boots, message.time,
                                           time.monotonic())
        return peer

    def _builder(self, usm: Usm, keys: Keys, peer: Peer, pdu: int, a: int, b: int,
                 varbinds: bytes) -> Callable[[int], bytes]:
        """The message for each request-id the exchange draws, with this try's keys and peer."""
        return lambda request_id: self._encode(usm, keys, peer, request_id, pdu, a, b, varbinds)

    def _keys_for(self, usm: Usm, engine_id: bytes) -> Keys:
        auth = usm.auth_key.reveal().encode() if usm.auth_key else b""
        priv = usm.priv_key.reveal().encode() if usm.priv_key else b""
        cache_key = (usm.auth_protocol, auth, usm.priv_protocol, priv, engine_id)
        keys = self._keys.get(cache_key)
        if keys is None:
            if len(self._keys) > 10_000:
                self._keys.clear()  # bounded: a fleet has far fewer users x agents
            privacy = None
            if usm.auth_protocol and usm.priv_protocol and usm.level == "authPriv":
                privacy = usm_crypto.Privacy(usm.priv_protocol, usm_crypto.priv_key(
                    priv, engine_id, usm.auth_protocol, usm.priv_protocol))
            keys = self._keys[cache_key] = Keys(
                usm.auth_protocol if usm.level != "noAuthNoPriv" else None,
                usm_crypto.auth_key(auth, engine_id, usm.auth_protocol)
                if usm.auth_protocol and usm.level != "noAuthNoPriv" else b"",
                privacy)
        return keys

    def _encode(self, usm: Usm, keys: Keys, peer: Peer, request_id: int, pdu: int, a: int, b: int,
                varbinds: bytes) -> bytes:
        boots, now = peer.boots, peer.now()
        scoped = ber_v3.scoped_pdu(peer.engine_id, usm.context.encode(), pdu, request_id, a, b,
                                   varbinds)
        flags, priv_params = REPORTABLE_FLAG, b""
        if keys.privacy is not None:
            self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
            cipher, priv_params = keys.privacy.encrypt(scoped, boots, now, self._salt)
            scoped = ber_v3.encrypted(cipher)
            flags |= PRIV_FLAG
        auth_size = usm_crypto.AUTH[keys.auth_protocol][1] if keys.auth_protocol else 0
        if keys.auth_protocol:
            flags |= AUTH_FLAG
        message, auth_at = ber_v3.encode_message(request_id, flags, peer.engine_id, boots, now,
                                                 usm.user.encode(), auth_size, priv_params, scoped)
        if keys.auth_protocol:
            message[auth_at:auth_at + auth_size] = usm_crypto.signature(
                keys.auth, keys.auth_protocol, bytes(message))
        return bytes(message)

    def _decode(self, data: bytes, usm: Usm, keys: Keys, peer: Peer,
                where: str) -> tuple[ber.Response, bool, ber_v3.Message]:
        """(the PDU, whether it was authenticated, the message) of an answer, checked: a
        Response must come at the level of the request, signed by the agent's engine."""
        message = _decoded(data, where)
        authentic = False
        if message.flags & AUTH_FLAG:
            if keys.auth_protocol is None or message.engine_id != peer.engine_id:
                raise SnmpDecodeError(f"{where}: an answer signed for another user or engine")
            blank = bytearray(data)
            blank[message.auth_at:message.auth_at + len(message.auth_params)] = bytes(
                len(message.auth_params))
            expected = usm_crypto.signature(keys.auth, keys.auth_protocol, bytes(blank))
            if not hmac.compare_digest(expected, message.auth_params):
                raise SnmpDecodeError(f"{where}: an answer that fails authentication")
            authentic = True
        try:
            if message.flags & PRIV_FLAG:
                if not (authentic and message.encrypted and keys.privacy is not None):
                    raise SnmpDecodeError("an encrypted answer that cannot be decrypted")
                plain = keys.privacy.decrypt(message.data, message.boots, message.time,
                                             message.priv_params)
                response = ber_v3.decode_scoped(plain, padded=keys.privacy.protocol == "DES")
            elif message.encrypted:
                raise SnmpDecodeError("an encrypted scoped PDU without the privacy flag")
            else:
                response = ber_v3.decode_scoped(message.data)
        except SnmpDecodeError as exc:
            raise SnmpDecodeError(f"{where}: {exc}") from None
        wanted = (AUTH_FLAG if keys.auth_protocol else 0) | (PRIV_FLAG if keys.privacy else 0)
        if response.pdu != ber.REPORT and message.flags & 3 != wanted:
            raise SnmpDecodeError(f"{where}: a response below the request's security level")
        return response, authentic, message


def _decoded(data: bytes, where: str) -> ber_v3.Message:
    try:
        return ber_v3.decode_message(data)
    except SnmpDecodeError as exc:
        raise SnmpDecodeError(f"{where}: {exc}") from None


def _report_name(response: ber.Response) -> str | None:
    return usm_reports.BY_OID.get(tuple(response.varbinds[0].oid)) if response.varbinds else None


def _first_oid(response: ber.Response) -> str:
    return str(response.varbinds[0].oid) if response.varbinds else "(empty)"

"""The Requester on the project's own BER codec and one UDP socket per address family: the fast
path for SNMP v1/v2c, and for SNMPv3 with poller.snmp.usm_builtin. Answers are matched by
request-id (an SNMPv3 message's msgID) and source address; late, duplicate, foreign or malformed
datagrams are dropped and counted (`dropped`), never taken for an answer. An answer to an earlier
try of the same request is taken (a slow agent, not a wrong one). Request-ids are random
(poller.snmp.request_ids).

When a request gets no valid answer, what did arrive says why: answers to it from another
address (wrong_source), datagrams from the agent that are not SNMP (decode), or with
request-ids never sent (wrong_request_id); else a plain timeout.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from poller.errors import (
    SnmpDecodeError,
    SnmpTimeout,
    SnmpTransportError,
    SnmpUndecodable,
    SnmpWrongRequestId,
    SnmpWrongSource,
)
from poller.oid import Oid
from poller.snmp import ber, usm_reports
from poller.snmp.failures import status_error, who
from poller.snmp.request_ids import RequestIds
from poller.snmp.types import Target, VarBind

if TYPE_CHECKING:
    from poller.snmp.usm_builtin import UsmEngine

Address = tuple[str, int]
#: the socket's receive buffer: answers for every request in flight must fit while the loop is
#: busy (a 10,000-device fleet lost 0.5 % of its answers to the 208 KiB default during loop
#: stalls of 0.1-1 s, each a timeout and a retry); the kernel grants at most net.core.rmem_max
RECEIVE_BUFFER_BYTES = 4 << 20
#: why datagrams were dropped, the keys of UdpRequester.dropped
DROP_REASONS = ("late_or_duplicate", "never_sent", "wrong_source", "not_snmp")


class _Call:
    """One request, over its tries: every try's request-id leads here."""

    __slots__ = ("address", "future", "wrong_source")

    def __init__(self, address: Address) -> None:
        #: the current try's; None as its result means no answer in time
        self.future: asyncio.Future[bytes | None] | None = None
        self.address = address
        #: where an answer with one of our request-ids came from instead
        self.wrong_source: Address | None = None


class _Endpoint(asyncio.DatagramProtocol):
    """One UDP socket; routes each datagram to the request waiting for its request-id."""

    def __init__(self, requester: UdpRequester) -> None:
        self.requester = requester
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        self.requester._received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable: not an answer; the retry timer handles it


def _expire(future: asyncio.Future[bytes | None]) -> None:
    if not future.done():
        future.set_result(None)


class UdpRequester:
    def __init__(self) -> None:
        self._endpoints: dict[int, _Endpoint] = {}
        self._pending: dict[int, _Call] = {}
        self._ids = RequestIds()
        #: per agent address: [datagrams that are not SNMP, request-ids never sent]
        self._noise: dict[Address, list[int]] = {}
        self._addresses: dict[tuple[str, int], tuple[int, Address]] = {}
        self._encoded: dict[Oid, bytes] = {}
        #: datagrams that answered nothing waited for, by reason (DROP_REASONS), since start
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        #: SNMPv3 discovery, time and keys, made on the first v3 request
        self._usm: UsmEngine | None = None

    # -- the Requester protocol ---------------------------------------------------------------

    async def get(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._request(target, ber.GET, oids, 0, 0)

    async def get_next(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._request(target, ber.GET_NEXT, oids, 0, 0)

    async def get_bulk(
        self, target: Target, oids: Sequence[Oid], max_repetitions: int
    ) -> list[VarBind]:
        return await self._request(target, ber.GET_BULK, oids, 0, max_repetitions)

    def dropped_replies(self) -> dict[str, int]:
        return dict(self.dropped)

    async def close(self) -> None:
        for endpoint in self._endpoints.values():
            if endpoint.transport is not None:
                endpoint.transport.close()
        self._endpoints.clear()
        for call in self._pending.values():
            if call.future is not None:
                call.future.cancel()
        self._pending.clear()

    # -- one request ------------------------------------------------------------------------------

    async def _request(
        self, target: Target, pdu: int, oids: Sequence[Oid], a: int, b: int
    ) -> list[VarBind]:
        # known address and socket without a coroutine each: this runs for every request
        found = self._addresses.get((target.host, target.port))
        family, address = found if found is not None else await self._resolve(target)
        endpoint = self._endpoints.get(family) or await self._endpoint(family)
        encoded = self._encoded
        varbinds = ber.varbind_list([encoded.get(oid) or self._encode(oid) for oid in oids])
        usm = target.credential.usm
        if usm is not None:
            response = await self._usm_engine().request(
                usm, address, pdu, varbinds, a, b,
                lambda build: self._exchange(target, endpoint, address, build), who(target))
            return self._checked(response, target, oids)
        version = ber.VERSION_1 if target.credential.version == "1" else ber.VERSION_2C
        community = target.credential.community.reveal().encode()
        data = await self._exchange(target, endpoint, address, lambda request_id: ber.encode_request(
            version, community, pdu, request_id, a, b, varbinds))
        return self._answer(data, target, oids)

    async def _exchange(self, target: Target, endpoint: _Endpoint, address: Address,
                        build: Callable[[int], bytes]) -> bytes:
        """Send what `build` makes of a fresh request-id, again on each try; the first valid
        answer to any try."""
        loop = asyncio.get_running_loop()
        call = _Call(address)
        ids = []
        noise = list(self._noise.get(address, (0, 0)))
        try:
            for _ in range(target.retries + 1):
                request_id = self._new_id()
                ids.append(request_id)
                future: asyncio.Future[bytes | None] = loop.create_future()
                call.future = future
                self._pending[request_id] = call
                assert endpoint.transport is not None
                endpoint.transport.sendto(build(request_id), address)
                # a timer, not asyncio.wait_for: on 3.11 wait_for can swallow a cancellation
                # (a poll deadline, a walk's time cap) that meets an answer arriving
                timer = loop.call_later(target.timeout_s, _expire, future)
                try:
                    data = await future
                finally:
                    timer.cancel()
                if data is not None:
                    return data
        except OSError as exc:
            raise SnmpTransportError(f"{who(target)}: {exc.strerror or exc}") from None
        finally:
            for request_id in ids:
                self._pending.pop(request_id, None)
        raise self._no_answer(target, call, noise)

    def _new_id(self) -> int:
        request_id = self._ids.new()
        while request_id in self._pending:  # pending beyond the ids remembered: not reused
            request_id = self._ids.new()
        return request_id

    def _usm_engine(self) -> UsmEngine:
        if self._usm is None:  # imported here: a v1/v2c fleet needs no ciphers
            from poller.snmp.usm_builtin import UsmEngine

            self._usm = UsmEngine()
        return self._usm

    def _no_answer(self, target: Target, call: _Call, before: list[int]) -> SnmpTimeout:
        waited = f"no valid response from {who(target)} after {target.retries + 1} x " \
                 f"{target.timeout_s:g} s"
        now = self._noise.get(call.address, (0, 0))
        garbage, unknown = now[0] - before[0], now[1] - before[1]
        if call.wrong_source is not None:
            host, port = call.wrong_source
            shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            return SnmpWrongSource(f"{waited}: its answers came from {shown} instead")
        if garbage:
            return SnmpUndecodable(f"{waited}: it sent {garbage} datagrams that are not SNMP")
        if unknown:
            return SnmpWrongRequestId(
                f"{waited}: it sent {unknown} answers with request-ids never sent"
            )
        usm = target.credential.usm
        hint = usm_reports.PRIV_SILENCE if usm is not None and usm.level == "authPriv" else ""
        return SnmpTimeout(
            f"no response from {who(target)} after {target.retries + 1} x "
            f"{target.timeout_s:g} s{hint}"
        )

    def _answer(self, data: bytes, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        try:
            response = ber.decode_response(data)
        except SnmpDecodeError as exc:
            raise SnmpDecodeError(f"{who(target)}: {exc}") from None
        return self._checked(response, target, oids)

    def _checked(self, response: ber.Response, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        if response.error_status:
            raise status_error(response.error_name, response.error_index, target, oids)
        return response.varbinds

    def _received(self, data: bytes, source: Address) -> None:
        request_id = ber.peek_request_id(data)
        call = self._pending.get(request_id) if request_id is not None else None
        if call is not None and call.address == source and call.future is not None \
                and not call.future.done():
            call.future.set_result(data)
            return
        reason = self._drop_reason(request_id, call, source)
        self.dropped[reason] += 1
        noise = self._noise.get(source)
        if noise is not None:  # from an agent we send to: say so if its request fails
            if reason == "not_snmp":
                noise[0] += 1
            elif reason == "never_sent":
                noise[1] += 1

    def _drop_reason(self, request_id: int | None, call: _Call | None, source: Address) -> str:
        if request_id is None:
            return "not_snmp"
        if call is not None and call.address != source:
            call.wrong_source = source
            return "wrong_source"
        if call is not None or request_id in self._ids:
            return "late_or_duplicate"  # a copy of an answer taken, or one given up on
        return "never_sent"

    # -- sockets and addresses --------------------------------------------------------------------

    async def _resolve(self, target: Target) -> tuple[int, Address]:
        key = (target.host, target.port)
        found = self._addresses.get(key)
        if found is None:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                raise SnmpTransportError(f"cannot resolve {who(target)}: {exc.strerror or exc}") from None
            family, _, _, _, sockaddr = infos[0]
            found = self._addresses[key] = (family, (str(sockaddr[0]), int(sockaddr[1])))
            self._noise.setdefault(found[1], [0, 0])
        return found

    async def _endpoint(self, family: int) -> _Endpoint:
        endpoint = self._endpoints.get(family)
        if endpoint is None:
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Endpoint(self), local_addr=local, family=family
            )
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            endpoint = self._endpoints[family] = protocol
        return endpoint

    def _encode(self, oid: Oid) -> bytes:
        """The request varbind of `oid` (with a NULL value), remembered: a fleet asks for the
        same column OIDs and walk cursors on every poll."""
        if len(self._encoded) > 100_000:
            self._encoded.clear()  # keep the cache bounded
        encoded = self._encoded[oid] = ber.null_varbind(ber.encode_oid(oid))
        return encoded

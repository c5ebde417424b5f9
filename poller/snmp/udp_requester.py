"""The Requester on the project's own BER codec and one UDP socket per address family: the fast
path for SNMP v1/v2c. Answers are matched by request-id and source address; late, duplicate,
foreign or malformed datagrams are dropped and counted, never taken for an answer.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from typing import Sequence

from poller.errors import SnmpDecodeError, SnmpTimeout, SnmpTransportError
from poller.oid import Oid
from poller.snmp import ber
from poller.snmp.failures import status_error, who
from poller.snmp.types import Target, VarBind

Address = tuple[str, int]
#: the socket's receive buffer: answers for every request in flight must fit while the loop is
#: busy (a 10,000-device fleet lost 0.5 % of its answers to the 208 KiB default during loop
#: stalls of 0.1-1 s, each a timeout and a retry); the kernel grants at most net.core.rmem_max
RECEIVE_BUFFER_BYTES = 4 << 20


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
        self.requester.stray += 1  # e.g. ICMP port unreachable: the retry timer handles it


class _Expired(Exception):
    """A request's timer ran out before its answer came."""


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class UdpRequester:
    def __init__(self) -> None:
        self._endpoints: dict[int, _Endpoint] = {}
        self._pending: dict[int, tuple[asyncio.Future[bytes], Address]] = {}
        self._ids = itertools.count(random.randrange(1, 1 << 30))
        self._addresses: dict[tuple[str, int], tuple[int, Address]] = {}
        self._encoded: dict[Oid, bytes] = {}
        #: datagrams that answered nothing we were waiting for
        self.stray = 0

    # -- the Requester protocol ---------------------------------------------------------------

    async def get(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._request(target, ber.GET, oids, 0, 0)

    async def get_next(self, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        return await self._request(target, ber.GET_NEXT, oids, 0, 0)

    async def get_bulk(
        self, target: Target, oids: Sequence[Oid], max_repetitions: int
    ) -> list[VarBind]:
        return await self._request(target, ber.GET_BULK, oids, 0, max_repetitions)

    async def close(self) -> None:
        for endpoint in self._endpoints.values():
            if endpoint.transport is not None:
                endpoint.transport.close()
        self._endpoints.clear()
        for future, _ in self._pending.values():
            future.cancel()
        self._pending.clear()

    # -- one request ------------------------------------------------------------------------------

    async def _request(
        self, target: Target, pdu: int, oids: Sequence[Oid], a: int, b: int
    ) -> list[VarBind]:
        family, address = await self._resolve(target)
        endpoint = await self._endpoint(family)
        version = ber.VERSION_1 if target.credential.version == "1" else ber.VERSION_2C
        community = target.credential.community.reveal().encode()
        encoded = self._encoded
        varbinds = ber.varbind_list([encoded.get(oid) or self._encode(oid) for oid in oids])
        loop = asyncio.get_running_loop()
        for _ in range(target.retries + 1):
            request_id = next(self._ids) & 0x7FFFFFFF
            future: asyncio.Future[bytes] = loop.create_future()
            self._pending[request_id] = (future, address)
            # a timer of our own rather than asyncio.wait_for: no wrapper task, waiter future
            # and callbacks for each of the thousands of requests a second
            timer = loop.call_later(target.timeout_s, _expire, future)
            try:
                assert endpoint.transport is not None
                endpoint.transport.sendto(
                    ber.encode_request(version, community, pdu, request_id, a, b, varbinds), address
                )
                data = await future
            except _Expired:
                continue
            except OSError as exc:
                raise SnmpTransportError(f"{who(target)}: {exc.strerror or exc}") from None
            finally:
                timer.cancel()
                self._pending.pop(request_id, None)
            return self._answer(data, target, oids)
        raise SnmpTimeout(
            f"no response from {who(target)} after {target.retries + 1} x {target.timeout_s:g} s"
        )

    def _answer(self, data: bytes, target: Target, oids: Sequence[Oid]) -> list[VarBind]:
        try:
            response = ber.decode_response(data)
        except SnmpDecodeError as exc:
            raise SnmpDecodeError(f"{who(target)}: {exc}") from None
        if response.error_status:
            raise status_error(response.error_name, response.error_index, target, oids)
        return response.varbinds

    def _received(self, data: bytes, source: Address) -> None:
        request_id = ber.peek_request_id(data)
        entry = self._pending.get(request_id) if request_id is not None else None
        if entry is None or entry[1] != source or entry[0].done():
            self.stray += 1
            return
        entry[0].set_result(data)

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

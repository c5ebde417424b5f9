"""A misbehaving SNMP v1/v2c agent on loopback, for tests: a small MIB (the system group, and an
ifTable/ifXTable of `rows` interfaces whose counters advance) served over a real UDP socket, with
the faults that agents in the field show, chosen by mode (several combine):

  too_big         answers tooBig when the answer would hold more than `limit` varbinds (or be
                  longer than `limit_bytes`, when set)
  drop_big        drops requests whose answer would be that large (a path that loses large
                  datagrams): only large requests time out
  no_getbulk      answers GETBULK with genErr
  drop_getbulk    never answers GETBULK
  non_increasing  table rows in a wrong order: after row 2 comes the last row, then row 3...
  looping         after row 3 of every column, row 1 again: a cycle that never ends
  endless         every row is followed by one more: always increasing, never leaves the table
  late            answers after `delay` seconds
  duplicate       answers twice
  flood           sends each answer FLOOD times, then FLOOD copies of it with request-ids one to
                  FLOOD above the request's (a requester with sequential ids takes them for the
                  answers to its next requests)
  echo_root       answers GETNEXT and GETBULK with the OIDs asked, as if each were its own next
  wrong_oids      answers GET with OIDs that were not asked (each asked one's last arc + 1)
  wrong_request_id  answers with a request-id that was never sent
  wrong_source    answers from another UDP port
  garbage         answers random bytes and truncated messages, never a good answer
  noisy           sends random bytes and a truncated message before each good answer
  silent          never answers

Requests are decoded and answers encoded with pyasn1 and pysnmp's message classes, independent
of poller's own codec. In-process (`await HostileAgent.start(...)`) for client tests, or as a
process for daemon tests:

    python -m tests.hostile_agent --port 16100 --mode too_big --limit 10
    python -m tests.hostile_agent --agent 16100=normal --agent 16101=late+duplicate
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api, rfc1902, rfc1905

MODES = frozenset({
    "normal", "too_big", "drop_big", "no_getbulk", "drop_getbulk", "non_increasing", "looping",
    "endless", "late", "duplicate", "flood", "echo_root", "wrong_oids", "wrong_request_id",
    "wrong_source", "garbage", "noisy", "silent",
})

OidT = tuple[int, ...]
SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
#: where the row-order faults start (looping: after this row comes row 1 again)
LOOP_AT = 3
#: flood: copies of each answer, and request-ids above the request's it also answers with
FLOOD = 100

Value = Callable[[int, float], Any]  # (row, seconds since start) -> a pyasn1 value


def _counter(kind: Any, rate: int, width: int) -> Value:
    return lambda row, t: kind((1000 * row + int(rate * row * t)) % width)


#: column -> how its value reads for a row
IF_COLUMNS: dict[OidT, Value] = {
    IF_ENTRY + (1,): lambda row, t: rfc1902.Integer32(row),
    IF_ENTRY + (2,): lambda row, t: rfc1902.OctetString(f"eth{row}".encode()),
    IF_ENTRY + (3,): lambda row, t: rfc1902.Integer32(6),
    IF_ENTRY + (4,): lambda row, t: rfc1902.Integer32(1500),
    IF_ENTRY + (5,): lambda row, t: rfc1902.Gauge32(1_000_000_000),
    IF_ENTRY + (6,): lambda row, t: rfc1902.OctetString(bytes((0, 0x1A, 0x2B, 0, 0, row % 256))),
    IF_ENTRY + (7,): lambda row, t: rfc1902.Integer32(1),
    IF_ENTRY + (8,): lambda row, t: rfc1902.Integer32(1),
    IF_ENTRY + (9,): lambda row, t: rfc1902.TimeTicks(0),
    IF_ENTRY + (10,): _counter(rfc1902.Counter32, 1000, 2**32),
    IF_ENTRY + (13,): lambda row, t: rfc1902.Counter32(0),
    IF_ENTRY + (14,): lambda row, t: rfc1902.Counter32(0),
    IF_ENTRY + (15,): lambda row, t: rfc1902.Counter32(0),
    IF_ENTRY + (16,): _counter(rfc1902.Counter32, 2000, 2**32),
    IF_ENTRY + (19,): lambda row, t: rfc1902.Counter32(0),
    IF_ENTRY + (20,): lambda row, t: rfc1902.Counter32(0),
    IFX_ENTRY + (1,): lambda row, t: rfc1902.OctetString(f"e{row}".encode()),
    IFX_ENTRY + (6,): _counter(rfc1902.Counter64, 1000, 2**64),
    IFX_ENTRY + (7,): _counter(rfc1902.Counter64, 10, 2**64),
    IFX_ENTRY + (10,): _counter(rfc1902.Counter64, 2000, 2**64),
    IFX_ENTRY + (11,): _counter(rfc1902.Counter64, 20, 2**64),
    IFX_ENTRY + (15,): lambda row, t: rfc1902.Gauge32(1000),
    IFX_ENTRY + (18,): lambda row, t: rfc1902.OctetString(b""),
    IFX_ENTRY + (19,): lambda row, t: rfc1902.TimeTicks(0),
}


@dataclass
class Behaviour:
    modes: frozenset[str] = frozenset({"normal"})
    rows: int = 8
    #: too_big, drop_big: the most varbinds an answer may hold, and (when set) its most bytes
    limit: int = 20
    limit_bytes: int = 0
    #: late: seconds before the answer goes out
    delay_s: float = 1.0
    community: str = "public"

    def __post_init__(self) -> None:
        unknown = set(self.modes) - MODES
        if unknown:
            raise ValueError(f"unknown modes {sorted(unknown)} (known: {', '.join(sorted(MODES))})")
        if self.rows <= LOOP_AT:
            raise ValueError(f"rows must be above {LOOP_AT}")


class Mib:
    """The objects, in the agent's own order (which some modes break on purpose)."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.modes = behaviour.modes
        self.rows = behaviour.rows
        self.started = time.monotonic()
        self.scalars: dict[OidT, Any] = {
            SYSTEM + (1, 0): rfc1902.OctetString(b"hostile test agent"),
            SYSTEM + (2, 0): rfc1902.ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)),
            SYSTEM + (4, 0): rfc1902.OctetString(b"nobody"),
            SYSTEM + (5, 0): rfc1902.OctetString(b"hostile"),
            SYSTEM + (6, 0): rfc1902.OctetString(b"loopback"),
            IF_NUMBER: rfc1902.Integer32(self.rows),
        }
        self.order: list[OidT] = sorted(
            [*self.scalars, SYSTEM + (3, 0)]
            + [column + (row,) for column in IF_COLUMNS for row in range(1, self.rows + 1)]
        )
        # the row order within each column: non_increasing moves the last row after row 2
        rows = list(range(1, self.rows + 1))
        if "non_increasing" in self.modes:
            rows = [1, 2, self.rows, *range(3, self.rows)]
        self.row_order = rows

    def value(self, oid: OidT) -> Any | None:
        if oid == SYSTEM + (3, 0):
            return rfc1902.TimeTicks(int((time.monotonic() - self.started) * 100) + 12345)
        if oid in self.scalars:
            return self.scalars[oid]
        column, row = oid[:-1], oid[-1]
        reader = IF_COLUMNS.get(column)
        if reader is None or row < 1 or (row > self.rows and "endless" not in self.modes):
            return None
        return reader(row, time.monotonic() - self.started)

    def next_of(self, oid: OidT) -> OidT | None:
        """The OID this agent says comes after `oid` (None: end of the MIB view)."""
        column, row = oid[:-1], oid[-1] if oid else 0
        if column in IF_COLUMNS and row >= 1:
            if "endless" in self.modes:
                return column + (row + 1,)
            if "looping" in self.modes and row == LOOP_AT:
                return column + (1,)
            if row in self.row_order:
                at = self.row_order.index(row)
                if at + 1 < len(self.row_order):
                    return column + (self.row_order[at + 1],)
                return self._after(column + (1 << 31,))
        if oid in IF_COLUMNS:
            return oid + (self.row_order[0],)
        return self._after(oid)

    def _after(self, oid: OidT) -> OidT | None:
        at = bisect.bisect_right(self.order, oid)
        return self.order[at] if at < len(self.order) else None


@dataclass
class Answer:
    """What one request gets: (oid, value) pairs, or an error-status."""

    varbinds: list[tuple[OidT, Any]]
    error_status: int = 0
    error_index: int = 0


TOO_BIG, NO_SUCH_NAME, GEN_ERR = 1, 2, 5


@dataclass
class Counts:
    requests: int = 0
    answers: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class HostileAgent(asyncio.DatagramProtocol):
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.modes = behaviour.modes
        self.mib = Mib(behaviour)
        self.counts = Counts()
        self.transport: asyncio.DatagramTransport | None = None
        self.other: asyncio.DatagramTransport | None = None  # wrong_source answers from here
        self.port = 0
        self._random = random.Random(1)
        self._timers: set[asyncio.TimerHandle] = set()

    @classmethod
    async def start(cls, behaviour: Behaviour, host: str = "127.0.0.1", port: int = 0) -> HostileAgent:
        loop = asyncio.get_running_loop()
        transport, agent = await loop.create_datagram_endpoint(
            lambda: cls(behaviour), local_addr=(host, port)
        )
        agent.port = int(transport.get_extra_info("sockname")[1])
        if "wrong_source" in behaviour.modes:
            agent.other, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=(host, 0)
            )
        return agent

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for transport in (self.transport, self.other):
            if transport is not None:
                transport.close()

    # -- one datagram ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.counts.requests += 1
        try:
            replies = self.replies(data)
        except (PyAsn1Error, ValueError, KeyError):
            return  # not a request we can read: a real agent drops it too
        if not replies or "silent" in self.modes:
            return
        if "late" in self.modes:
            timer = asyncio.get_running_loop().call_later(
                self.behaviour.delay_s, self._send_late, replies, addr
            )
            self._timers.add(timer)
            return
        for reply in replies:
            self._send(reply, addr)

    def _send_late(self, replies: list[bytes], addr: Any) -> None:
        self._timers = {t for t in self._timers if not t.cancelled() and t.when() > time.monotonic()}
        for reply in replies:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: Any) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        out = self.other if "wrong_source" in self.modes and self.other is not None else self.transport
        if "garbage" in self.modes or "noisy" in self.modes:
            out.sendto(self._random.randbytes(self._random.randrange(1, 64)), addr)
            out.sendto(reply[: self._random.randrange(1, len(reply))], addr)
            if "garbage" in self.modes:
                return
        out.sendto(reply, addr)
        if "duplicate" in self.modes:
            out.sendto(reply, addr)
        self.counts.answers += 1

    # -- decoding the request, encoding the answer ------------------------------------------

    def replies(self, data: bytes) -> list[bytes]:
        """What goes back for one request: its answer, and in flood mode the copies."""
        message = self.reply(data)
        if message is None or "flood" not in self.modes:
            return [] if message is None else [message]
        request_id = int(decoder.decode(message[_request_id_at(message):])[0])
        # the copies are patched bytes: encoding a large answer 100 times would take seconds
        return [message] * FLOOD + [_with_request_id(message, (request_id + step) & 0x7FFFFFFF)
                                    for step in range(1, FLOOD + 1)]

    def reply(self, data: bytes) -> bytes | None:
        version = int(api.decodeMessageVersion(data))
        proto = api.PROTOCOL_MODULES[version]
        message, _ = decoder.decode(data, asn1Spec=proto.Message())
        if bytes(proto.apiMessage.get_community(message)) != self.behaviour.community.encode():
            return None  # like snmpd: a wrong community gets no answer
        pdu = proto.apiMessage.get_pdu(message)
        oids = [tuple(name) for name, _ in proto.apiPDU.get_varbinds(pdu)]
        kind = {
            proto.GetRequestPDU.tagSet: "get", proto.GetNextRequestPDU.tagSet: "get_next",
        }.get(pdu.tagSet)
        if kind is None and version != api.SNMP_VERSION_1 and pdu.tagSet == proto.GetBulkRequestPDU.tagSet:
            kind = "get_bulk"
        if kind is None:
            return None
        self.counts.by_kind[kind] = self.counts.by_kind.get(kind, 0) + 1
        v1 = version == api.SNMP_VERSION_1
        if kind == "get_bulk":
            if "drop_getbulk" in self.modes:
                return None
            if "no_getbulk" in self.modes:
                answer = Answer([(oid, rfc1902.Null("")) for oid in oids], GEN_ERR, 1)
            else:
                answer = self.bulk(oids, int(proto.apiBulkPDU.get_non_repeaters(pdu)),
                                   int(proto.apiBulkPDU.get_max_repetitions(pdu)))
        elif kind == "get":
            answer = self.get(oids, v1)
        else:
            answer = self.get_next(oids, v1)
        if "echo_root" in self.modes and kind != "get":
            answer = Answer([(oid, rfc1902.Integer32(1)) for oid in oids])
        if "wrong_oids" in self.modes and kind == "get":
            answer = Answer([(oid[:-1] + (oid[-1] + 1,), rfc1902.Integer32(1)) for oid in oids])
        request_id = int(proto.apiPDU.get_request_id(pdu))
        if "wrong_request_id" in self.modes:
            request_id = (request_id + 0x1234567) & 0x7FFFFFFF
        encoded = self.encode(proto, message, request_id, answer)
        limit_bytes = self.behaviour.limit_bytes
        too_large = len(answer.varbinds) > self.behaviour.limit or \
            bool(limit_bytes and len(encoded) > limit_bytes)
        if too_large and not answer.error_status:
            if "drop_big" in self.modes:
                return None
            if "too_big" in self.modes:
                answer = Answer([(oid, rfc1902.Null("")) for oid in oids], TOO_BIG, 0)
                return self.encode(proto, message, request_id, answer)
        return encoded

    @staticmethod
    def encode(proto: Any, message: Any, request_id: int, answer: Answer) -> bytes:
        response = proto.apiMessage.get_response(message)
        pdu = proto.apiMessage.get_pdu(response)
        proto.apiPDU.set_request_id(pdu, request_id)
        proto.apiPDU.set_error_status(pdu, answer.error_status)
        proto.apiPDU.set_error_index(pdu, answer.error_index)
        proto.apiPDU.set_varbinds(pdu, answer.varbinds)
        return bytes(encoder.encode(response))

    # -- the operations ----------------------------------------------------------------------

    def get(self, oids: list[OidT], v1: bool) -> Answer:
        out = []
        for i, oid in enumerate(oids):
            value = self.mib.value(oid)
            if value is None or (v1 and isinstance(value, rfc1902.Counter64)):
                if v1:
                    return Answer([(o, rfc1902.Null("")) for o in oids], NO_SUCH_NAME, i + 1)
                value = rfc1905.noSuchInstance
            out.append((oid, value))
        return Answer(out)

    def get_next(self, oids: list[OidT], v1: bool) -> Answer:
        out = []
        for i, oid in enumerate(oids):
            found = self.mib.next_of(oid)
            while v1 and found is not None and isinstance(self.mib.value(found), rfc1902.Counter64):
                found = self.mib.next_of(found)  # SNMPv1 cannot carry Counter64: skipped
            if found is None:
                if v1:
                    return Answer([(o, rfc1902.Null("")) for o in oids], NO_SUCH_NAME, i + 1)
                out.append((oid, rfc1905.endOfMibView))
            else:
                out.append((found, self.mib.value(found)))
        return Answer(out)

    def bulk(self, oids: list[OidT], non_repeaters: int, repetitions: int) -> Answer:
        non_repeaters = max(0, min(non_repeaters, len(oids)))
        out = self.get_next(oids[:non_repeaters], False).varbinds
        current = oids[non_repeaters:]
        for _ in range(max(0, repetitions)):
            if not current:
                break
            row = self.get_next(current, False).varbinds
            out.extend(row)
            current = [oid for oid, _ in row]
            if all(value is rfc1905.endOfMibView for _, value in row):
                break
        return Answer(out)


def _header(data: bytes, at: int) -> tuple[int, int]:
    """Where the content of the BER element at `at` starts, and where the element ends."""
    length, at = data[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        length, at = int.from_bytes(data[at : at + size], "big"), at + size
    return at, at + length


def _pdu_at(message: bytes) -> int:
    """The offset of the PDU in a v1/v2c message (after its version and community)."""
    at, _ = _header(message, 0)
    _, at = _header(message, at)
    _, at = _header(message, at)
    return at


def _request_id_at(message: bytes) -> int:
    return _header(message, _pdu_at(message))[0]


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def _with_request_id(message: bytes, request_id: int) -> bytes:
    """`message` (a v1/v2c response) with another request-id, the lengths around it redone."""
    body, _ = _header(message, 0)
    pdu_at = _pdu_at(message)
    _, id_end = _header(message, _request_id_at(message))
    pdu = bytes(encoder.encode(rfc1902.Integer32(request_id))) + message[id_end:]
    content = message[body:pdu_at] + message[pdu_at : pdu_at + 1] + _length(len(pdu)) + pdu
    return message[:1] + _length(len(content)) + content


# -- as a process -----------------------------------------------------------------------------------


def _parse_agent(text: str) -> tuple[int, frozenset[str]]:
    port, _, modes = text.partition("=")
    return int(port), frozenset((modes or "normal").split("+"))


async def _serve(specs: list[tuple[int, frozenset[str]]], args: argparse.Namespace) -> None:
    agents = []
    for port, modes in specs:
        behaviour = Behaviour(modes=modes, rows=args.rows, limit=args.limit,
                              limit_bytes=args.limit_bytes,
                              delay_s=args.delay, community=args.community)
        agents.append(await HostileAgent.start(behaviour, args.host, port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(" ".join(f"{a.port}={'+'.join(sorted(a.modes))}" for a in agents), flush=True)
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except TimeoutError:
        pass  # bounded: a forgotten agent ends by itself
    finally:
        for agent in agents:
            agent.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile_agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="serve one agent on this port (with --mode)")
    parser.add_argument("--mode", action="append", default=[], choices=sorted(MODES))
    parser.add_argument("--agent", action="append", default=[], metavar="PORT=MODE[+MODE]",
                        help="serve one more agent (repeatable)")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--limit", type=int, default=20, help="too_big, drop_big: varbinds")
    parser.add_argument("--limit-bytes", type=int, default=0, help="too_big, drop_big: bytes")
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--community", default=os.environ.get("HOSTILE_COMMUNITY", "public"))
    parser.add_argument("--lifetime", type=float, default=600.0, help="exit after this many s")
    args = parser.parse_args(argv)
    specs = [_parse_agent(text) for text in args.agent]
    if args.port is not None:
        specs.append((args.port, frozenset(args.mode or ["normal"])))
    if not specs:
        parser.error("give --port (and --mode) or --agent PORT=MODE")
    asyncio.run(_serve(specs, args))


if __name__ == "__main__":
    main()

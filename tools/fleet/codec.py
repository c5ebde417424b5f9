"""The fleet's own small BER codec: requests in, responses out.

Written apart from poller's codec (poller/snmp/ber.py) on purpose: the responder is judged
against snmpsim by net-snmp's tools (tests/integration/test_fleet_responder.py), and a shared
codec would let one mistake hide itself on both sides.
"""

from __future__ import annotations

GET, GET_NEXT, RESPONSE, GET_BULK = 0xA0, 0xA1, 0xA2, 0xA5
INTEGER, OCTETS, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IPADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
NO_SUCH_NAME = 2


class Malformed(ValueError):
    """Not a v1/v2c request this responder understands: dropped, as agents drop them."""


class Request:
    __slots__ = ("a", "b", "community", "names", "pdu", "request_id", "varbind_list", "version")

    def __init__(self, version: int, community: bytes, pdu: int, request_id: int, a: int, b: int,
                 names: list[bytes], varbind_list: bytes) -> None:
        self.version = version
        self.community = community
        self.pdu = pdu
        self.request_id = request_id
        #: error-status and error-index, or non-repeaters and max-repetitions for GETBULK
        self.a = a
        self.b = b
        #: the encoded content of each varbind's name (OID)
        self.names = names
        #: the varbind list's content as received (echoed in v1 error answers)
        self.varbind_list = varbind_list


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + length(len(content)) + content


def integer(value: int) -> bytes:
    size = (value + (value < 0)).bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def unsigned(tag: int, value: int) -> bytes:
    """Counter32/Gauge32/TimeTicks/Counter64: unsigned, with a leading zero byte when the top bit
    is set (so the value does not read as negative)."""
    return tlv(tag, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def oid_content(arcs: tuple[int, ...]) -> bytes:
    first = [arcs[0] * 40 + arcs[1], *arcs[2:]]
    out = bytearray()
    for arc in first:
        groups = [arc & 0x7F]
        arc >>= 7
        while arc:
            groups.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(groups))
    return bytes(out)


def oid_arcs(content: bytes) -> tuple[int, ...]:
    if not content or content[-1] & 0x80:
        raise Malformed("bad OID")
    arcs = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def _read(data: bytes, at: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at `at`."""
    if at + 2 > end:
        raise Malformed("truncated")
    tag, first = data[at], data[at + 1]
    at += 2
    if first & 0x80:
        count = first & 0x7F
        if not 0 < count <= 4 or at + count > end:
            raise Malformed("bad length")
        size = int.from_bytes(data[at:at + count], "big")
        at += count
    else:
        size = first
    if at + size > end:
        raise Malformed("truncated")
    return tag, at, at + size


def _int(data: bytes, at: int, end: int) -> tuple[int, int]:
    tag, start, stop = _read(data, at, end)
    if tag != INTEGER or not 0 < stop - start <= 5:
        raise Malformed("expected a small INTEGER")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def decode_request(data: bytes) -> Request:
    tag, start, end = _read(data, 0, len(data))
    if tag != SEQUENCE:
        raise Malformed("not a message")
    version, at = _int(data, start, end)
    tag, c_start, at = _read(data, at, end)
    if tag != OCTETS:
        raise Malformed("no community")
    community = data[c_start:at]
    pdu, at, pdu_end = _read(data, at, end)
    request_id, at = _int(data, at, pdu_end)
    a, at = _int(data, at, pdu_end)
    b, at = _int(data, at, pdu_end)
    tag, at, list_end = _read(data, at, pdu_end)
    if tag != SEQUENCE:
        raise Malformed("no varbind list")
    varbind_list = data[at:list_end]
    names = []
    while at < list_end:
        tag, vb_start, vb_end = _read(data, at, list_end)
        tag, o_start, o_end = _read(data, vb_start, vb_end)
        if tag != OID:
            raise Malformed("varbind without a name")
        names.append(data[o_start:o_end])
        at = vb_end
    return Request(version, community, pdu, request_id, a, b, names, varbind_list)


def response(request: Request, varbind_list: bytes, error_status: int = 0,
             error_index: int = 0) -> bytes:
    pdu = (integer(request.request_id) + integer(error_status) + integer(error_index)
           + tlv(SEQUENCE, varbind_list))
    body = integer(request.version) + tlv(OCTETS, request.community) + tlv(RESPONSE, pdu)
    return tlv(SEQUENCE, body)

"""A purpose-built BER codec for SNMP v1/v2c messages: requests out, responses in.

Only what a poller needs: GetRequest, GetNextRequest and GetBulkRequest to encode, and Response
(or Report) PDUs to decode into VarBind tuples. Checked against pyasn1/pysnmp by property tests;
anything malformed raises SnmpDecodeError, never IndexError or a wrong value.
"""

from __future__ import annotations

from collections.abc import Callable

from poller.errors import SnmpDecodeError
from poller.oid import Oid
from poller.snmp.types import Kind, VarBind

GET, GET_NEXT, RESPONSE, GET_BULK, REPORT = 0xA0, 0xA1, 0xA2, 0xA5, 0xA8
VERSION_1, VERSION_2C, VERSION_3 = 0, 1, 3

_INTEGER, _OCTETS, _NULL, _OID, _SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30

#: value tag -> (Kind, how to read the content)
_SIGNED, _UNSIGNED, _BYTES, _OBJECT, _EMPTY = range(5)
#: (in `_HEADS` only) an integer type whose length the head does not vouch for: `_value` reads it
_CHECKED = 5
_VALUE_TAGS: dict[int, tuple[Kind, int]] = {
    0x02: (Kind.INTEGER, _SIGNED),
    0x04: (Kind.OCTETS, _BYTES),
    0x05: (Kind.NULL, _EMPTY),
    0x06: (Kind.OID, _OBJECT),
    0x40: (Kind.IPADDRESS, _BYTES),
    0x41: (Kind.COUNTER32, _UNSIGNED),
    0x42: (Kind.GAUGE32, _UNSIGNED),
    0x43: (Kind.TIMETICKS, _UNSIGNED),
    0x44: (Kind.OPAQUE, _BYTES),
    0x46: (Kind.COUNTER64, _UNSIGNED),
    0x47: (Kind.GAUGE32, _UNSIGNED),  # UInteger32 (RFC 1442), read as a gauge
    0x80: (Kind.NO_SUCH_OBJECT, _EMPTY),
    0x81: (Kind.NO_SUCH_INSTANCE, _EMPTY),
    0x82: (Kind.END_OF_MIB, _EMPTY),
}

ERROR_STATUS_NAMES = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
    "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
    "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
    "authorizationError", "notWritable", "inconsistentName",
)


# -- encoding -------------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def encode_integer(value: int) -> bytes:
    size = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return _tlv(_INTEGER, value.to_bytes(size, "big", signed=True))


def encode_oid(oid: tuple[int, ...]) -> bytes:
    """The OID as a BER TLV; also the name of a varbind."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise ValueError(f"cannot encode OID {'.'.join(map(str, oid))}")
    arcs = [oid[0] * 40 + oid[1], *oid[2:]]
    out = bytearray()
    for arc in arcs:
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = []
        while arc:
            chunk.append(arc & 0x7F)
            arc >>= 7
        out.extend(b | 0x80 for b in reversed(chunk[1:]))
        out.append(chunk[0])
    return _tlv(_OID, bytes(out))


_NULL_TLV = b"\x05\x00"


def null_varbind(oid: bytes) -> bytes:
    """One varbind of a request: the OID (encoded by `encode_oid`) with a NULL value."""
    return _tlv(_SEQUENCE, oid + _NULL_TLV)


def varbind_list(varbinds: list[bytes]) -> bytes:
    """The varbind list of a request, from varbinds encoded by `null_varbind`."""
    return _tlv(_SEQUENCE, b"".join(varbinds))


def encode_request(
    version: int, community: bytes, pdu: int, request_id: int, a: int, b: int, varbinds: bytes
) -> bytes:
    """A whole message. For GET/GETNEXT `a`, `b` are error-status and error-index (0, 0); for
    GETBULK they are non-repeaters and max-repetitions. `varbinds` from `varbind_list`."""
    body = encode_integer(request_id) + encode_integer(a) + encode_integer(b) + varbinds
    message = encode_integer(version) + _tlv(_OCTETS, community) + _tlv(pdu, body)
    return _tlv(_SEQUENCE, message)


# -- decoding -------------------------------------------------------------------------------------


class Response:
    __slots__ = ("community", "error_index", "error_status", "pdu", "request_id", "varbinds", "version")

    def __init__(self, version: int, community: bytes, pdu: int, request_id: int,
                 error_status: int, error_index: int, varbinds: list[VarBind]) -> None:
        self.version = version
        self.community = community
        self.pdu = pdu
        self.request_id = request_id
        self.error_status = error_status
        self.error_index = error_index
        self.varbinds = varbinds

    @property
    def error_name(self) -> str:
        if 0 <= self.error_status < len(ERROR_STATUS_NAMES):
            return ERROR_STATUS_NAMES[self.error_status]
        return f"error-status {self.error_status}"


def _header(data: bytes, at: int, end: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the TLV at `at`, within `end`."""
    if at + 2 > end:
        raise SnmpDecodeError("truncated message")
    tag = data[at]
    first = data[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or at + count > end:
            raise SnmpDecodeError("bad length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > end:
        raise SnmpDecodeError("truncated message")
    return tag, at, at + length


def _expect(data: bytes, at: int, end: int, tag: int) -> tuple[int, int]:
    found, start, stop = _header(data, at, end)
    if found != tag:
        raise SnmpDecodeError(f"expected tag 0x{tag:02x}, found 0x{found:02x}")
    return start, stop


def _integer(data: bytes, at: int, end: int) -> tuple[int, int]:
    start, stop = _expect(data, at, end, _INTEGER)
    if stop == start or stop - start > 9:
        raise SnmpDecodeError("bad INTEGER length")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


#: decoded OIDs by their encoding: a fleet reads the same table OIDs on every poll of every
#: device, so most OIDs decode once; bounded, and cleared when full
_OID_CACHE: dict[bytes, Oid] = {}
OID_CACHE_MAX = 200_000


def decode_oid(content: bytes) -> Oid:
    oid = _OID_CACHE.get(content)
    if oid is None:
        oid = _decode_oid(content)
        if len(_OID_CACHE) >= OID_CACHE_MAX:
            _OID_CACHE.clear()
        _OID_CACHE[content] = oid
    return oid


def _decode_oid(content: bytes) -> Oid:
    if not content:
        raise SnmpDecodeError("empty OID")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if content[-1] & 0x80:
        raise SnmpDecodeError("truncated OID")
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return Oid((*head, *arcs[1:]))


def decode_response(data: bytes) -> Response:
    """Decode a v1/v2c message carrying a Response or Report PDU."""
    end = len(data)
    start, stop = _expect(data, 0, end, _SEQUENCE)
    if stop != end:
        raise SnmpDecodeError("trailing bytes after the message")
    version, at = _integer(data, start, stop)
    c_start, at = _expect(data, at, stop, _OCTETS)
    community = data[c_start:at]
    return decode_pdu(data, at, stop, version, community)


def decode_pdu(data: bytes, at: int, end: int, version: int, community: bytes) -> Response:
    """The Response or Report PDU at `at`, which must end at `end` (also the scoped PDU of an
    SNMPv3 message, whose contextName stands in `community`)."""
    pdu, at, pdu_end = _header(data, at, end)
    if pdu not in (RESPONSE, REPORT):
        raise SnmpDecodeError(f"not a response PDU (tag 0x{pdu:02x})")
    if pdu_end != end:
        raise SnmpDecodeError("trailing bytes after the PDU")
    request_id, at = _integer(data, at, pdu_end)
    status, at = _integer(data, at, pdu_end)
    index, at = _integer(data, at, pdu_end)
    at, list_end = _expect(data, at, pdu_end, _SEQUENCE)
    return Response(version, community, pdu, request_id, status, index,
                    _varbinds(data, at, list_end))


def _varbinds(data: bytes, at: int, list_end: int) -> list[VarBind]:
    """The varbinds between `at` and `list_end`.

    Almost every varbind of a poll is short (lengths below 128, in one byte) and of a known
    type, and its first bytes (SEQUENCE header, OID, value tag and length) repeat on every poll
    of every device: those are checked once, then found in `_HEADS` and read without a call per
    TLV. Anything else (long lengths, odd types, malformed bytes) goes through `_varbind`,
    which also says what is wrong."""
    varbinds: list[VarBind] = []
    append = varbinds.append
    heads = _HEADS
    new = tuple.__new__
    while at < list_end:
        head = data[at : at + 6 + data[at + 3]] if at + 3 < list_end else b""
        entry = heads.get(head)
        if entry is None:
            entry = _head(data, at, list_end)
            if entry is None:
                at = _varbind(data, at, list_end, append)
                continue
        oid, kind, read, v_start, vb_end = entry
        v_start += at
        vb_end += at
        if vb_end > list_end:
            at = _varbind(data, at, list_end, append)  # says how it is truncated
            continue
        if read == _UNSIGNED:  # of 1 to 8 bytes: the head fixes the length
            if data[v_start] < 0x80:
                value: int | bytes | Oid | None = int.from_bytes(data[v_start:vb_end], "big")
            else:
                value = _value(data[v_start - 2], data[v_start:vb_end])[1]
        elif read == _SIGNED:  # of 1 to 9 bytes
            value = int.from_bytes(data[v_start:vb_end], "big", signed=True)
        elif read == _BYTES:
            value = data[v_start:vb_end]
        else:  # an integer of a length `_value` checks (and refuses)
            value = _value(data[v_start - 2], data[v_start:vb_end])[1]
        append(new(VarBind, (oid, kind, value)))
        at = vb_end
    return varbinds


#: value tags read inline by `_varbinds`: the integer types and OCTET STRING (not IpAddress,
#: whose length is checked)
_FAST_TAGS = {tag: entry for tag, entry in _VALUE_TAGS.items()
              if entry[1] in (_SIGNED, _UNSIGNED) or tag == _OCTETS}

#: varbind heads already checked: their bytes -> (OID, kind, how to read the value, where the
#: value starts and the varbind ends, from the start of the varbind); the head holds the value's
#: length byte, so an entry's read mode also says that the length suits it; bounded, cleared
#: when full
_HEADS: dict[bytes, tuple[Oid, Kind, int, int, int]] = {}
HEADS_MAX = 200_000


def _head(data: bytes, at: int, list_end: int) -> tuple[Oid, Kind, int, int, int] | None:
    """Check the head of the varbind at `at` for `_varbinds` and remember it; None when it is
    not of the short kind (or not well-formed)."""
    if not (
        at + 4 <= list_end
        and data[at] == _SEQUENCE
        and data[at + 2] == _OID
        and data[at + 1] < 0x80
        and data[at + 3] < 0x80
    ):
        return None
    vb_end = at + 2 + data[at + 1]
    o_end = at + 4 + data[at + 3]
    if not (vb_end <= list_end and o_end + 2 <= vb_end and o_end + 2 + data[o_end + 1] == vb_end):
        return None
    fast = _FAST_TAGS.get(data[o_end])
    if fast is None:
        return None
    kind, read = fast
    length = data[o_end + 1]
    if read == _UNSIGNED and not 0 < length < 9 or read == _SIGNED and not 0 < length < 10:
        read = _CHECKED  # an unsigned of 9 bytes (or a bad length) is read the long way
    entry = (decode_oid(data[at + 4 : o_end]), kind, read, o_end + 2 - at, vb_end - at)
    if len(_HEADS) >= HEADS_MAX:
        _HEADS.clear()
    _HEADS[data[at : o_end + 2]] = entry
    return entry


def _varbind(data: bytes, at: int, list_end: int, append: Callable[[VarBind], None]) -> int:
    """Read the varbind at `at` the long way; returns where the next one starts."""
    vb_start, vb_end = _expect(data, at, list_end, _SEQUENCE)
    o_start, o_end = _expect(data, vb_start, vb_end, _OID)
    oid = decode_oid(data[o_start:o_end])
    tag, v_start, v_end = _header(data, o_end, vb_end)
    if v_end != vb_end:
        raise SnmpDecodeError("trailing bytes in a varbind")
    append(VarBind(oid, *_value(tag, data[v_start:v_end])))
    return vb_end


def _value(tag: int, content: bytes) -> tuple[Kind, int | bytes | Oid | None]:
    entry = _VALUE_TAGS.get(tag)
    if entry is None:
        raise SnmpDecodeError(f"unknown value type 0x{tag:02x}")
    kind, read = entry
    if read == _UNSIGNED:
        if not content or len(content) > 9 or (len(content) == 9 and content[0] != 0):
            raise SnmpDecodeError(f"bad {kind} length")
        if content[0] & 0x80:
            # a negative encoding of an unsigned type: agents that do this mean the
            # two's-complement value within the type's width
            width = 64 if kind is Kind.COUNTER64 else 32
            return kind, int.from_bytes(content, "big", signed=True) % (1 << width)
        return kind, int.from_bytes(content, "big")
    if read == _SIGNED:
        if not content or len(content) > 9:
            raise SnmpDecodeError("bad INTEGER length")
        return kind, int.from_bytes(content, "big", signed=True)
    if read == _BYTES:
        if kind is Kind.IPADDRESS and len(content) != 4:
            raise SnmpDecodeError("IpAddress is not 4 bytes")
        return kind, content
    if read == _OBJECT:
        return kind, decode_oid(content)
    if content:
        raise SnmpDecodeError(f"{kind} with content")
    return kind, None


def peek_request_id(data: bytes) -> int | None:
    """The request-id of a message (an SNMPv3 message's msgID), or None when it is not a
    well-formed SNMP message."""
    try:
        start, stop = _expect(data, 0, len(data), _SEQUENCE)
        version, at = _integer(data, start, stop)
        if version == VERSION_3:  # msgGlobalData's msgID, which poller sets to the request-id
            at, _ = _expect(data, at, stop, _SEQUENCE)
            return _integer(data, at, stop)[0]
        _, at = _expect(data, at, stop, _OCTETS)
        _, at, pdu_end = _header(data, at, stop)
        return _integer(data, at, pdu_end)[0]
    except SnmpDecodeError:
        return None

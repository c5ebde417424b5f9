"""The built-in BER codec against pyasn1/pysnmp: responses pysnmp encodes decode to the same
varbinds; requests it encodes, pysnmp decodes to the same request; malformed input is a clean
SnmpDecodeError."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v1, v2c

from poller.errors import SnmpDecodeError
from poller.oid import Oid
from poller.snmp import ber
from poller.snmp.types import Kind, VarBind

U32, U64 = 2**32 - 1, 2**64 - 1

arcs = st.integers(0, U32)
oids = st.builds(
    lambda first, second, rest: (first, second if first == 2 else second % 40, *rest),
    st.integers(0, 2), st.integers(0, 1000), st.lists(arcs, min_size=0, max_size=16),
)
edge_unsigned = st.one_of(st.integers(0, U32), st.sampled_from([0, 127, 128, 255, 256, 2**31, U32]))
edge_counter64 = st.one_of(st.integers(0, U64), st.sampled_from([0, 2**63, U64 - 1, U64, 2**32]))
octets = st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"a" * 127, b"b" * 128, b"c" * 60000]))

#: (pysnmp value, the VarBind kind and value poller must read)
values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda v: (v2c.Integer(v), Kind.INTEGER, v)),
    octets.map(lambda v: (v2c.OctetString(v), Kind.OCTETS, v)),
    st.binary(min_size=4, max_size=4).map(lambda v: (v2c.IpAddress(v), Kind.IPADDRESS, v)),
    oids.map(lambda v: (v2c.ObjectIdentifier(v), Kind.OID, Oid(v))),
    edge_unsigned.map(lambda v: (v2c.Counter32(v), Kind.COUNTER32, v)),
    edge_unsigned.map(lambda v: (v2c.Gauge32(v), Kind.GAUGE32, v)),
    edge_unsigned.map(lambda v: (v2c.TimeTicks(v), Kind.TIMETICKS, v)),
    edge_counter64.map(lambda v: (v2c.Counter64(v), Kind.COUNTER64, v)),
    st.binary(max_size=40).map(lambda v: (v2c.Opaque(v), Kind.OPAQUE, v)),
    st.just((v2c.Null(""), Kind.NULL, None)),
    st.just((rfc1905.noSuchObject, Kind.NO_SUCH_OBJECT, None)),
    st.just((rfc1905.noSuchInstance, Kind.NO_SUCH_INSTANCE, None)),
    st.just((rfc1905.endOfMibView, Kind.END_OF_MIB, None)),
)


def pysnmp_response(request_id: int, status: int, index: int, varbinds: list[tuple[Any, Any]],
                    community: bytes = b"public", api: Any = v2c) -> bytes:
    pdu = api.GetResponsePDU()
    api.apiPDU.set_defaults(pdu)
    api.apiPDU.set_request_id(pdu, request_id)
    api.apiPDU.set_error_status(pdu, status)
    api.apiPDU.set_error_index(pdu, index)
    api.apiPDU.set_varbinds(pdu, varbinds)
    message = api.Message()
    api.apiMessage.set_defaults(message)
    api.apiMessage.set_community(message, community)
    api.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


@settings(max_examples=300, deadline=None)
@given(
    request_id=st.integers(-(2**31), 2**31 - 1),
    status=st.integers(0, 18),
    index=st.integers(0, 100),
    community=st.binary(max_size=40),
    varbinds=st.lists(st.tuples(oids, values), max_size=30),
)
def test_responses_pysnmp_encodes_decode_to_the_same_varbinds(
    request_id: int, status: int, index: int, community: bytes, varbinds: list[Any]
) -> None:
    data = pysnmp_response(request_id, status, index, [(o, v[0]) for o, v in varbinds], community)
    response = ber.decode_response(data)
    assert (response.version, response.community, response.pdu) == (1, community, ber.RESPONSE)
    assert (response.request_id, response.error_status, response.error_index) == (request_id, status, index)
    assert response.varbinds == [VarBind(Oid(o), kind, value) for o, (_, kind, value) in varbinds]


def test_a_v1_response_decodes() -> None:
    data = pysnmp_response(7, 2, 1, [((1, 3, 6, 1, 2, 1, 1, 3, 0), v1.TimeTicks(5))], api=v1)
    response = ber.decode_response(data)
    assert (response.version, response.error_name, response.error_index) == (0, "noSuchName", 1)
    assert response.varbinds == [VarBind(Oid.parse("1.3.6.1.2.1.1.3.0"), Kind.TIMETICKS, 5)]


@settings(max_examples=200, deadline=None)
@given(
    pdu=st.sampled_from([ber.GET, ber.GET_NEXT, ber.GET_BULK]),
    version=st.sampled_from([ber.VERSION_1, ber.VERSION_2C]),
    request_id=st.integers(0, 2**31 - 1),
    repetitions=st.integers(0, 1000),
    community=st.binary(max_size=300),
    names=st.lists(oids, min_size=1, max_size=40),
)
def test_requests_decode_in_pysnmp_as_sent(
    pdu: int, version: int, request_id: int, repetitions: int, community: bytes, names: list[tuple[int, ...]]
) -> None:
    a, b = (3, repetitions) if pdu == ber.GET_BULK else (0, 0)
    data = ber.encode_request(version, community, pdu, request_id, a, b,
                              ber.varbind_list([ber.null_varbind(ber.encode_oid(o)) for o in names]))
    message, rest = decoder.decode(data, asn1Spec=v2c.Message())
    assert rest == b""
    assert int(message["version"]) == version and bytes(message["community"]) == community
    decoded = message["data"].getComponent()
    assert decoded.tagSet[0][2] == pdu & 0x1F
    assert int(decoded["request-id"]) == request_id
    if pdu == ber.GET_BULK:
        assert (int(decoded["non-repeaters"]), int(decoded["max-repetitions"])) == (3, repetitions)
    got = [tuple(vb["name"]) for vb in decoded["variable-bindings"]]
    assert got == names


VALID = pysnmp_response(42, 0, 0, [((1, 3, 6, 1, 2, 1, 1, 5, 0), v2c.OctetString(b"sw1")),
                                   ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 3), v2c.Counter64(U64))])


@pytest.mark.parametrize("cut", range(1, len(VALID)))
def test_every_truncation_is_a_clean_error(cut: int) -> None:
    with pytest.raises(SnmpDecodeError):
        ber.decode_response(VALID[:cut])


@settings(max_examples=500, deadline=None)
@given(position=st.integers(0, len(VALID) - 1), byte=st.integers(0, 255))
def test_corrupt_bytes_never_escape_as_other_errors(position: int, byte: int) -> None:
    data = bytearray(VALID)
    data[position] = byte
    try:
        ber.decode_response(bytes(data))
    except SnmpDecodeError:
        pass


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "truncated"),
        (b"\x30\x85\x00\x00\x00\x00\x00", "bad length"),
        (VALID + b"\x00", "trailing bytes"),
        (bytes.fromhex("3011020101040170a009020100020100020100" "3000"), "trailing bytes"),
    ],
)
def test_malformed_messages_say_what_is_wrong(data: bytes, problem: str) -> None:
    with pytest.raises(SnmpDecodeError, match=problem):
        ber.decode_response(data)


def test_a_request_pdu_is_not_taken_for_a_response() -> None:
    request = ber.encode_request(1, b"public", ber.GET, 1, 0, 0, ber.varbind_list([ber.null_varbind(ber.encode_oid((1, 3)))]))
    with pytest.raises(SnmpDecodeError, match="not a response"):
        ber.decode_response(request)
    assert ber.peek_request_id(request) == 1
    assert ber.peek_request_id(b"garbage") is None


def test_unsigned_values_sent_as_negative_wrap_into_their_width() -> None:
    # some agents send Counter32 4294967295 as 4 bytes FF FF FF FF, without the leading 00
    vb = bytes.fromhex("300d0608" "2b06010201020201" "4101ff")
    body = bytes.fromhex("020101" "020100" "020100") + bytes((0x30, len(vb))) + vb
    pdu = bytes((0xA2, len(body))) + body
    msg = bytes.fromhex("020101" "0406") + b"public" + pdu
    response = ber.decode_response(bytes((0x30, len(msg))) + msg)
    assert response.varbinds[0].value == U32


def _response_with_value(tag: int, content: bytes) -> bytes:
    oid = bytes.fromhex("0608" "2b06010201020201")
    vb = bytes((0x30, len(oid) + 2 + len(content))) + oid + bytes((tag, len(content))) + content
    body = bytes.fromhex("020101" "020100" "020100") + bytes((0x30, len(vb))) + vb
    pdu = bytes((0xA2, len(body))) + body
    msg = bytes.fromhex("020101" "0406") + b"public" + pdu
    return bytes((0x30, len(msg))) + msg


@pytest.mark.parametrize("tag, content, problem", [
    (0x02, b"", "bad INTEGER length"),
    (0x02, b"\x01" * 10, "bad INTEGER length"),
    (0x41, b"", "bad counter32 length"),
    (0x46, b"\x01" * 9, "bad counter64 length"),
    (0x46, b"\x01" * 10, "bad counter64 length"),
])
def test_integers_of_a_bad_length_are_refused_each_time(tag: int, content: bytes, problem: str) -> None:
    data = _response_with_value(tag, content)
    for _ in range(2):  # the second time, the varbind's head is a known one
        with pytest.raises(SnmpDecodeError, match=problem):
            ber.decode_response(data)


@pytest.mark.parametrize("tag, content, value", [
    (0x02, b"\xff" * 9, -1),
    (0x02, b"\x00" + b"\xff" * 8, 2**64 - 1),
    (0x46, b"\x00" + b"\xff" * 8, 2**64 - 1),
    (0x46, b"\x80" + b"\x00" * 7, 2**63),
    (0x41, b"\x01", 1),
])
def test_integers_of_every_good_length_read_the_same_each_time(tag: int, content: bytes, value: int) -> None:
    data = _response_with_value(tag, content)
    assert [ber.decode_response(data).varbinds[0].value for _ in range(2)] == [value, value]

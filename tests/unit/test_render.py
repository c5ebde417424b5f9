"""How varbinds read: in records, in `--json`, and in net-snmp style lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.octets import text_of
from poller.oid import Oid
from poller.snmp.render import json_value, netsnmp_line, record_value, ticks_text
from poller.snmp.types import Kind, VarBind

O = Oid.parse("1.3.6.1.2.1.1.1.0")


@pytest.mark.parametrize(
    "kind, value, hint, expected",
    [
        (Kind.COUNTER64, 2**64 - 1, None, 2**64 - 1),
        (Kind.INTEGER, -5, None, -5),
        (Kind.OCTETS, b"Gi0/1", "text", "Gi0/1"),
        (Kind.OCTETS, b"core\x00", None, "core"),
        (Kind.OCTETS, b"\x00\x1a\x2b\x3c\x4d\x5e", "mac", "00:1a:2b:3c:4d:5e"),
        (Kind.OCTETS, b"ABCDEF", "mac", "41:42:43:44:45:46"),  # printable bytes, still a MAC
        (Kind.OCTETS, b"\xff\x01", None, "ff:01"),
        (Kind.OCTETS, "naïve".encode(), None, "naïve"),
        (Kind.IPADDRESS, bytes([10, 0, 0, 1]), None, "10.0.0.1"),
        (Kind.OID, Oid.parse("1.3.6.1.4.1.9"), None, "1.3.6.1.4.1.9"),
        (Kind.NO_SUCH_INSTANCE, None, None, None),
    ],
)
def test_record_values(kind: Kind, value: object, hint: str | None, expected: object) -> None:
    assert record_value(VarBind(O, kind, value), hint) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        (Kind.TIMETICKS, 16052379, {"type": "TimeTicks", "value": 16052379}),
        (Kind.OCTETS, b"sw1", {"type": "OctetString", "hex": "737731", "value": "sw1"}),
        (Kind.OCTETS, b"\x00\x1a", {"type": "OctetString", "hex": "001a"}),
        (Kind.IPADDRESS, bytes([192, 0, 2, 1]), {"type": "IpAddress", "value": "192.0.2.1"}),
        (Kind.COUNTER32, 7, {"type": "Counter32", "value": 7}),
        (Kind.END_OF_MIB, None, {"type": "endOfMibView", "value": None}),
    ],
)
def test_json_values(kind: Kind, value: object, expected: dict[str, object]) -> None:
    assert json_value(VarBind(O, kind, value)) == {"oid": "1.3.6.1.2.1.1.1.0", **expected}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kind, value, expected",
    [
        (Kind.TIMETICKS, 16052379, "Timeticks: (16052379) 1 day, 20:35:23.79"),
        (Kind.OCTETS, b"core-sw1", 'STRING: "core-sw1"'),
        (Kind.OCTETS, b"\x00\x1a\x2b", "Hex-STRING: 00 1A 2B "),
        (Kind.OCTETS, b"", '""'),
        (Kind.OID, Oid.parse("1.3.6.1.4.1.9.1.516"), "OID: .1.3.6.1.4.1.9.1.516"),
        (Kind.GAUGE32, 1000, "Gauge32: 1000"),
        (Kind.NO_SUCH_OBJECT, None, "No Such Object available on this agent at this OID"),
    ],
)
def test_netsnmp_lines(kind: Kind, value: object, expected: str) -> None:
    assert netsnmp_line(VarBind(O, kind, value)) == f".1.3.6.1.2.1.1.1.0 = {expected}"  # type: ignore[arg-type]


def test_ticks_text() -> None:
    assert ticks_text(0) == "0:00:00.00"
    assert ticks_text(8_640_000 * 2 + 99) == "2 days, 0:00:00.99"


def _text_by_the_definition(data: bytes) -> str | None:
    """text_of as its docstring defines it, byte by byte and character by character."""
    if data.endswith(b"\x00"):
        data = data[:-1]
    if any(b < 0x20 and b not in b"\t\n\r" for b in data) or b"\x7f" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in "\t\n\r" for c in text) else None


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20).map(str.encode),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=20).map(str.encode),
))
def test_text_of_keeps_to_its_definition(data: bytes) -> None:
    assert text_of(data) == _text_by_the_definition(data)

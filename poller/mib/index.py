"""Decode a table row's index (the OID part after the column) into the named fields of its INDEX
clause: integers, IpAddress, InetAddressType + InetAddress pairs, strings with a length prefix,
an IMPLIED last string, fixed-size strings (MacAddress) and OIDs (RFC 2578 section 7.7)."""

from __future__ import annotations

import ipaddress
from typing import Any

from poller.mib.names import MAC_CONVENTIONS, IndexPart
from poller.octets import mac, text_of

_INTEGERS = frozenset({"Integer32", "Integer", "Unsigned32", "Gauge32", "TimeTicks",
                       "Counter32"})
_STRINGS = frozenset({"OctetString", "Bits", "Opaque"})
#: InetAddressType values (RFC 4001) whose InetAddress renders as an IP address
_INET_TYPES = {1: 4, 2: 16, 3: 8, 4: 20}  # ipv4, ipv6, ipv4z, ipv6z: address octets


def decode(index: tuple[int, ...], parts: tuple[IndexPart, ...]) -> dict[str, Any] | None:
    """{index object name: value} for the row, or None when the arcs do not fit the clause
    (an agent that indexes a table its own way): then the record keeps only the raw `index`."""
    fields: dict[str, Any] = {}
    at = 0
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        taken = _take(index, at, part, last)
        if taken is None:
            return None
        arcs, at = taken
        value = _value(arcs, part, fields)
        if value is None:
            return None
        fields[part.name] = value
    return fields if at == len(index) else None


def _take(index: tuple[int, ...], at: int, part: IndexPart, last: bool) \
        -> tuple[tuple[int, ...], int] | None:
    """The arcs of one index object and where the next one starts."""
    syntax = part.syntax
    if syntax in _INTEGERS:
        width = 1
    elif syntax == "IpAddress":
        width = 4
    elif syntax in _STRINGS and part.size:
        width = part.size
    elif syntax in _STRINGS or syntax == "ObjectIdentifier":
        if part.implied and last:
            width = len(index) - at
        else:
            if at >= len(index):
                return None
            width, at = index[at], at + 1
    else:
        return None
    if at + width > len(index):
        return None
    return tuple(index[at:at + width]), at + width


def _value(arcs: tuple[int, ...], part: IndexPart, before: dict[str, Any]) -> Any:
    syntax = part.syntax
    if syntax in _INTEGERS:
        return arcs[0]
    if syntax == "ObjectIdentifier":
        return ".".join(map(str, arcs))
    if any(a > 255 for a in arcs):
        return None
    if syntax == "IpAddress":
        return ".".join(map(str, arcs))
    data = bytes(arcs)
    if part.convention in MAC_CONVENTIONS:
        return mac(data)
    if part.convention == "InetAddress":
        address = _inet(data, before)
        if address is not None:
            return address
    text = text_of(data) if data else ""
    return text if text is not None else mac(data)


def _inet(data: bytes, before: dict[str, Any]) -> str | None:
    """An InetAddress after its InetAddressType (the index field just before it)."""
    kind = list(before.values())[-1] if before else None
    if not isinstance(kind, int) or _INET_TYPES.get(kind) != len(data):
        return None
    if kind in (1, 3):
        address = str(ipaddress.IPv4Address(data[:4]))
    else:
        address = str(ipaddress.IPv6Address(data[:16]))
    if kind in (3, 4):
        address += "%" + str(int.from_bytes(data[-4:], "big"))
    return address

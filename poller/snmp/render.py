"""Varbinds as operators read them: record values, `--json` objects and net-snmp style lines."""

from __future__ import annotations

from typing import Any

from poller.octets import mac, text_of
from poller.oid import Oid
from poller.snmp.types import ABSENT_KINDS, NETSNMP_TYPE_NAMES, SMI_TYPE_NAMES, Kind, VarBind

_IPADDRESS = Kind.IPADDRESS


def record_value(vb: VarBind, hint: str | None = None) -> Any:
    """The JSON value of a varbind in data records. Integers stay exact (Counter64 too), IP
    addresses dotted, OIDs dotted, MAC addresses aa:bb:cc:dd:ee:ff, text as text, other bytes as
    colon-separated hex, absent objects None."""
    return value_of(vb.kind, vb.value, hint)


def value_of(kind: Kind, value: Any, hint: str | None = None) -> Any:
    """`record_value` of a varbind's kind and value."""
    if value.__class__ is int:  # no absent kind carries a value
        return value
    if value is None or kind in ABSENT_KINDS:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Oid):
        return str(value)
    if kind is _IPADDRESS:
        return ".".join(map(str, value))
    if hint == "mac":
        return mac(value)
    text = text_of(value)
    if text is not None and hint != "hex":
        return text
    return mac(value)


def json_value(vb: VarBind) -> dict[str, Any]:
    """One `--json` object: {"oid", "type", "value"} (OctetString: exact bytes as "hex", plus
    "value" when they are printable text)."""
    out: dict[str, Any] = {"oid": str(vb.oid), "type": SMI_TYPE_NAMES[vb.kind]}
    value = vb.value
    if vb.kind in (Kind.OCTETS, Kind.OPAQUE) and isinstance(value, bytes):
        out["hex"] = value.hex()
        text = text_of(value)
        if text is not None:
            out["value"] = text
    elif vb.kind is Kind.IPADDRESS and isinstance(value, bytes):
        out["value"] = ".".join(map(str, value))
    elif isinstance(value, Oid):
        out["value"] = str(value)
    else:
        out["value"] = value
    return out


def netsnmp_line(vb: VarBind) -> str:
    """The line `snmpget -On` / `snmpbulkwalk -On` prints for this varbind."""
    return f".{vb.oid} = {_netsnmp_value(vb)}"


_ABSENT_TEXT = {
    Kind.NO_SUCH_OBJECT: "No Such Object available on this agent at this OID",
    Kind.NO_SUCH_INSTANCE: "No Such Instance currently exists at this OID",
    Kind.END_OF_MIB: "No more variables left in this MIB View (It is past the end of the MIB tree)",
}


def _netsnmp_value(vb: VarBind) -> str:
    kind, value = vb.kind, vb.value
    if kind in _ABSENT_TEXT:
        return _ABSENT_TEXT[kind]
    if kind is Kind.NULL or value is None:
        return "NULL"
    name = NETSNMP_TYPE_NAMES[kind]
    if kind is Kind.TIMETICKS and isinstance(value, int):
        return f"{name}: ({value}) {ticks_text(value)}"
    if isinstance(value, Oid):
        return f"{name}: .{value}"
    if kind is Kind.IPADDRESS and isinstance(value, bytes):
        return f"{name}: {'.'.join(map(str, value))}"
    if isinstance(value, bytes):
        text = text_of(value) if kind is Kind.OCTETS else None
        if text is not None:
            return f'{name}: "{text}"' if value else '""'
        return "Hex-STRING: " + "".join(f"{b:02X} " for b in value)
    return f"{name}: {value}"


def ticks_text(ticks: int) -> str:
    """TimeTicks as net-snmp shows them: '1 day, 20:35:23.79'."""
    days, rest = divmod(ticks, 8_640_000)
    hours, rest = divmod(rest, 360_000)
    minutes, rest = divmod(rest, 6_000)
    seconds, hundredths = divmod(rest, 100)
    clock = f"{hours}:{minutes:02d}:{seconds:02d}.{hundredths:02d}"
    if days:
        return f"{days} day{'s' if days != 1 else ''}, {clock}"
    return clock

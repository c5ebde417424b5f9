"""Symbolic names of the standard objects, offline: name <-> numeric OID, resolved at config load.

A small generated-by-hand table of what operators poll daily (SNMPv2-MIB system group, IF-MIB,
HOST-RESOURCES-MIB storage and processors, IP-MIB addresses, UCD-SNMP-MIB load and memory). No MIB
files are read and nothing is compiled at run time.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple

from poller.oid import Oid

SCALAR, COLUMN, NODE = "scalar", "column", "node"

# (module, kind, base OID, {name: arc}) — each name is base + (arc,). A scalar is read with GET
# at instance .0; a column is walked; a node (a table or entry) is neither.
_GROUPS: tuple[tuple[str, str, str, dict[str, int]], ...] = (
    ("SNMPv2-MIB", SCALAR, "1.3.6.1.2.1.1", {
        "sysDescr": 1, "sysObjectID": 2, "sysUpTime": 3, "sysContact": 4, "sysName": 5,
        "sysLocation": 6, "sysServices": 7, "sysORLastChange": 8,
    }),
    ("IF-MIB", SCALAR, "1.3.6.1.2.1.2", {"ifNumber": 1}),
    ("IF-MIB", NODE, "1.3.6.1.2.1.2", {"ifTable": 2}),
    ("IF-MIB", NODE, "1.3.6.1.2.1.2.2", {"ifEntry": 1}),
    ("IF-MIB", COLUMN, "1.3.6.1.2.1.2.2.1", {
        "ifIndex": 1, "ifDescr": 2, "ifType": 3, "ifMtu": 4, "ifSpeed": 5, "ifPhysAddress": 6,
        "ifAdminStatus": 7, "ifOperStatus": 8, "ifLastChange": 9, "ifInOctets": 10,
        "ifInUcastPkts": 11, "ifInNUcastPkts": 12, "ifInDiscards": 13, "ifInErrors": 14,
        "ifInUnknownProtos": 15, "ifOutOctets": 16, "ifOutUcastPkts": 17, "ifOutNUcastPkts": 18,
        "ifOutDiscards": 19, "ifOutErrors": 20, "ifOutQLen": 21, "ifSpecific": 22,
    }),
    ("IF-MIB", NODE, "1.3.6.1.2.1.31.1", {"ifXTable": 1}),
    ("IF-MIB", NODE, "1.3.6.1.2.1.31.1.1", {"ifXEntry": 1}),
    ("IF-MIB", COLUMN, "1.3.6.1.2.1.31.1.1.1", {
        "ifName": 1, "ifInMulticastPkts": 2, "ifInBroadcastPkts": 3, "ifOutMulticastPkts": 4,
        "ifOutBroadcastPkts": 5, "ifHCInOctets": 6, "ifHCInUcastPkts": 7,
        "ifHCInMulticastPkts": 8, "ifHCInBroadcastPkts": 9, "ifHCOutOctets": 10,
        "ifHCOutUcastPkts": 11, "ifHCOutMulticastPkts": 12, "ifHCOutBroadcastPkts": 13,
        "ifLinkUpDownTrapEnable": 14, "ifHighSpeed": 15, "ifPromiscuousMode": 16,
        "ifConnectorPresent": 17, "ifAlias": 18, "ifCounterDiscontinuityTime": 19,
    }),
    ("IP-MIB", COLUMN, "1.3.6.1.2.1.4.20.1", {
        "ipAdEntAddr": 1, "ipAdEntIfIndex": 2, "ipAdEntNetMask": 3, "ipAdEntBcastAddr": 4,
        "ipAdEntReasmMaxSize": 5,
    }),
    ("IP-MIB", COLUMN, "1.3.6.1.2.1.4.22.1", {
        "ipNetToMediaIfIndex": 1, "ipNetToMediaPhysAddress": 2, "ipNetToMediaNetAddress": 3,
        "ipNetToMediaType": 4,
    }),
    ("HOST-RESOURCES-MIB", SCALAR, "1.3.6.1.2.1.25.1", {
        "hrSystemUptime": 1, "hrSystemDate": 2, "hrSystemNumUsers": 5, "hrSystemProcesses": 6,
    }),
    ("HOST-RESOURCES-MIB", SCALAR, "1.3.6.1.2.1.25.2", {"hrMemorySize": 2}),
    ("HOST-RESOURCES-MIB", NODE, "1.3.6.1.2.1.25.2", {"hrStorageTable": 3}),
    ("HOST-RESOURCES-MIB", COLUMN, "1.3.6.1.2.1.25.2.3.1", {
        "hrStorageIndex": 1, "hrStorageType": 2, "hrStorageDescr": 3,
        "hrStorageAllocationUnits": 4, "hrStorageSize": 5, "hrStorageUsed": 6,
        "hrStorageAllocationFailures": 7,
    }),
    ("HOST-RESOURCES-MIB", COLUMN, "1.3.6.1.2.1.25.3.3.1", {
        "hrProcessorFrwID": 1, "hrProcessorLoad": 2,
    }),
    ("UCD-SNMP-MIB", COLUMN, "1.3.6.1.4.1.2021.10.1", {
        "laIndex": 1, "laNames": 2, "laLoad": 3, "laLoadInt": 5,
    }),
    ("UCD-SNMP-MIB", SCALAR, "1.3.6.1.4.1.2021.4", {
        "memTotalSwap": 3, "memAvailSwap": 4, "memTotalReal": 5, "memAvailReal": 6,
        "memTotalFree": 11, "memShared": 13, "memBuffer": 14, "memCached": 15,
    }),
)

#: RFC1213-MIB (MIB-II) defined the system, interfaces and ip groups before they moved to
#: SNMPv2-MIB, IF-MIB and IP-MIB; Telegraf configs and old scripts still use its prefix.
_OLD_MODULE = "RFC1213-MIB"
_OLD_MODULE_OBJECTS = range(1, 5)  # 1.3.6.1.2.1.{1,2,3,4}: system, interfaces, at, ip

#: objects whose OCTET STRING is a hardware address (rendered aa:bb:cc:dd:ee:ff)
_MAC_OBJECTS = frozenset({"ifPhysAddress", "ipNetToMediaPhysAddress"})
#: DisplayString objects (rendered as text)
_TEXT_OBJECTS = frozenset({
    "sysDescr", "sysContact", "sysName", "sysLocation", "ifDescr", "ifName", "ifAlias",
    "hrStorageDescr", "laNames", "laLoad",
})


class _Entry(NamedTuple):
    module: str
    kind: str
    oid: Oid


def _build() -> tuple[dict[str, _Entry], dict[Oid, str]]:
    by_name: dict[str, _Entry] = {}
    by_oid: dict[Oid, str] = {}
    for module, kind, base, names in _GROUPS:
        root = Oid.parse(base)
        for name, arc in names.items():
            oid = root + (arc,)
            by_name[name] = _Entry(module, kind, oid)
            by_oid[oid] = name
    return by_name, by_oid


_BY_NAME, _BY_OID = _build()


def resolve(text: str) -> tuple[str, Oid]:
    """`ifHCInOctets`, `IF-MIB::ifHCInOctets`, `sysUpTime.0`, `ifDescr.3` or a numeric OID ->
    (field name, OID). The field name drops the module and a `.0` instance: `sysUpTime.0` ->
    `sysUpTime`; other instances stay (`ifDescr.3`). A numeric OID gets the name of the object
    it is (or of its .0 instance), else keeps its digits. Raises ValueError naming what is
    unknown."""
    text = text.strip()
    if not text:
        raise ValueError("empty name (an object name like sysUpTime.0, or a numeric OID)")
    if text[:1].isdigit() or text.startswith("."):
        oid = Oid.parse(text)
        return name_of(oid), oid
    module, _, rest = text.rpartition("::")
    name, dot, suffix = rest.partition(".")
    entry = _BY_NAME.get(name)
    if entry is None:
        raise ValueError(_unknown(text, name))
    if module and not _in_module(entry, module):
        raise ValueError(f"unknown name {text!r} ({name} is in {entry.module})")
    if not dot:
        return name, entry.oid
    instance = _instance(suffix)
    if instance is None:
        raise ValueError(f"unknown name {text!r}: the instance {suffix!r} after {name} is not "
                         "dotted numbers (like ifDescr.3 or sysUpTime.0)")
    field = name if instance == (0,) else ".".join((name, *map(str, instance)))
    return field, entry.oid + instance


def _in_module(entry: _Entry, module: str) -> bool:
    if module == entry.module:
        return True
    return module == _OLD_MODULE and entry.oid[:6] == (1, 3, 6, 1, 2, 1) and \
        entry.oid[6] in _OLD_MODULE_OBJECTS


def _instance(suffix: str) -> tuple[int, ...] | None:
    parts = suffix.split(".")
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    arcs = tuple(int(p) for p in parts)
    return None if any(a > 0xFFFFFFFF for a in arcs) else arcs


def _unknown(text: str, name: str) -> str:
    folded = {known.lower(): known for known in _BY_NAME}
    close = [folded[name.lower()]] if name.lower() in folded else \
        difflib.get_close_matches(name, _BY_NAME, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else \
        " (use a numeric OID for objects poller does not name)"
    return f"unknown name {text!r}{hint}"


def name_of(oid: Oid) -> str:
    """The name of a known object (`sysUpTime` for 1.3.6.1.2.1.1.3 or .3.0), else the dotted OID."""
    if oid in _BY_OID:
        return _BY_OID[oid]
    if oid and oid[-1] == 0 and Oid(oid[:-1]) in _BY_OID:
        return _BY_OID[Oid(oid[:-1])]
    return str(oid)


def kind_of(name: str) -> str | None:
    """SCALAR, COLUMN or NODE for a known object name (no module, no instance), else None."""
    entry = _BY_NAME.get(name)
    return entry.kind if entry else None


def module_of(name: str) -> str | None:
    entry = _BY_NAME.get(name)
    return entry.module if entry else None


def display_hint(name: str) -> str | None:
    """How to render an OCTET STRING of this object: "mac", "text" or None (decide by content)."""
    if name in _MAC_OBJECTS:
        return "mac"
    if name in _TEXT_OBJECTS:
        return "text"
    return None


def names() -> list[str]:
    return sorted(_BY_NAME)

"""Symbolic names of the standard objects, offline: name <-> numeric OID, resolved at config load.

A small generated-by-hand table of what operators poll daily (SNMPv2-MIB system group, IF-MIB,
HOST-RESOURCES-MIB storage and processors, IP-MIB addresses, UCD-SNMP-MIB load and memory). No MIB
files are read and nothing is compiled at run time.
"""

from __future__ import annotations

import difflib

from poller.oid import Oid

# (module, base OID, {name: arc}) — each name is base + (arc,)
_GROUPS: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("SNMPv2-MIB", "1.3.6.1.2.1.1", {
        "sysDescr": 1, "sysObjectID": 2, "sysUpTime": 3, "sysContact": 4, "sysName": 5,
        "sysLocation": 6, "sysServices": 7, "sysORLastChange": 8,
    }),
    ("IF-MIB", "1.3.6.1.2.1.2", {"ifNumber": 1, "ifTable": 2}),
    ("IF-MIB", "1.3.6.1.2.1.2.2", {"ifEntry": 1}),
    ("IF-MIB", "1.3.6.1.2.1.2.2.1", {
        "ifIndex": 1, "ifDescr": 2, "ifType": 3, "ifMtu": 4, "ifSpeed": 5, "ifPhysAddress": 6,
        "ifAdminStatus": 7, "ifOperStatus": 8, "ifLastChange": 9, "ifInOctets": 10,
        "ifInUcastPkts": 11, "ifInNUcastPkts": 12, "ifInDiscards": 13, "ifInErrors": 14,
        "ifInUnknownProtos": 15, "ifOutOctets": 16, "ifOutUcastPkts": 17, "ifOutNUcastPkts": 18,
        "ifOutDiscards": 19, "ifOutErrors": 20, "ifOutQLen": 21, "ifSpecific": 22,
    }),
    ("IF-MIB", "1.3.6.1.2.1.31.1", {"ifXTable": 1}),
    ("IF-MIB", "1.3.6.1.2.1.31.1.1", {"ifXEntry": 1}),
    ("IF-MIB", "1.3.6.1.2.1.31.1.1.1", {
        "ifName": 1, "ifInMulticastPkts": 2, "ifInBroadcastPkts": 3, "ifOutMulticastPkts": 4,
        "ifOutBroadcastPkts": 5, "ifHCInOctets": 6, "ifHCInUcastPkts": 7,
        "ifHCInMulticastPkts": 8, "ifHCInBroadcastPkts": 9, "ifHCOutOctets": 10,
        "ifHCOutUcastPkts": 11, "ifHCOutMulticastPkts": 12, "ifHCOutBroadcastPkts": 13,
        "ifLinkUpDownTrapEnable": 14, "ifHighSpeed": 15, "ifPromiscuousMode": 16,
        "ifConnectorPresent": 17, "ifAlias": 18, "ifCounterDiscontinuityTime": 19,
    }),
    ("IP-MIB", "1.3.6.1.2.1.4.20.1", {
        "ipAdEntAddr": 1, "ipAdEntIfIndex": 2, "ipAdEntNetMask": 3, "ipAdEntBcastAddr": 4,
        "ipAdEntReasmMaxSize": 5,
    }),
    ("HOST-RESOURCES-MIB", "1.3.6.1.2.1.25.1", {"hrSystemUptime": 1, "hrSystemDate": 2,
                                                "hrSystemNumUsers": 5, "hrSystemProcesses": 6}),
    ("HOST-RESOURCES-MIB", "1.3.6.1.2.1.25.2", {"hrMemorySize": 2, "hrStorageTable": 3}),
    ("HOST-RESOURCES-MIB", "1.3.6.1.2.1.25.2.3.1", {
        "hrStorageIndex": 1, "hrStorageType": 2, "hrStorageDescr": 3,
        "hrStorageAllocationUnits": 4, "hrStorageSize": 5, "hrStorageUsed": 6,
        "hrStorageAllocationFailures": 7,
    }),
    ("HOST-RESOURCES-MIB", "1.3.6.1.2.1.25.3.3.1", {"hrProcessorFrwID": 1, "hrProcessorLoad": 2}),
    ("UCD-SNMP-MIB", "1.3.6.1.4.1.2021.10.1", {"laIndex": 1, "laNames": 2, "laLoad": 3,
                                               "laLoadInt": 5}),
    ("UCD-SNMP-MIB", "1.3.6.1.4.1.2021.4", {
        "memTotalSwap": 3, "memAvailSwap": 4, "memTotalReal": 5, "memAvailReal": 6,
        "memTotalFree": 11, "memShared": 13, "memBuffer": 14, "memCached": 15,
    }),
)

#: objects whose OCTET STRING is a hardware address (rendered aa:bb:cc:dd:ee:ff)
_MAC_OBJECTS = frozenset({"ifPhysAddress"})
#: DisplayString objects (rendered as text)
_TEXT_OBJECTS = frozenset({
    "sysDescr", "sysContact", "sysName", "sysLocation", "ifDescr", "ifName", "ifAlias",
    "hrStorageDescr", "laNames", "laLoad",
})


def _build() -> tuple[dict[str, tuple[str, Oid]], dict[Oid, str]]:
    by_name: dict[str, tuple[str, Oid]] = {}
    by_oid: dict[Oid, str] = {}
    for module, base, names in _GROUPS:
        root = Oid.parse(base)
        for name, arc in names.items():
            oid = root + (arc,)
            by_name[name] = (module, oid)
            by_oid[oid] = name
    return by_name, by_oid


_BY_NAME, _BY_OID = _build()


def resolve(text: str) -> tuple[str, Oid]:
    """`ifHCInOctets`, `IF-MIB::ifHCInOctets`, `sysUpTime.0`, `ifDescr.3` or a numeric OID ->
    (field name, OID). The field name drops the module and a `.0` instance: `sysUpTime.0` ->
    `sysUpTime`. Raises ValueError naming what is unknown."""
    text = text.strip()
    if text[:1].isdigit() or text.startswith("."):
        oid = Oid.parse(text)
        return name_of(oid), oid
    module, _, rest = text.rpartition("::")
    name, _, suffix = rest.partition(".")
    entry = _BY_NAME.get(name)
    if entry is None or (module and module != entry[0]):
        raise ValueError(_unknown(text, name))
    oid = entry[1]
    if suffix:
        instance = Oid.parse("1.3." + suffix)[2:] if suffix.replace(".", "").isdigit() else None
        if instance is None:
            raise ValueError(f"unknown name {text!r}: instance {suffix!r} is not numeric")
        oid = oid + instance
    return (name if suffix in ("", "0") else f"{name}.{suffix}"), oid


def _unknown(text: str, name: str) -> str:
    close = difflib.get_close_matches(name, _BY_NAME, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else " (use a numeric OID for objects poller does not name)"
    return f"unknown name {text!r}{hint}"


def name_of(oid: Oid) -> str:
    """The name of a known object (`sysUpTime` for 1.3.6.1.2.1.1.3 or .3.0), else the dotted OID."""
    if oid in _BY_OID:
        return _BY_OID[oid]
    if oid and oid[-1] == 0 and Oid(oid[:-1]) in _BY_OID:
        return _BY_OID[Oid(oid[:-1])]
    return str(oid)


def display_hint(name: str) -> str | None:
    """How to render an OCTET STRING of this object: "mac", "text" or None (decide by content)."""
    if name in _MAC_OBJECTS:
        return "mac"
    if name in _TEXT_OBJECTS:
        return "text"
    return None


def names() -> list[str]:
    return sorted(_BY_NAME)

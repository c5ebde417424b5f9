"""Symbolic names of MIB objects, offline: name <-> numeric OID, kind, syntax and INDEX clauses,
resolved at config load.

The standard MIBs (SNMPv2-MIB, IF-MIB, IP-MIB, IP-FORWARD-MIB, HOST-RESOURCES-MIB, ENTITY-MIB,
ENTITY-SENSOR-MIB, EtherLike-MIB, BRIDGE-MIB, Q-BRIDGE-MIB, LLDP-MIB, UCD-SNMP-MIB, TCP-MIB,
UDP-MIB) come from `mib/standard.json`, a table generated at development time by
tools/mibgen/gen_mib_table.py: nothing is compiled at run time. Objects of an operator's own MIB files
(poller.mib.user, compiled once into a cache) make another MibNames at config load, which the
Config carries: loading never changes the names another Config sees.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from poller.oid import Oid

SCALAR, COLUMN, NODE = "scalar", "column", "node"
#: the syntaxes of objects whose rate is what a poll reports
COUNTER_SYNTAXES = frozenset({"Counter32", "Counter64"})
STANDARD_TABLE = Path(__file__).with_name("standard.json")

#: RFC1213-MIB (MIB-II) defined the system, interfaces and ip groups before they moved to
#: SNMPv2-MIB, IF-MIB and IP-MIB; Telegraf configs and old scripts still use its prefix.
_OLD_MODULE = "RFC1213-MIB"
_OLD_MODULE_OBJECTS = range(1, 5)  # 1.3.6.1.2.1.{1,2,3,4}: system, interfaces, at, ip

#: textual conventions whose OCTET STRING is a hardware address (rendered aa:bb:cc:dd:ee:ff)
MAC_CONVENTIONS = frozenset({"MacAddress", "PhysAddress"})
#: textual conventions rendered as text
_TEXT_CONVENTIONS = frozenset({"DisplayString", "SnmpAdminString"})


class MibObject(NamedTuple):
    name: str
    module: str
    oid: Oid
    kind: str  # SCALAR, COLUMN or NODE
    #: the SMI base type: Counter32, Counter64, Gauge32, Integer32, OctetString, IpAddress, ...
    syntax: str | None = None
    #: the textual convention (DisplayString, MacAddress, InetAddress...), if any
    convention: str | None = None
    display_hint: str | None = None
    #: the one size an OCTET STRING may have (MacAddress: 6): no length prefix in an index
    size: int | None = None


class IndexPart(NamedTuple):
    """One object of a table entry's INDEX clause."""

    name: str
    syntax: str | None
    convention: str | None
    size: int | None
    implied: bool


class MibNames:
    """A set of MIB names, not changed once made: the standard ones (STANDARD), or those plus an
    operator's modules (`with_modules`). Each Config carries its own."""

    __slots__ = ("by_name", "by_oid", "by_qualified", "indexes")

    def __init__(self) -> None:
        self.by_name: dict[str, MibObject] = {}
        self.by_qualified: dict[tuple[str, str], MibObject] = {}
        self.by_oid: dict[Oid, MibObject] = {}
        self.indexes: dict[Oid, tuple[tuple[str, str, bool], ...]] = {}

    def _add(self, objects: Iterable[MibObject], indexes: dict[tuple[str, str], Any]) -> None:
        for obj in objects:
            # the first module to define a name keeps the bare name; MODULE::name reaches both
            self.by_name.setdefault(obj.name, obj)
            self.by_qualified[(obj.module, obj.name)] = obj
            self.by_oid.setdefault(obj.oid, obj)
        for (module, entry), parts in indexes.items():
            row = self.by_qualified.get((module, entry))
            if row is not None:
                self.indexes[row.oid] = tuple((m, n, bool(i)) for m, n, i in parts)

    @classmethod
    def read_standard(cls, path: Path = STANDARD_TABLE) -> MibNames:
        doc = json.loads(path.read_text())
        names = cls()
        objects = [MibObject(n, m, Oid.parse(o), k, s, c, h, z) for n, m, o, k, s, c, h, z in
                   doc["objects"]]
        indexes = {(key.partition("::")[0], key.partition("::")[2]): parts
                   for key, parts in doc["indexes"].items()}
        names._add(objects, indexes)
        return names

    def with_modules(self, objects: Iterable[MibObject],
                     indexes: dict[tuple[str, str], Any]) -> MibNames:
        """These names plus an operator's modules' (poller.mib.user), as a new MibNames; this
        one is left as it was. A name already known keeps its meaning."""
        merged = MibNames()
        merged._add(self.objects(), {})
        merged.indexes.update(self.indexes)
        merged._add(objects, indexes)
        return merged

    def objects(self) -> tuple[MibObject, ...]:
        return tuple(self.by_qualified.values())

    def names(self) -> list[str]:
        return sorted(self.by_name)

    def resolve(self, text: str) -> tuple[str, Oid]:
        """`ifHCInOctets`, `IF-MIB::ifHCInOctets`, `sysUpTime.0`, `ifDescr.3` or a numeric OID ->
        (field name, OID). The field name drops the module and a `.0` instance: `sysUpTime.0` ->
        `sysUpTime`; other instances stay (`ifDescr.3`). A numeric OID gets the name of the
        object it is (or of its .0 instance), else keeps its digits. Raises ValueError naming
        what is unknown."""
        text = text.strip()
        if not text:
            raise ValueError("empty name (an object name like sysUpTime.0, or a numeric OID)")
        if text[:1].isdigit() or text.startswith("."):
            oid = Oid.parse(text)
            return self.name_of(oid), oid
        module, _, rest = text.rpartition("::")
        name, dot, suffix = rest.partition(".")
        entry = self._lookup(module, name)
        if entry is None:
            known = self.by_name.get(name)
            if known is not None:
                raise ValueError(f"unknown name {text!r} ({name} is in {known.module})")
            raise ValueError(self._unknown(text, name))
        if not dot:
            return name, entry.oid
        instance = _instance(suffix)
        if instance is None:
            raise ValueError(f"unknown name {text!r}: the instance {suffix!r} after {name} is "
                             "not dotted numbers (like ifDescr.3 or sysUpTime.0)")
        field = name if instance == (0,) else ".".join((name, *map(str, instance)))
        return field, entry.oid + instance

    def _lookup(self, module: str, name: str) -> MibObject | None:
        if not module:
            return self.by_name.get(name)
        entry = self.by_qualified.get((module, name))
        if entry is None and module == _OLD_MODULE:
            known = self.by_name.get(name)
            if known is not None and known.oid[:6] == (1, 3, 6, 1, 2, 1) and \
                    known.oid[6] in _OLD_MODULE_OBJECTS:
                return known
        return entry

    def _unknown(self, text: str, name: str) -> str:
        folded = {known.lower(): known for known in self.by_name}
        close = [folded[name.lower()]] if name.lower() in folded else \
            difflib.get_close_matches(name, self.by_name, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else \
            " (use a numeric OID, or add its MIB file with [mibs] dirs)"
        return f"unknown name {text!r}{hint}"

    def name_of(self, oid: Oid) -> str:
        """The name of a known object (`sysUpTime` for 1.3.6.1.2.1.1.3 or .3.0), else the
        dotted OID."""
        entry = self.by_oid.get(oid)
        if entry is None and oid and oid[-1] == 0:
            entry = self.by_oid.get(Oid(oid[:-1]))
            if entry is not None and entry.kind != SCALAR:
                entry = None
        return entry.name if entry is not None else str(oid)

    def lookup(self, name: str) -> MibObject | None:
        """The object of a name (`ifDescr` or `IF-MIB::ifDescr`, no instance), else None."""
        module, _, bare = name.rpartition("::")
        return self._lookup(module, bare)

    def kind_of(self, name: str) -> str | None:
        """SCALAR, COLUMN or NODE for a known object name (no module, no instance), else None."""
        entry = self.by_name.get(name)
        return entry.kind if entry else None

    def display_hint(self, name: str) -> str | None:
        """How to render an OCTET STRING of this object: "mac", "text" or None (decide by
        content)."""
        entry = self.by_name.get(name)
        if entry is None or entry.syntax != "OctetString":
            return None
        if entry.convention in MAC_CONVENTIONS:
            return "mac"
        if entry.convention in _TEXT_CONVENTIONS or \
                (entry.display_hint or "").endswith(("a", "t")):
            return "text"
        return None

    def index_of(self, column_oid: Oid) -> tuple[IndexPart, ...] | None:
        """The INDEX clause of the table a column belongs to, each part with its syntax; None
        when the column (or its entry, or an index object) is unknown."""
        parts = self.indexes.get(Oid(column_oid[:-1]))
        if parts is None:
            return None
        out = []
        for module, name, implied in parts:
            obj = self.by_qualified.get((module, name)) or self.by_name.get(name)
            if obj is None:
                return None
            out.append(IndexPart(name, obj.syntax, obj.convention, obj.size, implied))
        return tuple(out)


def _instance(suffix: str) -> tuple[int, ...] | None:
    parts = suffix.split(".")
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    arcs = tuple(int(p) for p in parts)
    return None if any(a > 0xFFFFFFFF for a in arcs) else arcs


#: the standard MIBs' names, read once; never changed (an operator's make another MibNames)
STANDARD = MibNames.read_standard()

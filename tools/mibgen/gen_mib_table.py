"""Generate poller/mib/standard.json, the offline table of the standard MIB objects.

Run at development time (`make mib-table`), never by the daemon. The sources are the IETF/IANA
MIBs precompiled by the `pysnmp-mibs` package and the ones pysnmp itself ships, loaded with
pysnmp's MibBuilder, plus LLDP-MIB (IEEE 802.1AB, in neither package) from
tools/mibgen/lldp_mib.json, transcribed from the MIB. tests/unit/test_mib_table.py checks that the
committed table is what this script produces from the same sources.

Each object keeps its name, module, OID, kind (scalar / column / node), base syntax, textual
convention, DISPLAY-HINT and fixed size; each table entry its INDEX clause.

    python tools/mibgen/gen_mib_table.py [OUT]      # default: poller/mib/standard.json
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

MODULES = (
    "SNMPv2-MIB", "IF-MIB", "IP-MIB", "IP-FORWARD-MIB", "HOST-RESOURCES-MIB", "ENTITY-MIB",
    "ENTITY-SENSOR-MIB", "EtherLike-MIB", "BRIDGE-MIB", "Q-BRIDGE-MIB", "UCD-SNMP-MIB",
    "TCP-MIB", "UDP-MIB",
)
LLDP = Path(__file__).with_name("lldp_mib.json")
OUT = Path(__file__).resolve().parents[2] / "poller" / "mib" / "standard.json"

#: SMI base types by the pysnmp class they derive from (first match in MRO order)
_BASES = (
    "Counter64", "Counter32", "Gauge32", "Unsigned32", "TimeTicks", "IpAddress", "Opaque", "Bits",
    "Integer32", "OctetString", "ObjectIdentifier", "Integer",
)


def build() -> dict[str, Any]:
    import pysnmp_mibs
    from pysnmp.smi import builder

    mibs = builder.MibBuilder()
    mibs.add_mib_sources(builder.DirMibSource(os.path.dirname(pysnmp_mibs.__file__)))
    with warnings.catch_warnings():
        # pysnmp-mibs' modules use the camelCase loader calls pysnmp 7 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        mibs.load_modules(*MODULES)
    objects: list[list[Any]] = []
    indexes: dict[str, list[list[Any]]] = {}
    for module in MODULES:
        for name, symbol in mibs.mibSymbols[module].items():
            entry = _object(module, name, symbol)
            if entry is None:
                continue
            objects.append(entry)
            if type(symbol).__name__ == "MibTableRow":
                index = _index(symbol)
                if index:
                    indexes[f"{module}::{name}"] = index
    lldp = json.loads(LLDP.read_text())
    objects.extend(lldp["objects"])
    indexes.update(lldp["indexes"])
    objects.sort(key=lambda o: (tuple(int(a) for a in o[2].split(".")), o[1], o[0]))
    return {"objects": objects, "indexes": dict(sorted(indexes.items()))}


def _object(module: str, name: str, symbol: Any) -> list[Any] | None:
    """[name, module, oid, kind, base syntax, textual convention, display hint, fixed size]"""
    kind = {"MibScalar": "scalar", "MibTableColumn": "column", "MibTableRow": "node",
            "MibTable": "node", "MibIdentifier": "node", "ObjectIdentity": "node"}.get(
        type(symbol).__name__)
    if kind is None or not getattr(symbol, "name", None):
        return None
    oid = ".".join(map(str, symbol.name))
    if kind == "node":
        return [name, module, oid, kind, None, None, None, None]
    syntax = symbol.syntax
    classes = [c.__name__ for c in type(syntax).__mro__]
    base = next((b for b in _BASES if b in classes), None)
    tc = type(syntax).__name__ if "TextualConvention" in classes else None
    hint = getattr(syntax, "displayHint", None) or None
    size = _fixed_size(syntax) if base == "OctetString" else None
    return [name, module, oid, kind, base, tc, hint, size]


def _fixed_size(syntax: Any) -> int | None:
    """The one size an OCTET STRING may have (MacAddress: 6), else None."""
    fixed = getattr(syntax, "fixed_length", None)
    if fixed:
        return int(fixed)
    sizes: set[tuple[int, int]] = set()
    _sizes(syntax.subtypeSpec, sizes)
    if len(sizes) == 1:
        low, high = next(iter(sizes))
        if low == high:
            return low
    return None


def _sizes(constraint: Any, out: set[tuple[int, int]]) -> None:
    if type(constraint).__name__ == "ValueSizeConstraint":
        low, high = constraint._values
        if (low, high) != (0, 65535):
            out.add((low, high))
        return
    for inner in getattr(constraint, "_values", ()) or ():
        if hasattr(inner, "_values"):
            _sizes(inner, out)


def _index(row: Any) -> list[list[Any]]:
    """[[module, name, implied], ...] of the entry's INDEX clause (AUGMENTS: the base's)."""
    names = row.getIndexNames() if hasattr(row, "getIndexNames") else row.get_index_names()
    return [[module, name, bool(implied)] for implied, module, name in names]


def dump(table: dict[str, Any]) -> str:
    """One object per line, so a regeneration shows as a readable diff."""
    lines = ['{"objects": [']
    lines += [json.dumps(o, separators=(",", ":")) + "," for o in table["objects"]]
    lines[-1] = lines[-1].rstrip(",")
    lines.append('], "indexes": {')
    items = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}," for k, v in
             table["indexes"].items()]
    items[-1] = items[-1].rstrip(",")
    lines += items
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.write_text(dump(build()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Names against net-snmp's snmptranslate: the standard table's UCD-SNMP-MIB objects and the
modules poller compiles from MIB files (net-snmp's own UCD-SNMP-MIB.txt and a vendor MIB) have
the OIDs net-snmp gives them. (Debian ships no IETF MIB files, so the IETF modules are checked
against their RFC OIDs in tests/unit/test_mib_table.py.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from poller.mib import user as mib_user
from poller.mib.names import STANDARD
from tests import agents

NETSNMP_MIBS = Path("/usr/share/snmp/mibs")
DATA = Path(__file__).resolve().parents[1] / "data" / "mibs"


def snmptranslate_tree(dirs: list[Path], modules: str) -> dict[str, str]:
    """snmptranslate -Tz: {name: dotted OID} of every object of the loaded modules."""
    search = ":".join(str(d) for d in [*dirs, mib_user.BASE_DIR])
    out = subprocess.run([agents.binary("snmptranslate"), "-M", search, "-m", modules, "-Tz"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    tree = {}
    for line in out.splitlines():
        name, _, oid = line.partition("\t")
        tree[name.strip('"')] = oid.strip().strip('"')
    return tree


def test_standard_ucd_objects_match_net_snmp() -> None:
    tree = snmptranslate_tree([NETSNMP_MIBS], "UCD-SNMP-MIB")
    ours = [o for o in STANDARD.objects() if o.module == "UCD-SNMP-MIB"]
    common = [o for o in ours if o.name in tree]
    assert len(common) > 150
    assert [(o.name, str(o.oid)) for o in common] == [(o.name, tree[o.name]) for o in common]


def test_compiled_modules_match_net_snmp(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    shutil.copy(DATA / "POLLER-TEST-MIB.txt", vendor)
    loaded = mib_user.load([vendor, NETSNMP_MIBS], ["POLLER-TEST-MIB", "UCD-SNMP-MIB"],
                           tmp_path / "cache")
    assert {"POLLER-TEST-MIB", "UCD-SNMP-MIB"} <= set(loaded.modules)
    tree = snmptranslate_tree([vendor, NETSNMP_MIBS], "POLLER-TEST-MIB:UCD-SNMP-MIB")
    for module in ("POLLER-TEST-MIB", "UCD-SNMP-MIB"):
        names = [n for n in tree if loaded.names.lookup(f"{module}::{n}") is not None]
        assert len(names) > 5
        for name in names:
            obj = loaded.names.lookup(f"{module}::{name}")
            assert obj is not None and str(obj.oid) == tree[name], name

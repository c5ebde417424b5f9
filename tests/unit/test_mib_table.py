"""The committed standard-MIB table is what tools/mibgen/gen_mib_table.py makes from its sources, and
holds what operators poll daily with the right OIDs, kinds, syntaxes and INDEX clauses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from poller.mib import names as mib
from poller.mib.names import STANDARD
from poller.oid import Oid

ROOT = Path(__file__).resolve().parents[2]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_mib_table", ROOT / "tools/mibgen/gen_mib_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_table_matches_the_generator() -> None:
    gen = _generator()
    assert gen.dump(gen.build()) == mib.STANDARD_TABLE.read_text(), \
        "poller/mib/standard.json is stale: run `make mib-table`"


@pytest.mark.parametrize(
    "name, oid, kind, syntax",
    [  # OIDs as in the RFCs / IEEE 802.1AB and net-snmp's UCD-SNMP-MIB.txt
        ("SNMPv2-MIB::sysUpTime", "1.3.6.1.2.1.1.3", mib.SCALAR, "TimeTicks"),
        ("IF-MIB::ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6", mib.COLUMN, "Counter64"),
        ("IF-MIB::ifInOctets", "1.3.6.1.2.1.2.2.1.10", mib.COLUMN, "Counter32"),
        ("IF-MIB::ifHighSpeed", "1.3.6.1.2.1.31.1.1.1.15", mib.COLUMN, "Gauge32"),
        ("IP-MIB::ipAdEntAddr", "1.3.6.1.2.1.4.20.1.1", mib.COLUMN, "IpAddress"),
        ("IP-MIB::ipAddressIfIndex", "1.3.6.1.2.1.4.34.1.3", mib.COLUMN, "Integer32"),
        ("HOST-RESOURCES-MIB::hrStorageUsed", "1.3.6.1.2.1.25.2.3.1.6", mib.COLUMN, "Integer32"),
        ("ENTITY-MIB::entPhysicalName", "1.3.6.1.2.1.47.1.1.1.1.7", mib.COLUMN, "OctetString"),
        ("ENTITY-SENSOR-MIB::entPhySensorValue", "1.3.6.1.2.1.99.1.1.1.4", mib.COLUMN,
         "Integer32"),
        ("EtherLike-MIB::dot3StatsFCSErrors", "1.3.6.1.2.1.10.7.2.1.3", mib.COLUMN, "Counter32"),
        ("BRIDGE-MIB::dot1dTpFdbPort", "1.3.6.1.2.1.17.4.3.1.2", mib.COLUMN, "Integer32"),
        ("BRIDGE-MIB::dot1dBasePortIfIndex", "1.3.6.1.2.1.17.1.4.1.2", mib.COLUMN, "Integer32"),
        ("LLDP-MIB::lldpRemSysName", "1.0.8802.1.1.2.1.4.1.1.9", mib.COLUMN, "OctetString"),
        ("LLDP-MIB::lldpLocPortId", "1.0.8802.1.1.2.1.3.7.1.3", mib.COLUMN, "OctetString"),
        ("UCD-SNMP-MIB::laLoad", "1.3.6.1.4.1.2021.10.1.3", mib.COLUMN, "OctetString"),
        ("UCD-SNMP-MIB::memAvailReal", "1.3.6.1.4.1.2021.4.6", mib.SCALAR, "Integer32"),
        ("IF-MIB::ifXTable", "1.3.6.1.2.1.31.1.1", mib.NODE, None),
    ],
)
def test_spot_checks(name: str, oid: str, kind: str, syntax: str | None) -> None:
    obj = STANDARD.lookup(name)
    assert obj is not None
    assert (str(obj.oid), obj.kind, obj.syntax) == (oid, kind, syntax)
    assert STANDARD.resolve(name)[1] == Oid.parse(oid)


def test_index_clauses_and_fixed_sizes() -> None:
    fdb = STANDARD.index_of(STANDARD.resolve("dot1dTpFdbPort")[1])
    assert fdb == (mib.IndexPart("dot1dTpFdbAddress", "OctetString", "MacAddress", 6, False),)
    lldp = STANDARD.index_of(STANDARD.resolve("lldpRemSysName")[1])
    assert lldp is not None
    assert [p.name for p in lldp] == ["lldpRemTimeMark", "lldpRemLocalPortNum", "lldpRemIndex"]
    ifx = STANDARD.index_of(STANDARD.resolve("ifAlias")[1])
    assert ifx is not None and [p.name for p in ifx] == ["ifIndex"]

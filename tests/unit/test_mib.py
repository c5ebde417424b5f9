"""Offline MIB names: every spelling operators use resolves to the same numeric OID and field
name; unknown names fail with a suggestion; numeric OIDs map back to names."""

from __future__ import annotations

import pytest

from poller.mib import names as mib
from poller.mib.names import STANDARD
from poller.oid import Oid


@pytest.mark.parametrize(
    "text, field, oid",
    [
        ("ifHCInOctets", "ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6"),
        ("IF-MIB::ifHCInOctets", "ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6"),
        ("sysUpTime.0", "sysUpTime", "1.3.6.1.2.1.1.3.0"),
        ("SNMPv2-MIB::sysName.0", "sysName", "1.3.6.1.2.1.1.5.0"),
        ("RFC1213-MIB::sysUpTime.0", "sysUpTime", "1.3.6.1.2.1.1.3.0"),
        ("RFC1213-MIB::ifInOctets", "ifInOctets", "1.3.6.1.2.1.2.2.1.10"),
        ("IF-MIB::ifDescr.3", "ifDescr.3", "1.3.6.1.2.1.2.2.1.2.3"),
        ("ifDescr.03", "ifDescr.3", "1.3.6.1.2.1.2.2.1.2.3"),
        ("ipAdEntAddr.192.0.2.1", "ipAdEntAddr.192.0.2.1", "1.3.6.1.2.1.4.20.1.1.192.0.2.1"),
        ("  ifAlias ", "ifAlias", "1.3.6.1.2.1.31.1.1.1.18"),
        ("ifNumber.0", "ifNumber", "1.3.6.1.2.1.2.1.0"),
        ("hrSystemUptime.0", "hrSystemUptime", "1.3.6.1.2.1.25.1.1.0"),
        ("hrStorageUsed", "hrStorageUsed", "1.3.6.1.2.1.25.2.3.1.6"),
        ("hrProcessorLoad", "hrProcessorLoad", "1.3.6.1.2.1.25.3.3.1.2"),
        ("1.3.6.1.2.1.1.3.0", "sysUpTime", "1.3.6.1.2.1.1.3.0"),
        (".1.3.6.1.2.1.1.3.0", "sysUpTime", "1.3.6.1.2.1.1.3.0"),
        ("1.3.6.1.2.1.31.1.1.1.10", "ifHCOutOctets", "1.3.6.1.2.1.31.1.1.1.10"),
        ("1.3.6.1.2.1.2.2.1.2.3", "1.3.6.1.2.1.2.2.1.2.3", "1.3.6.1.2.1.2.2.1.2.3"),
        ("1.3.6.1.4.1.9.9.109.1.1.1.1.8.1", "1.3.6.1.4.1.9.9.109.1.1.1.1.8.1",
         "1.3.6.1.4.1.9.9.109.1.1.1.1.8.1"),
    ],
)
def test_resolve_gives_field_name_and_numeric_oid(text: str, field: str, oid: str) -> None:
    assert STANDARD.resolve(text) == (field, Oid.parse(oid))


@pytest.mark.parametrize(
    "text, message",
    [
        ("sysUptime.0", "unknown name 'sysUptime.0' (did you mean 'sysUpTime'?)"),
        ("ifhcinoctets", "unknown name 'ifhcinoctets' (did you mean 'ifHCInOctets'?)"),
        ("ifHCInOctet", "unknown name 'ifHCInOctet' (did you mean 'ifHCInOctets'?)"),
        ("IF-MIB::sysName.0", "unknown name 'IF-MIB::sysName.0' (sysName is in SNMPv2-MIB)"),
        ("RFC1213-MIB::ifAlias", "unknown name 'RFC1213-MIB::ifAlias' (ifAlias is in IF-MIB)"),
        ("cpmCPUTotal5minRev",
         ("unknown name 'cpmCPUTotal5minRev' "
         "(use a numeric OID, or add its MIB file with [mibs] dirs)")),
        ("ifDescr.x", ("unknown name 'ifDescr.x': the instance 'x' after ifDescr is not dotted "
                      "numbers (like ifDescr.3 or sysUpTime.0)")),
        ("ifDescr.3.", ("unknown name 'ifDescr.3.': the instance '3.' after ifDescr is not dotted "
                       "numbers (like ifDescr.3 or sysUpTime.0)")),
        ("", "empty name (an object name like sysUpTime.0, or a numeric OID)"),
        ("1.3.6.x", "not a numeric OID: '1.3.6.x'"),
    ],
)
def test_unknown_names_fail_with_the_name_and_a_hint(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        STANDARD.resolve(text)
    assert str(caught.value) == message


def test_every_name_round_trips_through_its_oid() -> None:
    for name in STANDARD.names():
        field, oid = STANDARD.resolve(name)
        assert field == name
        assert STANDARD.name_of(oid) == name
        assert STANDARD.resolve(str(oid)) == (name, oid)


def test_the_objects_the_brief_names_are_all_known() -> None:
    wanted = ["sysDescr", "sysObjectID", "sysUpTime", "sysContact", "sysName", "sysLocation", "sysServices", "ifNumber", "ifIndex", "ifDescr", "ifType", "ifMtu", "ifSpeed", "ifPhysAddress", "ifAdminStatus", "ifOperStatus", "ifLastChange", "ifInOctets", "ifInUcastPkts", "ifInNUcastPkts", "ifInDiscards", "ifInErrors", "ifInUnknownProtos", "ifOutOctets", "ifOutUcastPkts", "ifOutNUcastPkts", "ifOutDiscards", "ifOutErrors", "ifOutQLen", "ifName", "ifInMulticastPkts", "ifInBroadcastPkts", "ifOutMulticastPkts", "ifOutBroadcastPkts", "ifHCInOctets", "ifHCInUcastPkts", "ifHCInMulticastPkts", "ifHCInBroadcastPkts", "ifHCOutOctets", "ifHCOutUcastPkts", "ifHCOutMulticastPkts", "ifHCOutBroadcastPkts", "ifLinkUpDownTrapEnable", "ifHighSpeed", "ifPromiscuousMode", "ifConnectorPresent", "ifAlias", "ifCounterDiscontinuityTime", "hrSystemUptime", "hrStorageDescr", "hrStorageSize", "hrStorageUsed", "hrProcessorLoad", "ipAdEntAddr"]
    assert [name for name in wanted if name not in STANDARD.names()] == []


def test_names_and_oids_are_unique() -> None:
    oids = [STANDARD.resolve(name)[1] for name in STANDARD.names()]
    assert len(set(oids)) == len(oids)


def test_name_of_maps_objects_and_their_zero_instance_else_digits() -> None:
    assert STANDARD.name_of(Oid.parse("1.3.6.1.2.1.1.5")) == "sysName"
    assert STANDARD.name_of(Oid.parse("1.3.6.1.2.1.1.5.0")) == "sysName"
    assert STANDARD.name_of(Oid.parse("1.3.6.1.2.1.1.5.1")) == "1.3.6.1.2.1.1.5.1"
    assert STANDARD.name_of(Oid.parse("1.3.6.1.2.1.31.1.1.1.6.7")) == "1.3.6.1.2.1.31.1.1.1.6.7"


@pytest.mark.parametrize(
    "name, hint",
    [
        ("ifPhysAddress", "mac"),
        ("ipNetToMediaPhysAddress", "mac"),
        ("sysDescr", "text"),
        ("ifAlias", "text"),
        ("ifName", "text"),
        ("hrStorageDescr", "text"),
        ("ifHCInOctets", None),
        ("sysObjectID", None),
        ("cpu5min", None),
    ],
)
def test_display_hints(name: str, hint: str | None) -> None:
    assert STANDARD.display_hint(name) == hint


def test_kinds_tell_scalars_from_columns() -> None:
    assert STANDARD.kind_of("sysUpTime") == mib.SCALAR
    assert STANDARD.kind_of("ifNumber") == mib.SCALAR
    assert STANDARD.kind_of("ifHCInOctets") == mib.COLUMN
    assert STANDARD.kind_of("ifTable") == mib.NODE
    assert STANDARD.kind_of("nope") is None
    assert (alias := STANDARD.lookup("ifAlias")) is not None and alias.module == "IF-MIB"

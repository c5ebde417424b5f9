"""Index decoding: the OID part after a column becomes the named fields of the table's INDEX
clause, per syntax, with the INDEX clauses and syntaxes of the generated standard table."""

from __future__ import annotations

from typing import Any

import pytest

from poller.mib import names as mib
from poller.mib.index import decode
from poller.mib.names import STANDARD
from poller.oid import Oid


def _decode(column: str, index: str) -> dict[str, Any] | None:
    parts = STANDARD.index_of(STANDARD.resolve(column)[1])
    assert parts is not None, column
    return decode(tuple(int(a) for a in index.split(".")), parts)


@pytest.mark.parametrize(
    "column, index, fields",
    [
        # an integer
        ("ifDescr", "10101", {"ifIndex": 10101}),
        ("ifHCInOctets", "7", {"ifIndex": 7}),  # ifXEntry AUGMENTS ifEntry
        ("entPhySensorValue", "1003", {"entPhysicalIndex": 1003}),
        ("hrStorageUsed", "31", {"hrStorageIndex": 31}),
        # IpAddress: four arcs, no length
        ("ipAdEntIfIndex", "10.0.0.1", {"ipAdEntAddr": "10.0.0.1"}),
        # three integers
        ("lldpRemSysName", "0.12.3", {"lldpRemTimeMark": 0, "lldpRemLocalPortNum": 12,
                                      "lldpRemIndex": 3}),
        # fixed-size string (MacAddress, 6 octets, no length prefix)
        ("dot1dTpFdbPort", "0.26.43.60.77.94", {"dot1dTpFdbAddress": "00:1a:2b:3c:4d:5e"}),
        # InetAddressType + InetAddress with its length prefix
        ("ipAddressIfIndex", "1.4.192.0.2.7", {"ipAddressAddrType": 1,
                                               "ipAddressAddr": "192.0.2.7"}),
        ("ipAddressIfIndex", "2.16.32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1",
         {"ipAddressAddrType": 2, "ipAddressAddr": "2001:db8::1"}),
        ("ipNetToPhysicalPhysAddress", "3.1.4.10.0.0.9",
         {"ipNetToPhysicalIfIndex": 3, "ipNetToPhysicalNetAddressType": 1,
          "ipNetToPhysicalNetAddress": "10.0.0.9"}),
        # string with a length prefix, then more after it (LLDP management address)
        ("lldpRemManAddrIfId", "0.5.1.1.4.192.0.2.9",
         {"lldpRemTimeMark": 0, "lldpRemLocalPortNum": 5, "lldpRemIndex": 1,
          "lldpRemManAddrSubtype": 1, "lldpRemManAddr": "c0:00:02:09"}),
    ],
)
def test_standard_indexes_decode_to_named_fields(column: str, index: str,
                                                 fields: dict[str, Any]) -> None:
    assert _decode(column, index) == fields


def test_implied_last_string_takes_the_rest_without_a_length() -> None:
    parts = (mib.IndexPart("vacmGroupName", "OctetString", "SnmpAdminString", None, True),)
    assert decode(tuple(b"admins"), parts) == {"vacmGroupName": "admins"}


def test_length_prefixed_string_then_integer() -> None:
    parts = (mib.IndexPart("name", "OctetString", "DisplayString", None, False),
             mib.IndexPart("n", "Integer32", None, None, False))
    assert decode((3, 97, 98, 99, 7), parts) == {"name": "abc", "n": 7}
    assert decode((0, 7), parts) == {"name": "", "n": 7}


def test_object_identifier_index_with_length() -> None:
    parts = (mib.IndexPart("target", "ObjectIdentifier", None, None, False),)
    assert decode((4, 1, 3, 6, 1), parts) == {"target": "1.3.6.1"}


def test_non_text_octets_render_as_hex() -> None:
    parts = (mib.IndexPart("key", "OctetString", None, None, False),)
    assert decode((2, 0, 255), parts) == {"key": "00:ff"}


@pytest.mark.parametrize(
    "column, index",
    [
        ("ipAdEntIfIndex", "10.0.0"),          # too short for an IpAddress
        ("ipAdEntIfIndex", "10.0.0.1.5"),      # arcs left over
        ("ifDescr", "1.2"),                    # two arcs for one integer
        ("dot1dTpFdbPort", "0.26.43.60.77"),   # a MAC address one octet short
        ("ipAddressIfIndex", "1.9.1.2"),       # a length beyond the arcs
        ("dot1dTpFdbPort", "0.26.43.60.77.300"),  # an octet above 255
    ],
)
def test_indexes_that_do_not_fit_the_clause_give_none(column: str, index: str) -> None:
    assert _decode(column, index) is None


def test_unknown_tables_have_no_index_clause() -> None:
    assert STANDARD.index_of(Oid.parse("1.3.6.1.4.1.9.9.109.1.1.1.1.8")) is None

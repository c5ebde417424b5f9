"""Plain value types that cross the SNMP boundary. No pysnmp in here."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from poller.config.model import Credential, WalkLimits
from poller.oid import Oid


class Kind(enum.StrEnum):
    """The SMI type of a value, as written into `--json` output and used for rates."""

    INTEGER = "integer"
    OCTETS = "octets"
    OID = "oid"
    IPADDRESS = "ipaddress"
    COUNTER32 = "counter32"
    GAUGE32 = "gauge32"
    TIMETICKS = "timeticks"
    OPAQUE = "opaque"
    COUNTER64 = "counter64"
    NULL = "null"
    NO_SUCH_OBJECT = "no_such_object"
    NO_SUCH_INSTANCE = "no_such_instance"
    END_OF_MIB = "end_of_mib"


#: kinds that mean "no value here"; they are data, not errors
ABSENT_KINDS = frozenset({Kind.NO_SUCH_OBJECT, Kind.NO_SUCH_INSTANCE, Kind.END_OF_MIB, Kind.NULL})

#: counter kinds and the width at which they wrap
COUNTER_WIDTHS = {Kind.COUNTER32: 2**32, Kind.COUNTER64: 2**64}

#: net-snmp's names for the kinds, as `snmpget` prints them ("Counter32: 5")
NETSNMP_TYPE_NAMES = {
    Kind.INTEGER: "INTEGER",
    Kind.OCTETS: "STRING",
    Kind.OID: "OID",
    Kind.IPADDRESS: "IpAddress",
    Kind.COUNTER32: "Counter32",
    Kind.GAUGE32: "Gauge32",
    Kind.TIMETICKS: "Timeticks",
    Kind.OPAQUE: "Opaque",
    Kind.COUNTER64: "Counter64",
    Kind.NULL: "NULL",
}

#: the SMI type names used in `--json` output ("type": "TimeTicks")
SMI_TYPE_NAMES = {
    Kind.INTEGER: "Integer32",
    Kind.OCTETS: "OctetString",
    Kind.OID: "ObjectIdentifier",
    Kind.IPADDRESS: "IpAddress",
    Kind.COUNTER32: "Counter32",
    Kind.GAUGE32: "Gauge32",
    Kind.TIMETICKS: "TimeTicks",
    Kind.OPAQUE: "Opaque",
    Kind.COUNTER64: "Counter64",
    Kind.NULL: "Null",
    Kind.NO_SUCH_OBJECT: "noSuchObject",
    Kind.NO_SUCH_INSTANCE: "noSuchInstance",
    Kind.END_OF_MIB: "endOfMibView",
}

#: int for numbers, bytes for OCTETS/OPAQUE/IPADDRESS (4 raw bytes), Oid for OID, None when absent
Value = int | bytes | Oid | None


class VarBind(NamedTuple):
    oid: Oid
    kind: Kind
    value: Value


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where and how to send requests to one agent."""

    name: str  # the device name (or the address for ad-hoc use); for error messages
    host: str
    port: int = 161
    credential: Credential
    timeout_s: float = 2.0
    retries: int = 1
    max_repetitions: int = 25
    max_oids_per_request: int = 32
    #: caps that stop a walk that never ends, and whether OIDs must increase
    walk: WalkLimits = WalkLimits()  # noqa: RUF009 - frozen, so one shared default is safe

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(slots=True)
class RequestStats:
    """Counters one poll accumulates across its requests."""

    requests: int = 0
    varbinds: int = 0

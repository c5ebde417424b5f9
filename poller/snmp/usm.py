"""SNMPv3 on pysnmp: protocol names -> pysnmp's protocol objects, the UsmUserData of a
credential, which engine a user goes to, and the REPORTs an agent answers with -> typed errors.

Privacy names pair as the agents do (checked against net-snmp 5.9's snmpd): net-snmp's AES-192 and
AES-256 extend a short localized key the Blumenthal way (pysnmp's usmAesBlumenthalCfb*), the `-C`
variants the Reeder ("Cisco") way (pysnmp's usmAesCfb192/256). With SHA-256 or longer the two
agree (no extension needed); with MD5/SHA/SHA-224 the wrong pairing is silently dropped.
"""

from __future__ import annotations

from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    UsmUserData,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import errind

from poller.config.model import Usm
from poller.errors import SnmpError
from poller.snmp import usm_reports

AUTH = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA-224": usmHMAC128SHA224AuthProtocol,
    "SHA-256": usmHMAC192SHA256AuthProtocol,
    "SHA-384": usmHMAC256SHA384AuthProtocol,
    "SHA-512": usmHMAC384SHA512AuthProtocol,
}
PRIV = {
    "DES": usmDESPrivProtocol,
    "AES": usmAesCfb128Protocol,
    "AES-192": usmAesBlumenthalCfb192Protocol,
    "AES-256": usmAesBlumenthalCfb256Protocol,
    "AES-192-C": usmAesCfb192Protocol,
    "AES-256-C": usmAesCfb256Protocol,
}

#: REPORT (usmStats*) indications -> the report's name in poller.snmp.usm_reports
_REPORTS: dict[type, str] = {
    errind.WrongDigest: "auth_failed",
    errind.DecryptionError: "decryption_failed",
    errind.UnknownUserName: "unknown_user",
    errind.NotInTimeWindow: "not_in_time_window",
    errind.UnsupportedSecurityLevel: "unsupported_security_level",
    errind.UnknownEngineID: "unknown_engine_id",
}


def user_data(usm: Usm) -> Any:
    """The pysnmp UsmUserData of an SNMPv3 credential (passphrases, localized by pysnmp)."""
    return UsmUserData(
        usm.user,
        authKey=usm.auth_key.reveal() if usm.auth_key else None,
        privKey=usm.priv_key.reveal() if usm.priv_key else None,
        authProtocol=AUTH[usm.auth_protocol] if usm.auth_protocol else usmNoAuthProtocol,
        privProtocol=PRIV[usm.priv_protocol] if usm.priv_protocol else usmNoPrivProtocol,
    )


def identity(usm: Usm) -> tuple[object, ...]:
    """What must be equal for two credentials of the same user name to share an engine."""
    return (usm.auth_protocol, usm.auth_key and usm.auth_key.reveal(), usm.priv_protocol,
            usm.priv_key and usm.priv_key.reveal())


class UserPlacement:
    """Which engine a v3 user goes to.

    A pysnmp engine holds one key set per user name: configuring another set for the same name
    replaces the first (and localizes the keys again), so two devices polled at once would be
    sent each other's keys. Its securityName indirection does not help: pysnmp 7.1 stores the row
    under the securityName but looks it up by user name for outgoing requests (UnknownSecurityName).
    Each engine therefore holds one key set per user name; a fleet that uses one key set per user
    name needs one engine."""

    def __init__(self) -> None:
        self._users: list[dict[str, tuple[object, ...]]] = [{}]

    def engine_index(self, usm: Usm) -> int:
        wanted = identity(usm)
        for index, users in enumerate(self._users):
            if users.setdefault(usm.user, wanted) == wanted:
                return index
        self._users.append({usm.user: wanted})
        return len(self._users) - 1


def report_error(indication: Any, where: str, user: str) -> SnmpError | None:
    """The typed error for a v3 REPORT indication, or None when it is not one."""
    for kind, name in _REPORTS.items():
        if isinstance(indication, kind):
            return usm_reports.report_error(name, where, user)
    return None

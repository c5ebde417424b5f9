"""What an SNMPv3 agent's REPORT (RFC 3414 usmStats*) means to an operator, for both engines:
the usmStats counter -> the typed error and its text. Knows no library."""

from __future__ import annotations

from poller.errors import (
    SnmpAuthFailed,
    SnmpDecryptionFailed,
    SnmpError,
    SnmpNotInTimeWindow,
    SnmpUnknownEngineId,
    SnmpUnknownUser,
    SnmpUnsupportedSecurityLevel,
)

#: usmStats counter name -> (its arc under usmStats 1.3.6.1.6.3.15.1.1, exception, text)
REPORTS: dict[str, tuple[int, type[SnmpError], str]] = {
    "unsupported_security_level": (
        1, SnmpUnsupportedSecurityLevel,
        "unsupported security level (the user is not configured for it on the agent)"),
    "not_in_time_window": (
        2, SnmpNotInTimeWindow, "not in time window (agent's engine boots/time moved?)"),
    "unknown_user": (3, SnmpUnknownUser, "unknown user {user!r}"),
    "unknown_engine_id": (4, SnmpUnknownEngineId, "unknown engine ID"),
    "auth_failed": (5, SnmpAuthFailed, "authentication failed (wrong auth key or protocol?)"),
    "decryption_failed": (
        6, SnmpDecryptionFailed, "decryption failed (wrong privacy key or protocol?)"),
}
USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
#: the REPORT varbind's OID -> the report's name
BY_OID: dict[tuple[int, ...], str] = {(*USM_STATS, arc, 0): name for name, (arc, _, _) in REPORTS.items()}

#: why an authPriv request may go unanswered: net-snmp drops a message it cannot decrypt (a wrong
#: privacy key, or a mismatched AES key extension) without a REPORT
PRIV_SILENCE = " (SNMPv3 authPriv: a wrong privacy key or protocol also goes unanswered)"


def report_error(name: str, where: str, user: str) -> SnmpError:
    _, exception, text = REPORTS[name]
    return exception(f"{where}: {text.format(user=user)}")

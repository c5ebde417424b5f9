"""The exception tree: one base, leaves that also inherit the matching builtin."""

from __future__ import annotations


class PollerError(Exception):
    """Base of every error poller raises on purpose."""


class ConfigError(PollerError, ValueError):
    """A config file is unreadable or invalid; the message is one line for the operator."""


class OutputError(PollerError, OSError):
    """The record files cannot be opened or written."""


class SnmpError(PollerError):
    """An SNMP operation failed. `error_type` is the stable name written into records."""

    error_type = "snmp_error"


class SnmpTimeout(SnmpError, TimeoutError):
    """No answer within timeout x (retries + 1)."""

    error_type = "timeout"


class SnmpWrongRequestId(SnmpTimeout):
    """No valid answer, but datagrams came from the agent's address with request-ids never sent."""

    error_type = "wrong_request_id"


class SnmpWrongSource(SnmpTimeout):
    """No valid answer, but answers to the request came from another address or port."""

    error_type = "wrong_source"


class SnmpUndecodable(SnmpTimeout):
    """No valid answer, but the agent's address sent datagrams that are not SNMP messages."""

    error_type = "decode"


class SnmpTransportError(SnmpError, OSError):
    """The request could not be sent (bad address, unreachable, socket error)."""

    error_type = "transport"


class SnmpAgentError(SnmpError):
    """The agent answered with a non-zero error-status (tooBig, genErr, noSuchName, ...)."""

    error_type = "agent_error"

    def __init__(self, message: str, *, status: str, index: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.index = index


class SnmpTooBig(SnmpAgentError):
    error_type = "too_big"


class SnmpNoSuchName(SnmpAgentError):
    error_type = "no_such_name"


class SnmpWalkError(SnmpError):
    """A walk was stopped by one of its guards."""

    error_type = "walk_error"


class SnmpNonIncreasingOid(SnmpWalkError):
    error_type = "non_increasing_oid"


class SnmpOidLoop(SnmpWalkError):
    """With non-increasing OIDs allowed, the agent returned an OID of the walk a second time."""

    error_type = "oid_loop"


class SnmpWalkLimit(SnmpWalkError):
    """A walk reached one of its caps; the error type names the device key that set it."""

    error_type = "walk_limit"


class SnmpWalkRequests(SnmpWalkLimit):
    error_type = "max_walk_requests"


class SnmpWalkRows(SnmpWalkLimit):
    error_type = "max_walk_rows"


class SnmpWalkTime(SnmpWalkLimit):
    error_type = "max_walk_time"


class SnmpWrongOid(SnmpError):
    """The agent answered a GET with other OIDs than the ones asked, or in another order."""

    error_type = "wrong_oid"


class SnmpDecodeError(SnmpError):
    error_type = "decode"


class SnmpSecurityError(SnmpError):
    """The agent refused an SNMPv3 request in a REPORT (RFC 3414 usmStats*)."""

    error_type = "security"


class SnmpUnexpectedReport(SnmpError):
    """SNMPv3: the agent answered with a REPORT outside the USM's (e.g. snmpUnknownContexts for a
    context it does not serve); the message names its OID."""

    error_type = "agent_report"


class SnmpAuthFailed(SnmpSecurityError):
    error_type = "auth_failed"


class SnmpDecryptionFailed(SnmpSecurityError):
    error_type = "decryption_failed"


class SnmpUnknownUser(SnmpSecurityError):
    error_type = "unknown_user"


class SnmpNotInTimeWindow(SnmpSecurityError):
    error_type = "not_in_time_window"


class SnmpUnsupportedSecurityLevel(SnmpSecurityError):
    error_type = "unsupported_security_level"


class SnmpUnknownEngineId(SnmpSecurityError):
    error_type = "unknown_engine_id"

"""Error messages shared by the requesters: who was asked, and what an error-status means."""

from __future__ import annotations

from collections.abc import Sequence

from poller.errors import SnmpAgentError, SnmpError, SnmpNoSuchName, SnmpTooBig
from poller.oid import Oid
from poller.snmp.types import Target


def who(target: Target) -> str:
    """'core-sw1 (192.0.2.1:161)', or just the address for ad-hoc targets."""
    if target.name in (target.address, target.host):
        return target.address
    return f"{target.name} ({target.address})"


def status_error(status: str, index: int, target: Target, oids: Sequence[Oid]) -> SnmpError:
    """The typed exception for a non-zero error-status (name as in RFC 3416)."""
    at = f" at {oids[index - 1]}" if 1 <= index <= len(oids) else ""
    message = f"{who(target)} answered {status}{at}"
    if status == "tooBig":
        return SnmpTooBig(message, status=status, index=index)
    if status == "noSuchName":
        return SnmpNoSuchName(message, status=status, index=index)
    return SnmpAgentError(message, status=status, index=index)

"""What a poll's summary record says of the poll: its outcome's counts and timings, and for a
poll that did not end well its status, `error_type`, a one-line `error`, and the part that was
running added to `failed_parts`."""

from __future__ import annotations

from typing import Any

from poller.config.model import Device
from poller.poll.device import PollOutcome


def _part(running: str) -> str:
    return running if running == "scalars" else "table " + running


def internal_error_fields(outcome: PollOutcome, exc: Exception) -> dict[str, Any]:
    """A poll that raised something other than an SNMP error: the exception's type and the part
    that was running (not its message, which could hold any value)."""
    running = outcome.running
    if running is not None:
        outcome.failed_parts.append({"part": running, "error_type": "internal_error"})
    where = f" while polling {_part(running)}" if running is not None else ""
    return {"status": "partial" if outcome.parts_ok else "error",
            "error_type": "internal_error",
            "error": f"internal error ({type(exc).__name__}){where}"}


def deadline_fields(device: Device, outcome: PollOutcome, queued: bool) -> dict[str, Any]:
    """A poll past its deadline: still queued for a slot (our saturation), or running."""
    if queued:
        # Our own saturation, not the device's fault: never blame it as a device timeout.
        return {"status": "skipped", "error_type": "queue_full",
                "error": f"no free slot within {device.poll_deadline_s:g} s "
                         "(raise daemon.max_in_flight?)"}
    status = "partial" if outcome.parts_ok else "timeout"
    running = outcome.running
    if running is not None:
        outcome.failed_parts.append({"part": running, "error_type": "poll_deadline"})
    where = f" ({_part(running)} was running)" if running is not None else ""
    return {"status": status, "error_type": "poll_deadline",
            "error": f"poll did not finish within {device.poll_deadline_s:g} s{where}"}


def outcome_fields(outcome: PollOutcome, fields: dict[str, Any], tick: float,
                   started: float | None, ended: float) -> dict[str, Any]:
    """The summary's fields after `device`, `address`, `seq`, `scheduled_at` (loop times)."""
    if "error_type" not in fields and outcome.error is not None:
        fields["error_type"] = outcome.error.error_type
        fields["error"] = outcome.error_message
    if outcome.failed_parts:
        fields["failed_parts"] = outcome.failed_parts
    if outcome.warnings:
        fields["warnings"] = outcome.warnings
    return {
        "duration_s": round(ended - started, 6) if started is not None else None,
        "queue_delay_s": round((started if started is not None else ended) - tick, 6),
        "requests": outcome.stats.requests,
        "varbinds": outcome.stats.varbinds,
        "rows": outcome.rows,
        "uptime_s": outcome.uptime_ticks / 100 if outcome.uptime_ticks is not None else None,
        "agent_restarted": outcome.agent_restarted,
        **fields,
    }

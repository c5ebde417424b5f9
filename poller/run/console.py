"""`--console`: one short human line per poll on stderr, for the terminal (`make run`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from poller.config.model import Device
from poller.output.sink import RecordSink
from poller.poll.device import PollOutcome

ConsoleWriter = Callable[[Device, dict[str, Any], PollOutcome, float], None]


def console_writer(sink: RecordSink) -> ConsoleWriter:
    def write(device: Device, fields: dict[str, Any], outcome: PollOutcome, took_s: float) -> None:
        sink.console_line(console_line(device, fields, outcome, took_s))

    return write


def console_line(device: Device, fields: dict[str, Any], outcome: PollOutcome, took_s: float) -> str:
    """One short human line per poll, for the terminal (`make run`)."""
    clock = datetime.now(UTC).strftime("%H:%M:%S")
    status = fields.get("status", "?")
    parts = [f"{clock} {device.name:<16} {status:<8} {took_s * 1000:7.1f} ms",
             f"{outcome.stats.requests:3d} req {outcome.stats.varbinds:5d} vb {outcome.rows:3d} rows"]
    for column, bps in sorted(outcome.bps_totals.items()):
        label = "in" if "In" in column else "out" if "Out" in column else column
        parts.append(f"{label} {_si(bps)}bit/s")
    if "error_type" in fields:
        parts.append(f"[{fields['error_type']}] {fields.get('error', '')}")
    return "  ".join(parts)


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:6.2f} {unit}"
    return f"{value:6.1f} "

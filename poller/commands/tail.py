"""`poller tail`: follow the data or events file by name across rotations, every line once
(poller.commands.follow), with simple filters, as JSON lines or one short line per record. Only
whole lines that are JSON objects are printed."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from poller.commands.follow import Follower, warn
from poller.config.load import load_config
from poller.config.model import OutputSettings
from poller.errors import ConfigError, OutputError

#: the fleet file of the systemd unit, where the file names come from by default
DEFAULT_CONFIG = "/etc/poller/poller.toml"
LINE_WIDTH = 160
#: the fields `--line` shows for an event, in this order; other events show all their fields
LINE_FIELDS = {"poll": ("status", "error_type", "duration_s", "rows", "error"),
               "row": ("table", "index")}

Record = dict[str, Any]


def add_parser(commands: Any) -> None:
    tail = commands.add_parser("tail", help="follow the records across rotations, every line once")
    tail.add_argument("file", nargs="?", metavar="FILE",
                      help="a records file (default: the data file of --config's [output])")
    tail.add_argument("--config", "-c", help=f"fleet file naming the files (default {DEFAULT_CONFIG})")
    tail.add_argument("--events", action="store_true", help="the events file, not the data file")
    start = tail.add_mutually_exclusive_group()
    start.add_argument("-n", dest="lines", type=_count, default=10, metavar="N",
                       help="begin with the last N lines (default 10)")
    start.add_argument("--from-start", action="store_true", help="begin at the active file's start")
    for key in ("device", "event", "status"):
        tail.add_argument(f"--{key}", action="append", metavar=key.upper(),
                          help=f"only records whose {key} is this (repeat for any of several)")
    tail.add_argument("--line", action="store_true", help="one short line per record, not JSON")
    tail.set_defaults(handler=run_tail)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines (0 or more)")
    return int(text)


def run_tail(args: argparse.Namespace) -> int:
    path = _file_of(args)
    select = _selector(args)
    out = sys.stdout.buffer
    # Ctrl-C (or kill -INT) ends the follow, even where SIGINT was inherited ignored (a
    # background job of a shell without job control): it is the only way it ends
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        follower = Follower(path, last_lines=None if args.from_start else args.lines)
        for chunk in follower.chunks():
            if data := _render(chunk, select, as_line=args.line):
                out.write(data)
                out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # the reader left (`| head`): nothing more to say, and nothing for exit to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        raise OutputError(f"cannot read {exc.filename or path}: {exc.strerror or exc}") from None
    return 0


def _file_of(args: argparse.Namespace) -> Path:
    if args.file is not None:
        if args.events or args.config:
            raise ConfigError("tail: give FILE, or --config/--events to find it, not both")
        return Path(args.file)
    output = output_of(Path(args.config or DEFAULT_CONFIG))
    return output.directory / (output.events_file if args.events else output.data_file)


def output_of(path: Path) -> OutputSettings:
    """The record files a fleet file names (its [output]), read as `poller check` reads it."""
    return load_config(path).output


def _selector(args: argparse.Namespace) -> Callable[[Record], bool]:
    wanted = [(key, frozenset(values)) for key in ("device", "event", "status")
              if (values := getattr(args, key))]

    def select(record: Record) -> bool:
        for key, values in wanted:
            value = record.get(key)
            if not isinstance(value, str) or value not in values:
                return False
        return True

    return select


def _render(chunk: bytes, select: Callable[[Record], bool], *, as_line: bool) -> bytes:
    out: list[bytes] = []
    for line in chunk.split(b"\n")[:-1]:
        record = _record(line)
        if record is not None and select(record):
            out.append(short_line(record).encode() + b"\n" if as_line else line + b"\n")
    return b"".join(out)


def _record(line: bytes) -> Record | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(line)  # integers wider than 64 bits
        except ValueError:
            value = None
    if isinstance(value, dict):
        return value
    if line.strip():
        warn(f"skipped a line that is not a JSON record: {line[:60]!r}")
    return None


def short_line(record: Record) -> str:
    """`timestamp event device field=value ...`, cut at LINE_WIDTH characters."""
    event = record.get("event")
    words = [_text(record[key]) for key in _HEAD if key in record]
    shown = LINE_FIELDS.get(event, ()) if isinstance(event, str) else ()
    keys = [key for key in shown if key in record]
    if event != "poll":  # a poll's other fields are bookkeeping; a row's are its data
        keys += [key for key in record if key not in shown and key not in _HEAD]
    text = " ".join(words + [f"{key}={_text(record[key])}" for key in keys])
    return text if len(text) <= LINE_WIDTH else text[:LINE_WIDTH - 1] + "…"


_HEAD = ("timestamp", "event", "device")


def _text(value: Any) -> str:
    if isinstance(value, str) and value.isprintable() and " " not in value and value:
        return value
    return json.dumps(value, ensure_ascii=False)

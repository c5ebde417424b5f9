"""`poller tail`: follow the data or events file by name across rotations, every line once.

`tail -F` reopens the active name when it leads to a new file, and so never reads the files
rotated away between two of its looks (a fast rotation, a busy reader). This follower keeps the
file it reads open; when the active name leads elsewhere it reads that file to its end, then the
rotated files that came after it (`poller.jsonl.1`, `.2` ... or `.N.gz`), oldest first, then the
new active file. The writer (poller.output.records) rotates by rename, never by copy, and closes
a file before it renames it, so a file rotated away is complete. A plain rotated file is known by
its inode (held open here, so never reused); a gzipped one by its size and first bytes.
Only whole lines that are JSON objects are printed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import stat
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import tomli

from poller.config.model import OutputSettings
from poller.config.reader import Reader
from poller.errors import ConfigError, OutputError

#: the fleet file of the systemd unit, where the file names come from by default
DEFAULT_CONFIG = "/etc/poller/poller.toml"
MAX_CONFIG_BYTES = 16 * 2**20
#: how often an idle follower looks for new lines and for a rotation
POLL_INTERVAL_S = 0.1
#: how soon the rotated files are listed again when a rotation was under way while listing
RESCAN_INTERVAL_S = 0.01
READ_BYTES = 1 << 20
#: how much of a file's beginning recognises its gzipped copy
HEAD_BYTES = 4096
LINE_WIDTH = 160
#: the fields `--line` shows for an event, in this order; other events show all their fields
LINE_FIELDS = {"poll": ("status", "error_type", "duration_s", "rows", "error"),
               "row": ("table", "index")}

Record = dict[str, Any]
Identity = tuple[int, int]


def _warn(message: str) -> None:
    print(f"poller tail: {message}", file=sys.stderr, flush=True)


class Follower:
    """The whole lines of a file and of each file that takes its name after it, in order."""

    def __init__(self, path: Path, *, last_lines: int | None,
                 interval_s: float = POLL_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._partial = b""
        self._handle = self._open_when_there()
        if last_lines is not None:
            self._handle.seek(_start_of_last(self._handle, last_lines))

    def chunks(self) -> Iterator[bytes]:
        """Runs of whole lines, for ever."""
        while True:
            data = self._handle.read(READ_BYTES)
            if data:
                if lines := self._whole(data):
                    yield lines
            elif self._rotated():
                yield from self._next_files()
            else:
                time.sleep(self.interval_s)

    def _open_when_there(self) -> IO[bytes]:
        said = False
        while (handle := _open_or_none(self.path)) is None:
            if not said:
                _warn(f"waiting for {self.path} to appear")
                said = True
            time.sleep(self.interval_s)
        return handle

    def _whole(self, data: bytes) -> bytes:
        """The whole lines of what was read; a partial last line waits for its end."""
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        return data[:end]

    def _rotated(self) -> bool:
        now = _identity_at(self.path)
        if now is None:
            return False  # between the rename and the new file, or removed: wait for the name
        if now != _identity(self._handle):
            return True
        if os.fstat(self._handle.fileno()).st_size < self._handle.tell():
            _warn(f"{self.path} was truncated: reading it from its start")
            self._handle.seek(0)
            self._partial = b""
        return False

    def _next_files(self) -> Iterator[bytes]:
        """The end of the file rotated away, the rotated files after it, then the new one."""
        yield from self._drain(self._handle, self.path)
        while (found := self._scan()) is None:
            time.sleep(RESCAN_INTERVAL_S)
        newer, active, reached = found
        if not reached and newer:
            _warn(f"{self.path}: the file being read was rotated out of reach (output.backups); "
                  "lines written between it and the oldest kept file are lost")
        self._handle.close()
        for name, handle in reversed(newer):
            with handle:
                yield from self._drain(handle, name)
        self._handle = active

    def _drain(self, handle: IO[bytes], name: Path) -> Iterator[bytes]:
        stream: gzip.GzipFile | IO[bytes] = handle
        if name.suffix == ".gz":
            stream = gzip.GzipFile(fileobj=handle)
        try:
            while data := stream.read(READ_BYTES):
                if lines := self._whole(data):
                    yield lines
        except (OSError, EOFError, zlib.error) as exc:
            _warn(f"cannot read {name}: {exc}; its remaining lines are lost")
        if self._partial:
            _warn(f"{name} ends in a partial line ({len(self._partial)} bytes): skipped")
            self._partial = b""

    def _scan(self) -> tuple[list[tuple[Path, IO[bytes]]], IO[bytes], bool] | None:
        """The rotated files newer than the one being read (newest first, open), the active
        file (open), and whether the one being read was found among the rotated files; all as
        they were at one moment (None while a rotation moved them: look again)."""
        active = _open_or_none(self.path)
        if active is None:
            return None  # renamed, the new file not made yet
        seen: dict[Path, Identity | None] = {self.path: _identity(active)}
        opened: list[tuple[Path, IO[bytes]]] = []
        missing, number, reached = 0, 1, False
        # a rotation shifts .k -> .k+1 downwards, so at most one number is missing at a time
        while missing < 2 and not reached:
            found = _open_backup(self.path, number, seen)
            if found is not None:
                opened.append(found)
                reached = _same_file(*found, self._handle)
            missing = 0 if found else missing + 1
            number += 1
        # every handle is still open here, so an unchanged inode is the same file
        coherent = all(_identity_at(name) == identity for name, identity in seen.items())
        newer = opened[:-1] if reached else opened
        for _, handle in (opened if not coherent else opened[len(newer):]):
            handle.close()
        if not coherent:
            active.close()
            return None
        return newer, active, reached


def _open_backup(path: Path, number: int,
                 seen: dict[Path, Identity | None]) -> tuple[Path, IO[bytes]] | None:
    """Rotated file `number` (`poller.jsonl.N` or `.N.gz`), open; what was seen noted in `seen`."""
    for name in (path.with_name(f"{path.name}.{number}"), path.with_name(f"{path.name}.{number}.gz")):
        handle = _open_or_none(name)
        seen[name] = _identity(handle) if handle else None
        if handle:
            return name, handle
    return None


def _open_or_none(path: Path) -> IO[bytes] | None:
    try:
        return open(path, "rb", buffering=0)  # closed by the Follower
    except FileNotFoundError:
        return None


def _identity(handle: IO[bytes]) -> Identity:
    held = os.fstat(handle.fileno())
    return held.st_dev, held.st_ino


def _identity_at(path: Path) -> Identity | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _same_file(name: Path, candidate: IO[bytes], held: IO[bytes]) -> bool:
    """Is `candidate` (a rotated file) the `held` one: the very file, or its gzipped copy (the
    same size, gzip's ISIZE being the size mod 2^32, and the same first bytes)."""
    if _identity(candidate) == _identity(held):
        return True
    if name.suffix != ".gz":
        return False
    size = os.fstat(held.fileno()).st_size
    head = os.pread(held.fileno(), HEAD_BYTES, 0)
    try:
        candidate.seek(-4, os.SEEK_END)
        if int.from_bytes(candidate.read(4), "little") != size % 2**32:
            return False
        candidate.seek(0)
        return gzip.GzipFile(fileobj=candidate).read(len(head)) == head
    except (OSError, EOFError, zlib.error):
        return False
    finally:
        candidate.seek(0)


def _start_of_last(handle: IO[bytes], count: int) -> int:
    """The offset where the last `count` whole lines begin (a partial line after them is left
    to be read whole once written)."""
    position = os.fstat(handle.fileno()).st_size
    newlines: list[int] = []
    while position > 0 and len(newlines) <= count:
        size = min(READ_BYTES, position)
        position -= size
        block = os.pread(handle.fileno(), size, position)
        end = len(block)
        while len(newlines) <= count and (end := block.rfind(b"\n", 0, end)) >= 0:
            newlines.append(position + end)
    return newlines[count] + 1 if len(newlines) > count else 0


# -- the command ----------------------------------------------------------------------------------


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
    """The record files of a fleet file: only its [output] names are read, so a fleet file whose
    secrets live in the service's environment or credentials still names them."""
    reader = Reader(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block, /dev/zero never end
            raise reader.fail("", "not a regular file")
        with path.open("rb") as file:
            text = file.read(MAX_CONFIG_BYTES + 1)
        if len(text) > MAX_CONFIG_BYTES:
            raise reader.fail("", f"larger than {MAX_CONFIG_BYTES // 2**20} MiB")
        doc = tomli.loads(text.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomli.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a TOML fleet file: {exc}") from None
    raw = doc.get("output", {})
    if not isinstance(raw, dict):
        raise reader.fail("output", "expected a table")
    base = OutputSettings()
    names = {key: reader.string(raw.get(key, str(getattr(base, key))), f"output.{key}")
             for key in ("directory", "data_file", "events_file")}
    return OutputSettings(directory=Path.cwd() / names["directory"],
                          data_file=names["data_file"], events_file=names["events_file"])


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
        _warn(f"skipped a line that is not a JSON record: {line[:60]!r}")
    return None


def short_line(record: Record) -> str:
    """`timestamp event device field=value ...`, cut at LINE_WIDTH characters."""
    event = str(record.get("event", ""))
    words = [str(record.get("timestamp", "")), event]
    if "device" in record:
        words.append(_text(record["device"]))
    shown = LINE_FIELDS.get(event, ())
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

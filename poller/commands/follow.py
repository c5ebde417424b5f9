"""Following a records file by name across rotations, every line once (for `poller tail`).

`tail -F` reopens the active name when it leads to a new file, and so never reads the files
rotated away between two of its looks (a fast rotation, a busy reader). This follower keeps the
file it reads open; when the active name leads elsewhere it reads that file to its end, then the
rotated files that came after it (`poller.jsonl.1`, `.2` ... or `.N.gz`), oldest first, then the
new active file. The writer (poller.output.rotating) rotates by rename, never by copy, and closes
a file before it renames it, so a file rotated away is complete. A plain rotated file is known by
its inode (held open here, so never reused); a gzipped one by its size and first bytes.
"""

from __future__ import annotations

import gzip
import os
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: how often an idle follower looks for new lines and for a rotation
POLL_INTERVAL_S = 0.1
#: how soon the rotated files are listed again when a rotation was under way while listing
RESCAN_INTERVAL_S = 0.01
READ_BYTES = 1 << 20
#: how much of a file's beginning recognises its gzipped copy
HEAD_BYTES = 4096

Identity = tuple[int, int]


def warn(message: str) -> None:
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
            self._handle.seek(start_of_last(self._handle, last_lines))

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
                warn(f"waiting for {self.path} to appear")
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
            warn(f"{self.path} was truncated: reading it from its start")
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
            warn(f"{self.path}: the file being read was rotated out of reach (output.backups); "
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
            warn(f"cannot read {name}: {exc}; its remaining lines are lost")
        if self._partial:
            warn(f"{name} ends in a partial line ({len(self._partial)} bytes): skipped")
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


def start_of_last(handle: IO[bytes], count: int) -> int:
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

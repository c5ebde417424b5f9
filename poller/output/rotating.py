"""One JSON-lines file with size (and age) rotation by rename: `poller.jsonl` -> `poller.jsonl.1`
... with a fixed active name, never splitting a line, optionally gzipping what it rotates out.
Used by the writer thread only.

A rotation that fails (a read-only directory, a name in the way) loses nothing: the open file is
still writable, so it takes the records past `max_bytes`, and the rotation is tried again after
1 s, 2 s, 4 s ... up to a minute. The file says so in a `rotation_failed` notice when a spell of
failures begins and a `rotation_recovered` one when a rotation works again; the writer turns
them into events.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from poller.config.model import OutputSettings
from poller.schema import ROTATION_FAILED, ROTATION_RECOVERED

#: after a failed rotation the next try waits this long, doubling after each failure up to
#: ROTATE_RETRY_MAX_S: soon enough to notice a fixed directory, rare enough to cost nothing
ROTATE_RETRY_FIRST_S, ROTATE_RETRY_MAX_S = 1.0, 60.0

#: something the writer should say in the events file: (event, fields)
Notice = tuple[str, dict[str, Any]]


class RotatingFile:
    """One JSON-lines file with size rotation by rename. Used by the writer thread only."""

    _now = staticmethod(time.monotonic)  # the clock of the rotation's retries

    def __init__(self, path: Path, output: OutputSettings) -> None:
        self.path = path
        self.max_bytes = output.max_bytes
        self.max_age_s = output.max_age_s
        self.backups = output.backups
        self.compress = output.compress
        self._opened_at = time.monotonic()
        self._handle: BinaryIO | None = None
        self._size = 0
        self._failing = False
        self._checked_at = time.monotonic()
        #: a spell of failed rotations: when it began, how many tries failed, the wait before
        #: the next try (0: rotation works) and when that is due
        self._rotation_failing_since = 0.0
        self._rotation_failures = 0
        self.retry_in_s = 0.0
        self._retry_at = 0.0
        self._notices: list[Notice] = []

    def open(self) -> None:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)  # it may have been removed
        # unbuffered: every batch is one joined write of whole lines, and a failed write leaves
        # nothing behind in a buffer to be written later in pieces
        self._handle = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - closed by close()
        self._size = self._handle.seek(0, os.SEEK_END)
        self._opened_at = time.monotonic()
        if self._size and os.pread(self._handle.fileno(), 1, self._size - 1) != b"\n":
            # a torn last line (a crash, a full disk): end it, so the next record stays whole
            self._write(b"\n")

    def write_lines(self, lines: list[bytes]) -> int:
        """Write `lines`, rotating between them as needed. Returns how many were lost."""
        done = 0
        try:
            if self._handle is not None and self._moved_away():
                self._handle.close()
                self._handle = None
            if self._handle is None:
                self.open()
            if (self.max_age_s and self._size and time.monotonic() - self._opened_at >= self.max_age_s
                    and self._may_rotate()):
                self._rotate()
            pending: list[bytes] = []
            pending_size = 0
            for line in lines:
                if (self._size + pending_size + len(line) > self.max_bytes and self._size + pending_size
                        and self._may_rotate()):
                    done += self._flush(pending)
                    pending, pending_size = [], 0
                    self._rotate()
                pending.append(line)
                pending_size += len(line)
            done += self._flush(pending)
        except OSError as exc:
            self._fail(exc)
            return len(lines) - done
        if self._failing:
            self._failing = False
            print(f"poller: writing {self.path} again", file=sys.stderr)
        return 0

    @property
    def failing(self) -> bool:
        """Whether the last batch could not be written (records were lost)."""
        return self._failing

    def _moved_away(self) -> bool:
        """True when the active name no longer leads to our open file (the file or its directory
        was removed or renamed by someone else): writing on would go nowhere anyone reads. Checked
        at most once a second."""
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return False
        self._checked_at = now
        assert self._handle is not None
        try:
            return os.stat(self.path).st_ino != os.fstat(self._handle.fileno()).st_ino
        except OSError:
            return True

    def _flush(self, pending: list[bytes]) -> int:
        self._write(b"".join(pending))
        return len(pending)

    def _write(self, data: bytes) -> None:
        assert self._handle is not None
        view = memoryview(data)
        while view:
            written = self._handle.write(view)
            view = view[written or 0:]
        self._size += len(data)

    def _may_rotate(self) -> bool:
        """False while a failed rotation waits for its next try."""
        return not self.retry_in_s or self._now() >= self._retry_at

    def _rotate(self) -> None:
        """Move the active file aside and open a new one under its name; when it cannot be moved,
        keep writing to it and try again later (only opening the new file may raise)."""
        assert self._handle is not None
        try:
            self._move_aside()
        except OSError as exc:
            self._rotation_failed(exc)
            return
        self._handle.close()
        self._handle = None
        self._rotation_worked()
        self.open()
        self._remove_extra_backups()

    def _move_aside(self) -> None:
        """Rename (or gzip, or remove) the active file, which stays open, out of its name."""
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
            return
        # shift .1 .. .k up by one, where .k is the last of the contiguous run (or the oldest
        # kept, which the shift then replaces); files beyond it are not ours to keep
        last = 1
        while last < self.backups and self._backup(last).exists():
            last += 1
        for n in range(last - 1, 0, -1):
            os.replace(self._backup(n), self._backup(n + 1))
        if self.compress:
            _gzip(self.path, self._backup(1))
        else:
            os.replace(self.path, self._backup(1))

    def _remove_extra_backups(self) -> None:
        """Backups left from a larger `backups` setting: the oldest beyond the count go. One
        that cannot be removed is tried again at the next rotation."""
        extra = self.backups + 1
        try:
            while self._backup(extra).exists():
                self._backup(extra).unlink()
                extra += 1
        except OSError as exc:
            print(f"poller: cannot remove {self._backup(extra)}: {exc.strerror or exc}",
                  file=sys.stderr)

    def _rotation_failed(self, exc: OSError) -> None:
        now = self._now()
        self._rotation_failures += 1
        if not self.retry_in_s:
            self._rotation_failing_since = now
            self.retry_in_s = ROTATE_RETRY_FIRST_S
            error = f"{exc.strerror or exc}" + (f": {exc.filename2 or exc.filename}"
                                                 if exc.filename else "")
            print(f"poller: cannot rotate {self.path}: {error}; writing on to it past max_bytes, "
                  "rotation tried again later", file=sys.stderr)
            self._notices.append((ROTATION_FAILED, {
                "file": str(self.path), "error": error, "retry_in_s": self.retry_in_s}))
        else:
            self.retry_in_s = min(self.retry_in_s * 2, ROTATE_RETRY_MAX_S)
        self._retry_at = now + self.retry_in_s

    def _rotation_worked(self) -> None:
        if self.retry_in_s:
            self._notices.append((ROTATION_RECOVERED, {
                "file": str(self.path),
                "failed_s": round(self._now() - self._rotation_failing_since, 3),
                "failed_tries": self._rotation_failures, "size_bytes": self._size}))
            print(f"poller: rotating {self.path} again", file=sys.stderr)
        self.retry_in_s = 0.0
        self._rotation_failures = 0

    def take_notices(self) -> list[Notice]:
        """What happened to the rotation since the last call, for the events file."""
        notices, self._notices = self._notices, []
        return notices

    def _backup(self, n: int) -> Path:
        suffix = ".gz" if self.compress else ""
        return self.path.with_name(f"{self.path.name}.{n}{suffix}")

    def _fail(self, exc: OSError) -> None:
        """Report once per failing spell; the next batch tries to open the file again."""
        if not self._failing:
            print(f"poller: cannot write {self.path}: {exc.strerror or exc}; records are dropped "
                  "and counted until it works again", file=sys.stderr)
        self._failing = True
        if self._handle is not None:
            try:
                # cut a partly written batch back to the last whole line this file holds
                os.ftruncate(self._handle.fileno(), self._size)
            except OSError:
                pass
            try:
                self._handle.close()
            except OSError:
                pass
        self._handle = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _gzip(source: Path, target: Path) -> None:
    """Compress `source` into `target` (via a temporary name, so a reader never sees half a
    file), then remove `source`."""
    partial = target.with_name(target.name + ".part")
    with open(source, "rb") as raw, gzip.open(partial, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(raw, packed, 1 << 20)
    os.replace(partial, target)
    source.unlink()

"""Reading the files a fleet file names (itself, secret files): regular files only, and never
more than a cap, so a FIFO cannot hang a load and /dev/zero cannot exhaust memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: the largest fleet file read (a fleet of 100,000 devices is ~10 MiB)
MAX_CONFIG_BYTES = 16 * 2**20
MAX_CONFIG_TEXT = "16 MiB"
#: the largest secret file read (a community or key is a line)
MAX_SECRET_BYTES = 64 * 2**10
MAX_SECRET_TEXT = "64 KiB"


def read_regular(path: Path, max_bytes: int, max_text: str) -> bytes:
    """The bytes of `path`; ValueError with the reason alone (no path) when it is not a regular
    file, cannot be read or is larger than `max_bytes`."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"not a regular file ({_kind(mode)})")
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise ValueError(f"larger than {max_text} (the most read)")
    return b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"

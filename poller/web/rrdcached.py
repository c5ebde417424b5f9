"""The rrdcached the pages read through (`--daemon` on librrd's `info` and `fetch`, which makes
it write what it holds of a file first), and what the pages say when they cannot.

librrd itself cannot be asked whether it went through the daemon: when the socket does not
answer it reads the file alone and says nothing, and a daemon that accepts but never answers
(stopped, overloaded) blocks it for good. So before librrd is handed the address, the daemon is
asked `PING` on its unix socket with a deadline: only a `0 PONG` in time lets the pages read
through it; else they read the files and carry one line saying their values may be late."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

#: how long the daemon may take to answer PING before the pages read the files alone
PING_TIMEOUT_S = 1.0
#: a PING answered vouches for the daemon this long; a PING not answered is retried after it
CHECK_EVERY_S = 2.0
#: what a page whose values may be late says after the reason
LATE = ("the pages read the RRD files alone, whose values may be as old as rrdcached's write "
        "delay (-w)")


def ping(address: str, timeout_s: float = PING_TIMEOUT_S) -> str | None:
    """None when rrdcached at `address` ("unix:/path") answers PING in time, else why not."""
    path = address.removeprefix("unix:")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as link:
            link.settimeout(timeout_s)
            link.connect(path)
            link.sendall(b"PING\n")
            answer = link.recv(64)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None if answer.startswith(b"0 PONG") else f"answered {answer[:40]!r}"


class Rrdcached:
    """Whether the pages read through rrdcached now, shared by the server's threads."""

    def __init__(self, address: str | None, history_rrdcached: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address = address
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at = -CHECK_EVERY_S
        self._problem: str | None = None
        #: without an address of its own, the pages cannot read through a TCP history's daemon
        self._fixed = None if address or not history_rrdcached else (
            f"[history] rrdcached {history_rrdcached} is on TCP and [web] rrdcached names no "
            f"unix socket of it: {LATE}")

    def args(self) -> tuple[str, ...]:
        """librrd's `--daemon ADDRESS` when the daemon answers, else nothing (read the files)."""
        if self.address is None:
            return ()
        with self._lock:
            now = self._clock()
            if now - self._checked_at >= CHECK_EVERY_S:
                self._problem = ping(self.address)
                self._checked_at = now
            problem = self._problem
        return () if problem else ("--daemon", self.address)

    def warning(self) -> str | None:
        """The one line a page shows when its values may be late; None when they are not."""
        if self._fixed is not None:
            return self._fixed
        if self.args() or self.address is None:
            return None
        return f"rrdcached {self.address} is out of reach ({self._problem}): {LATE}"

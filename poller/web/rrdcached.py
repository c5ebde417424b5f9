"""The rrdcached that holds the files' newest values, asked to write a file (`FLUSH`) before the
pages read it, and what the pages say when it cannot be asked.

The pages speak rrdcached's protocol on its unix socket themselves rather than hand librrd
`--daemon`: librrd cannot be asked whether it went through the daemon (when the socket does not
answer it reads the file alone and says nothing), and a daemon that takes the connection but
never answers (stopped, overloaded) blocks it for good. Here every question has a deadline; a
daemon that did not answer is asked again only after a while, and until it answers every page
carries one line saying its values may be as old as rrdcached's write delay."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: how long rrdcached may take to answer (a FLUSH waits for the file's write)
ANSWER_TIMEOUT_S = 2.0
#: a daemon that did not answer is asked again after this long; one that did, re-checked by
#: PING after this long on pages that flush nothing (the fleet page)
CHECK_EVERY_S = 5.0
#: what a page whose values may be late says after the reason
LATE = ("the pages read the RRD files alone, whose values may be as old as rrdcached's write "
        "delay (-w)")


def ask(address: str, command: str, timeout_s: float = ANSWER_TIMEOUT_S) -> tuple[bool, str]:
    """(answered, text): rrdcached's one-line answer to `command` on its unix socket; answered
    is False when it could not be had in time (the text says why)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as link:
            link.settimeout(timeout_s)
            link.connect(address.removeprefix("unix:"))
            link.sendall(command.encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n") and len(answer) < 4096:
                chunk = link.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except TimeoutError:
        return False, f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return False, exc.strerror or str(exc)
    if not answer:
        return False, "closed the connection without an answer"
    return True, answer.decode(errors="replace").strip()


def _quoted(path: Path) -> str:
    """A file name as rrdcached's protocol takes it (as librrd sends it): absolute, with
    backslashes and spaces escaped."""
    return os.path.realpath(path).replace("\\", "\\\\").replace(" ", "\\ ")


class Rrdcached:
    """Whether the pages read fresh files now, shared by the server's threads."""

    def __init__(self, address: str | None, history_rrdcached: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address = address
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at = -CHECK_EVERY_S
        self._problem: str | None = None
        #: without an address of its own, the pages cannot reach a TCP history's daemon
        self._fixed = None if address or not history_rrdcached else (
            f"[history] rrdcached {history_rrdcached} is on TCP and [web] rrdcached names no "
            f"unix socket of it: {LATE}")

    def flush(self, path: Path) -> None:
        """Have rrdcached write what it holds of `path`, unless it is known to be out of reach
        (then the page reads the file as it is, and says so)."""
        if self.address is None or self._down():
            return
        answered, text = ask(self.address, f"FLUSH {_quoted(path)}")
        if not answered:
            self._note(f"is out of reach ({text})")
        elif text.startswith("-") and "No such file" not in text:
            # e.g. "-1 PATH: Permission denied": with -B, a file outside its base directory
            self._note(f"refuses to write {path.name} ({text}; with -B it takes only files "
                       "under its base directory, -b)")
        else:  # "-1 No such file": it holds nothing of it, and reading it tells the rest
            self._note(None)

    def warning(self) -> str | None:
        """The one line a page shows when its values may be late; None when they are not."""
        if self._fixed is not None:
            return self._fixed
        if self.address is None:
            return None
        with self._lock:
            stale = self._clock() - self._checked_at >= CHECK_EVERY_S
        if stale:
            answered, text = ask(self.address, "PING")
            self._note(None if answered and text.startswith("0")
                       else f"is out of reach ({text})")
        problem = self._problem
        return None if problem is None else f"rrdcached {self.address} {problem}: {LATE}"

    def _down(self) -> bool:
        with self._lock:
            return (self._problem is not None
                    and self._clock() - self._checked_at < CHECK_EVERY_S)

    def _note(self, problem: str | None) -> None:
        with self._lock:
            self._problem = problem
            self._checked_at = self._clock()

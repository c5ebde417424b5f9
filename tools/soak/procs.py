"""The processes a soak starts, each stopped by its own pid with bounded waits, and each set to die
with the soak (PR_SET_PDEATHSIG) should the soak itself be killed."""

from __future__ import annotations

import ctypes
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from tools.soak.settings import ROOT

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Children:
    """Every process started, so that one `stop_all` ends them whatever happened."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: Sequence[str], *, stdout: Any = subprocess.DEVNULL,
              stderr: IO[bytes] | int = subprocess.DEVNULL,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(list(argv), cwd=ROOT, stdout=stdout, stderr=stderr, env=env,
                                 preexec_fn=_die_with_parent)  # noqa: PLW1509 - no threads yet
        self.started.append(child)
        return child

    def python(self, module: str, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        return self.start([sys.executable, "-m", module, *args], **kwargs)

    def stop_all(self, grace_s: float = 20.0) -> None:
        for child in reversed(self.started):
            stop(child, grace_s)


def stop(child: subprocess.Popen[bytes], grace_s: float) -> int | None:
    """SIGTERM, then SIGKILL after `grace_s`; the exit code (None: it had to be killed)."""
    if child.poll() is not None:
        return child.returncode
    child.send_signal(signal.SIGTERM)
    try:
        return child.wait(grace_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(10)
        return None


def first_line(child: subprocess.Popen[bytes], what: str, timeout_s: float = 60.0) -> str:
    """The first line a child prints (its `ready`), within `timeout_s`."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            break
        ready, _, _ = select.select([child.stdout], [], [], 0.5)
        if ready:
            return child.stdout.readline().decode().strip()
    raise SystemExit(f"soak: {what} did not start within {timeout_s:g} s")


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def events_of(records: Path) -> list[dict[str, Any]]:
    """The whole lines of the active events file and its last rotation that are events."""
    out: list[dict[str, Any]] = []
    for path in (records / "events.jsonl.1", records / "events.jsonl"):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for line in data.splitlines():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    return out


def wait_started(records: Path, pid: int, child: subprocess.Popen[bytes],
                 timeout_s: float = 90.0) -> bool:
    """True once the daemon `pid` wrote its `started` event (its signal handlers are in place
    then); False when it exited or took longer than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and child.poll() is None:
        if any(e.get("event") == "started" and e.get("pid") == pid for e in events_of(records)):
            return True
        time.sleep(0.25)
    return False

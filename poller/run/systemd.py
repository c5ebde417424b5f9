"""The sd_notify protocol over $NOTIFY_SOCKET (stdlib only); a no-op when it is not set.

READY=1 once scheduling is up, RELOADING=1 + MONOTONIC_USEC around a reload, STOPPING=1 at drain,
STATUS= a short live summary, WATCHDOG=1 only while polls are completing (the daemon decides).
"""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._socket: socket.socket | None = None
        self._address = ""
        if address:
            # "@name" is an abstract socket: its first byte is NUL
            self._address = "\0" + address[1:] if address.startswith("@") else address
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        watchdog_for_us = usec.isdigit() and (not pid or pid == str(os.getpid()))
        #: seconds between WATCHDOG=1 pings (half the watchdog timeout), None when not asked for
        self.watchdog_interval_s = int(usec) / 2e6 if watchdog_for_us and int(usec) > 0 else None

    def send(self, *fields: str) -> None:
        if self._socket is None:
            return
        try:
            # never wait: a listener that stopped reading must not stall the daemon's loop
            self._socket.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, self._address)
        except OSError:
            pass  # systemd gone, not listening or not reading: nothing a poller can do about it

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

"""A UDP relay on loopback that answers late: each request is passed on to a real agent after
`delay_s`, and its answer relayed back. Turns snmpd into a slow device."""

from __future__ import annotations

import socket
import threading


class SlowRelay:
    def __init__(self, upstream_port: int, delay_s: float) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay_s = delay_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            timer = threading.Timer(self.delay_s, self._relay, (data, client))
            timer.daemon = True
            timer.start()

    def _relay(self, data: bytes, client: tuple[str, int]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(2.0)
            upstream.sendto(data, self.upstream)
            try:
                answer = upstream.recv(65535)
            except TimeoutError:
                return
        if not self._stop.is_set():
            self.sock.sendto(answer, client)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

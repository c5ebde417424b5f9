"""The fleet's UDP server: one socket per simulated device (127.0.0.1 by default, consecutive
ports from `base_port`), split into port ranges over worker processes, each an epoll loop that
answers v1/v2c GET, GETNEXT and GETBULK from the devices' models.

Why one port per device on one loopback address: the poller tells devices apart by host:port
exactly as it does on a real network, so nothing in it changes; 10,000 sockets fit the fd limit
(20,000 here) without root, addresses to configure, or a namespace of our own; and a port range
per worker needs no SO_REUSEPORT balancing. Every worker counts what it received and answered,
per device, and its own CPU time, into `stats_dir/worker-N.json` (every few seconds and at exit),
so a run can tell a false timeout (answered here, not taken in time there) from a real one.

`delay_s` (with `jitter_s`, uniform either side) holds every answer that long before it is sent:
a slow path on a network namespace whose kernel has no netem to delay packets.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import os
import random
import resource
import select
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path

from tools.fleet import codec
from tools.fleet.models import Device, Model, render

STATS_EVERY_S = 5.0
RECEIVE_BUFFER = 1 << 20


@dataclass(frozen=True)
class FleetSpec:
    devices: int
    models: tuple[Model, ...]
    host: str = "127.0.0.1"
    base_port: int = 30000
    community: bytes = b"public"
    workers: int = 1
    stats_dir: Path | None = None
    #: each answer held this long (plus or minus up to jitter_s) before it is sent
    delay_s: float = 0.0
    jitter_s: float = 0.0

    def device(self, n: int) -> Device:
        """Device n: its model in turn, a rate factor in [0.5, 1.5) and offsets that differ."""
        return Device(
            model=self.models[n % len(self.models)],
            factor=0.5 + (n * 0.6180339887) % 1.0,
            offset=(n * 2_654_435_761) % 2**31,
            uptime_offset=(n * 99_991) % (30 * 86_400 * 100),
        )

    def ranges(self) -> list[range]:
        per = -(-self.devices // self.workers)
        return [range(start, min(start + per, self.devices))
                for start in range(0, self.devices, per)]


class Worker:
    """One process's share of the fleet: devices `numbers`, on ports base_port + n."""

    def __init__(self, spec: FleetSpec, index: int, numbers: range, started_at: float) -> None:
        self.spec = spec
        self.index = index
        self.numbers = numbers
        self.started_at = started_at
        self.received = 0
        self.answered = 0
        self.dropped = 0
        self.answered_by_device = [0] * len(numbers)
        self.stopping = False
        #: CPU time spent before serving (models, sockets), left out of the stats
        self.cpu_before_s = 0.0
        #: answers held back (delay_s): (due, order, socket, answer, source)
        self.held: list[tuple[float, int, socket.socket, bytes, tuple[str, int]]] = []
        self.order = 0

    def bind(self) -> dict[int, tuple[socket.socket, int, Device]]:
        sockets = {}
        for local, n in enumerate(self.numbers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((self.spec.host, self.spec.base_port + n))
            sock.setblocking(False)
            sockets[sock.fileno()] = (sock, local, self.spec.device(n))
        return sockets

    def serve(self, sockets: dict[int, tuple[socket.socket, int, Device]]) -> None:
        self.cpu_before_s = _cpu_s()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        poller = select.epoll()
        for fd in sockets:
            poller.register(fd, select.EPOLLIN)
        next_stats = time.monotonic() + STATS_EVERY_S
        while not self.stopping:
            wait = 0.5 if not self.held else min(0.5, max(0.0, self.held[0][0] - time.monotonic()))
            for fd, _ in poller.poll(wait):
                sock, local, device = sockets[fd]
                self._drain(sock, local, device)
            self._send_due()
            if time.monotonic() >= next_stats:
                self.write_stats()
                next_stats += STATS_EVERY_S
        self.write_stats()

    def _drain(self, sock: socket.socket, local: int, device: Device) -> None:
        while True:
            try:
                data, source = sock.recvfrom(65535)
            except BlockingIOError:
                return
            self.received += 1
            answer = self.answer(data, device)
            if answer is None:
                self.dropped += 1
                continue
            if self.spec.delay_s > 0:
                due = time.monotonic() + self.spec.delay_s + random.uniform(
                    -self.spec.jitter_s, self.spec.jitter_s)
                self.order += 1
                heapq.heappush(self.held, (due, self.order, sock, answer, source))
            else:
                self._send(sock, answer, source)
            self.answered += 1
            self.answered_by_device[local] += 1

    def _send_due(self) -> None:
        now = time.monotonic()
        while self.held and self.held[0][0] <= now:
            _, _, sock, answer, source = heapq.heappop(self.held)
            self._send(sock, answer, source)

    @staticmethod
    def _send(sock: socket.socket, answer: bytes, source: tuple[str, int]) -> None:
        try:
            sock.sendto(answer, source)
        except OSError:
            pass  # the network lost it (a namespace that drops packets may refuse the send)

    def answer(self, data: bytes, device: Device) -> bytes | None:
        try:
            request = codec.decode_request(data)
        except codec.Malformed:
            return None
        if request.community != self.spec.community or request.version not in (0, 1):
            return None
        template = device.model.template(request)
        if template is None:
            return None
        return render(template, request, device, time.time() - self.started_at)

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def write_stats(self) -> None:
        if self.spec.stats_dir is None:
            return
        stats = {
            "worker": self.index, "first_device": self.numbers.start, "devices": len(self.numbers),
            "received": self.received, "answered": self.answered, "dropped": self.dropped,
            "cpu_s": round(_cpu_s() - self.cpu_before_s, 3),
            "answered_by_device": self.answered_by_device,
        }
        path = self.spec.stats_dir / f"worker-{self.index}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats))
        os.replace(tmp, path)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_main(spec: FleetSpec, index: int, numbers: range, started_at: float,
                 ready: Event) -> None:
    worker = Worker(spec, index, numbers, started_at)
    sockets = worker.bind()
    ready.set()
    worker.serve(sockets)


def serve(spec: FleetSpec, on_ready: object = None) -> int:
    """Run the fleet until SIGTERM/SIGINT: start the workers, call `on_ready()` once every
    socket is bound, then wait; the workers write their stats as they stop."""
    context = multiprocessing.get_context("fork")  # the models are shared copy-on-write
    started_at = time.time()
    workers = []
    for index, numbers in enumerate(spec.ranges()):
        ready = context.Event()
        process = context.Process(target=_worker_main, name=f"fleet-worker-{index}", daemon=True,
                                  args=(spec, index, numbers, started_at, ready))
        process.start()
        workers.append((process, ready))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    for process, ready in workers:
        while not ready.wait(0.2):
            if not process.is_alive():
                _terminate(workers)
                return 1
    if callable(on_ready):
        on_ready()
    while not stop and all(process.is_alive() for process, _ in workers):
        time.sleep(0.2)
    failed = not stop
    _terminate(workers)
    return 1 if failed else 0


def _terminate(workers: Sequence[tuple[BaseProcess, object]]) -> None:
    for process, _ in workers:
        if process.is_alive():
            process.terminate()
    for process, _ in workers:
        process.join(10)

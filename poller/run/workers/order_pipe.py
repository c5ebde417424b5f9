"""The supervisor's side of a worker's order pipe, written by a thread of its own.

A Start or Apply order carries the worker's whole share of the fleet, about 0.55 MiB pickled
for 5,000 devices: pickling it takes tens of milliseconds, and a share larger than the pipe
waits for the worker to read it, which a worker that is still starting does only after its
imports. Neither may hold the supervisor's event loop, so this thread does both. Orders reach
the worker whole and in the order given; a worker that is gone reads none (the end of its
records pipe tells the supervisor)."""

from __future__ import annotations

import queue
import threading
from multiprocessing.connection import Connection

from poller.run.workers.messages import Order


class OrderPipe:
    def __init__(self, conn: Connection, name: str) -> None:
        self._queue: queue.SimpleQueue[Order | None] = queue.SimpleQueue()
        threading.Thread(target=self._write, args=(conn,), name=name, daemon=True).start()

    def send(self, order: Order) -> None:
        """The order goes after those given before it; never waits."""
        self._queue.put(order)

    def close(self) -> None:
        """No more orders: the pipe closes once those given are written or the worker is gone."""
        self._queue.put(None)

    def _write(self, conn: Connection) -> None:
        try:
            while (order := self._queue.get()) is not None:
                conn.send(order)
        except OSError:
            pass  # the worker is gone: it reads no more orders
        finally:
            conn.close()

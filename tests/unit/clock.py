"""An asyncio event loop on virtual time: sleeps and timeouts complete at once, in order.

When nothing is ready to run, the loop's selector jumps the clock to the next timer instead of
waiting, so a test of a 60 s schedule over ten minutes takes milliseconds and is exact.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.BaseSelector):
    def __init__(self, clock: VirtualClock) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("virtual clock: nothing scheduled and nothing ready (deadlock)")
        self._clock.now += max(0.0, timeout)
        return []

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class VirtualClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.loop = _VirtualLoop(self)

    def stall(self, seconds: float) -> None:
        """Pretend the loop was blocked (a CPU hog) for `seconds`."""
        self.now += seconds

    def run(self, main: Callable[[], Awaitable[T]]) -> T:
        try:
            return self.loop.run_until_complete(main())
        finally:
            self.loop.close()


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        super().__init__(selector=_JumpingSelector(clock))

    def time(self) -> float:
        return self._clock.now

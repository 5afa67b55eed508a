"""Helpers for the limiter tests: clocks that tests move by hand, an asyncio loop on virtual time, and the
measure every invariant test applies (the most send times in any window).

``VirtualTimeLoop`` is a real asyncio event loop whose clock jumps ahead whenever every coroutine is
waiting on a timer, so 10,000 coroutines waiting 17 virtual minutes for their slots finish in seconds,
and every time the limiter sees is exact (no scheduler noise: the tests assert no timing).
"""

from __future__ import annotations

import asyncio
import selectors
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class FakeClock:
    """A clock that only moves when someone sleeps (or the test moves it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class _JumpSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Polls real I/O without blocking; when nothing is ready and a timer is due later, moves the
    loop's virtual clock to it instead of sleeping."""

    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> Any:
        ready = super().select(0)
        if ready or timeout is None:
            return ready or super().select(None)
        self.loop.vt += max(0.0, timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual (starts at 1,000 s) and jumps over idle waits."""

    def __init__(self) -> None:
        selector = _JumpSelector()
        super().__init__(selector)
        selector.loop = self
        self.vt = 1000.0

    def time(self) -> float:
        return self.vt

    def stall(self, seconds: float) -> None:
        """Simulate a callback that blocks the loop for ``seconds`` (a busy triggerer)."""
        self.vt += seconds


def run_virtual(main: Callable[[VirtualTimeLoop], Awaitable[T]]) -> T:
    """Run ``main(loop)`` to completion on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


def busiest(times: Sequence[float], width: float) -> int:
    """The most of ``times`` in any half-open window ``[t, t + width)``."""
    ts = sorted(times)
    return max((bisect_left(ts, t + width) - i for i, t in enumerate(ts)), default=0)

"""KeyRateLimiter: waits for a send slot (threads and coroutines alike) and adapts to the key's 429s."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, NamedTuple, Protocol, TypeVar

from airflow_provider_msgflash.ratelimit._rules import DEFAULT_MARGIN, Policy, State, book, confirm, on_answer
from airflow_provider_msgflash.ratelimit._stores import FileStore, MemoryStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class Store(Protocol):
    """Runs ``fn(state, now)`` atomically on the shared state (see ``_stores``)."""

    blocking: bool

    def run(self, fn: Callable[[State, float], T]) -> T: ...


class Permit(NamedTuple):
    """What :meth:`KeyRateLimiter.acquire` grants: the slot used, its generation, whether the limit (not
    the demand) made it wait, and when it was granted (store clock; within ``policy.late`` of the
    slot). Hand it back with the answer to :meth:`KeyRateLimiter.report`."""

    slot: float
    gen: int
    waited: bool
    at: float


#: The permit of a limiter that is off.
OPEN = Permit(0.0, -1, False, 0.0)

_Step = Callable[[State, float], tuple[float, int, float]]


def _advance(steps: Generator[_Step | float, Any, Permit], reply: Any) -> _Step | float | Permit:
    """The next step of :meth:`KeyRateLimiter._steps`, or the permit once it is done."""
    try:
        return steps.send(reply)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


#: A loop turn this short (seconds) means the loop is calm: a request started now leaves now.
CALM_TURN = 0.005


async def _pause(seconds: float) -> Any:
    """Sleep; ``0.0``: yield to the loop until one of its turns is short (at most 50 turns)."""
    if seconds > 0:
        await asyncio.sleep(seconds)
        return
    loop = asyncio.get_running_loop()
    for _ in range(50):
        t = loop.time()
        await asyncio.sleep(0)
        if loop.time() - t <= CALM_TURN:
            return


def is_rate_limited(status: int, text: str = "") -> bool:
    """Whether an answer says the key's rate limit was hit: a 429, except the monthly quota's (waiting
    does not clear that one, so it must not slow the key down)."""
    return status == 429 and "MONTHLY_API_REQUEST_QUOTA_EXCEEDED" not in text


class KeyRateLimiter:
    """At most ``rate`` request starts per second on one key, for every thread and coroutine using it.

    Reservations happen in the store's transaction (microseconds); the waiting happens outside it
    (``time.sleep`` for threads, ``asyncio.sleep`` for coroutines), so an event loop is never blocked.

    :param rate: requests per second; ``0`` disables limiting.
    :param margin: seconds added to the one-second window.
    :param shared_file: keep the state in this file (every process on the machine that uses it).
    :param store: keep the state there instead (overrides ``shared_file``; e.g. a Redis store).
    :param adaptive: cut the rate on a 429 and recover gradually (AIMD).
    :param policy: the full policy (tests, benchmarks); overrides ``rate``, ``margin``, ``adaptive``.
    :param clock: the in-memory store's clock (tests); a file store always uses the monotonic clock.
    :param sleep: how threads wait (tests).
    :param name: how logs name the key (a fingerprint, never the key).
    """

    def __init__(
        self,
        rate: float,
        margin: float = DEFAULT_MARGIN,
        shared_file: str | None = None,
        *,
        store: Store | None = None,
        adaptive: bool = True,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        name: str = "",
    ) -> None:
        if policy is None and rate > 0:
            policy = Policy(rate=float(rate), margin=margin, adaptive=adaptive)
        self.policy = policy
        #: Requests per window at the full rate (0: off) and that window in seconds.
        self.rate = policy.count(policy.rate) if policy else 0
        self.window = policy.window(policy.rate) if policy else 0.0
        self.shared_file = shared_file if store is None else None
        self.store: Store = store or (FileStore(shared_file) if shared_file else MemoryStore(clock))
        self.name = name
        self._sleep = sleep
        #: This process's counts: permits that waited, seconds slept, bookings redone (woke late, or a
        #: cut changed the generation and dropped the queue), and cuts of the limit its answers caused.
        self.waits = 0
        self.waited_seconds = 0.0
        self.rebooks = 0
        self.cuts = 0

    @property
    def limit(self) -> float:
        """The current (adaptive) limit in requests per second, as the store holds it."""
        pol = self.policy
        return self.store.run(lambda st, now: st.limit_for(pol, now)) if pol else 0.0

    # -- waiting --------------------------------------------------------------------------------------
    def _book(self, st: State, now: float) -> tuple[float, int, float]:
        assert self.policy is not None
        return book(st, self.policy, now), st.gen, now

    def _confirm(self, slot: float, gen: int, st: State, now: float) -> tuple[float, int, float]:
        assert self.policy is not None
        return (*confirm(st, self.policy, slot, gen, now), now)

    def _steps(self, settle: bool) -> Generator[_Step | float, Any, Permit]:
        """The waiting, as steps: a callable is a store transaction, a float a pause in seconds (``0.0``:
        until the event loop is calm).

        :param settle: confirm the permit only once the event loop is calm (coroutines). A request
            leaves when the loop gets back to it (connecting, writing); a loop stalled by other work (a
            thousand triggers starting) would send a window's requests late, on top of the next window's.
            Measured: new connections took ~140 ms to send their headers while 1,000 triggers started.
        """
        slot, gen, now = yield self._book
        waited = slot > now
        self.waits += waited
        while True:
            if slot > now:
                self.waited_seconds += slot - now
                yield slot - now
            elif not settle:
                break  # a thread sends at once: a slot booked for now is its own
            if settle:
                yield 0.0
            new_slot, new_gen, now = yield partial(self._confirm, slot, gen)
            same = (new_slot, new_gen) == (slot, gen)
            self.rebooks += not same
            slot, gen = new_slot, new_gen
            if same and slot <= now:
                break
        return Permit(slot, gen, waited, now)

    def acquire(self) -> Permit:
        """Block the calling thread until a request may be sent; return the permit."""
        if self.policy is None:
            return OPEN
        steps = self._steps(settle=False)  # a thread sends as soon as it has the permit
        step = _advance(steps, None)
        while not isinstance(step, Permit):
            step = _advance(steps, self.store.run(step) if callable(step) else self._sleep(step))
        return step

    async def acquire_async(self) -> Permit:
        """Wait, without blocking the event loop, until a request may be sent; return the permit."""
        if self.policy is None:
            return OPEN
        steps = self._steps(settle=True)
        step = _advance(steps, None)
        while not isinstance(step, Permit):
            step = _advance(steps, await (self._arun(step) if callable(step) else _pause(step)))
        return step

    async def _arun(self, fn: Callable[[State, float], T]) -> T:
        if self.store.blocking:  # a network store: never block the loop on it
            return await asyncio.to_thread(self.store.run, fn)
        return self.store.run(fn)

    def reserve(self) -> float:
        """Book the next slot without waiting for it; return the seconds until it (benchmarks)."""
        if self.policy is None:
            return 0.0
        slot, _, now = self.store.run(self._book)
        return max(0.0, slot - now)

    # -- adapting -------------------------------------------------------------------------------------
    def _adapt(self, permit: Permit, st: State, now: float) -> tuple[bool, float]:
        assert self.policy is not None
        return on_answer(st, self.policy, permit.gen, True, now), st.limit_for(self.policy, now)

    def _limited(self, permit: Permit, status: int, text: str) -> bool:
        """Whether the answer is a rate-limit 429 that the adaptive limit must hear about."""
        return bool(self.policy and self.policy.adaptive and permit.gen >= 0 and is_rate_limited(status, text))

    def _count(self, cut: bool, limit: float) -> None:
        if cut:
            self.cuts += 1
            log.info(
                "MsgFlash answered 429 on key %s although this machine kept its limit: another machine or "
                "client shares the key. This machine now sends at most %.2f requests/s on it, and speeds "
                "up again gradually.",
                self.name or "?",
                limit,
            )

    def report(self, permit: Permit, status: int, text: str = "") -> None:
        """Tell the limiter how the request sent with ``permit`` was answered (HTTP status and body).
        Only a rate-limit 429 costs a store transaction."""
        if self._limited(permit, status, text):
            self._count(*self.store.run(partial(self._adapt, permit)))

    async def report_async(self, permit: Permit, status: int, text: str = "") -> None:
        """:meth:`report` for coroutines (a network store is not waited for on the loop)."""
        if self._limited(permit, status, text):
            self._count(*await self._arun(partial(self._adapt, permit)))

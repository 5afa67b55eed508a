"""KeyRateLimiter window semantics (fake clock), limiter_for sharing, and hooks sharing one limiter per key.

The server-side checks (threads and coroutines against the sandbox at 10 req/s) are in
test_hook_sandbox_limits.py."""

from __future__ import annotations

import asyncio
import itertools
import time
from types import SimpleNamespace

import pytest

from airflow_provider_msgflash import _ratelimit
from airflow_provider_msgflash._ratelimit import KeyRateLimiter, key_fingerprint, limiter_for
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from tests.hooks.msgflash_hookkit import personal_key


class FakeClock:
    """A monotonic clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(_ratelimit, "time", SimpleNamespace(monotonic=c.monotonic, sleep=c.sleep))
    return c


def _starts(limiter: KeyRateLimiter, clock: FakeClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        limiter.acquire()
        out.append(clock.now)
    return out


def _busiest_second(starts: list[float], width: float = 1.0) -> int:
    return max(sum(1 for s in starts if a <= s < a + width) for a in starts)


def test_burst_of_rate_then_one_window_later(clock):
    lim = KeyRateLimiter(10)
    starts = _starts(lim, clock, 35)
    t0 = starts[0]
    assert starts[:10] == [t0] * 10  # a full burst goes at once
    assert starts[10:20] == pytest.approx([t0 + lim.window] * 10)
    assert starts[30:] == pytest.approx([t0 + 3 * lim.window] * 5)
    assert lim.window == pytest.approx(1.04)
    assert _busiest_second(starts) == 10
    assert _busiest_second(starts, lim.window) <= 10
    assert lim.waits == 3  # sequential callers: the first of each later window waits, the rest follow at once
    assert lim.waited_seconds == pytest.approx(sum(clock.slept))


def test_sliding_window_not_fixed_buckets(clock):
    # 10 requests spread over 0.9 s; the 11th may go only 1.04 s after the first, not at a bucket edge.
    lim = KeyRateLimiter(10)
    first = clock.now
    for _ in range(10):
        assert lim.reserve() == 0.0
        clock.now += 0.1
    assert clock.now == pytest.approx(first + 1.0)
    assert lim.reserve() == pytest.approx(0.04)
    clock.now = first + 1.5
    assert lim.reserve() == 0.0  # the second request (at +0.1) left the window long ago


def test_requests_under_the_rate_never_wait(clock):
    lim = KeyRateLimiter(10)
    for _ in range(100):
        assert lim.reserve() == 0.0
        clock.now += 0.2
    assert lim.waits == 0 and clock.slept == []


def test_rate_zero_is_off(clock):
    lim = KeyRateLimiter(0)
    assert [lim.reserve() for _ in range(1000)] == [0.0] * 1000
    for _ in range(50):
        lim.acquire()
    assert clock.slept == [] and lim.waits == 0


@pytest.mark.parametrize(("rate", "per_second"), [(9.5, 9), (2.5, 2), (10, 10), (1, 1), (0.5, 1)])
def test_fractional_rates_never_exceed_the_whole_rate_in_any_second(rate, per_second, clock):
    starts = _starts(KeyRateLimiter(rate), clock, 40)
    assert _busiest_second(starts) <= per_second


def test_half_a_request_per_second_is_one_every_two_seconds(clock):
    starts = _starts(KeyRateLimiter(0.5), clock, 4)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([2.04] * 3)


async def test_acquire_async_waits_without_blocking_the_loop():
    lim = KeyRateLimiter(20)
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.02)

    async def one():
        await lim.acquire_async()
        return time.monotonic()

    tick_task = asyncio.create_task(ticker())
    t0 = time.monotonic()
    starts = await asyncio.gather(*(one() for _ in range(41)))
    stop.set()
    await tick_task
    assert max(starts) - t0 >= 2 * lim.window - 0.01  # 41 at 20/window: three windows, two waits
    assert _busiest_second(sorted(starts)) <= 20
    assert ticks >= 50  # the loop kept running while the coroutines waited


def test_limiter_for_shares_per_key_and_rate():
    k1, k2 = personal_key(), personal_key()
    a = limiter_for(k1, 10)
    assert limiter_for(k1, 10) is a
    assert limiter_for(k1, 10.0) is a
    assert limiter_for(k2, 10) is not a
    assert limiter_for(k1, 5) is not a
    assert limiter_for(k1, 5).rate == 5
    assert limiter_for(k1, 0).rate == 0
    # the registry (and any shared state) knows keys only by a fingerprint
    assert not any(k1 in repr(k) for k in _ratelimit._registry)
    assert any(key_fingerprint(k1) in k for k in _ratelimit._registry)
    assert k1 not in repr(vars(a))
    assert key_fingerprint(k1) != key_fingerprint(k2) and len(key_fingerprint(k1)) == 12


def test_hooks_on_one_key_share_one_limiter(set_conn):
    key = personal_key()
    set_conn("srv.msgflash.com", key, conn_id="msgflash_a", extra={"requests_per_second": 7})
    set_conn("srv.msgflash.com", key, conn_id="msgflash_b", extra={"requests_per_second": "7"})
    set_conn("srv.msgflash.com", personal_key(), conn_id="msgflash_c", extra={"requests_per_second": 7})
    a1, a2, b, c = (
        MsgFlashHook("msgflash_a"),
        MsgFlashHook("msgflash_a"),
        MsgFlashHook("msgflash_b"),
        MsgFlashHook("msgflash_c"),
    )
    assert a1.limiter is a2.limiter is b.limiter is limiter_for(key, 7)
    assert c.limiter is not a1.limiter
    assert a1.limiter.rate == 7


def test_requests_per_second_zero_turns_the_limiter_off(set_conn):
    set_conn("srv.msgflash.com", personal_key(), extra={"requests_per_second": "0"})
    assert MsgFlashHook().limiter.rate == 0


async def test_sync_and_async_hooks_share_the_key_limit(fake_api, set_conn):
    key = personal_key()
    set_conn(fake_api.url, key, extra={"requests_per_second": 3, "max_retries": 0})
    fake_api.on("GET", "/instances", fake_api.ok([]))
    sync_hook = MsgFlashHook()
    for _ in range(3):
        await asyncio.to_thread(sync_hook.list_instances)
    await MsgFlashAsyncHook().list_instances()  # the 4th request on the key must wait for the window
    seen = fake_api.seen()
    assert len(seen) == 4
    assert seen[3].t - seen[0].t >= 1.0
    assert limiter_for(key, 3).waits == 1

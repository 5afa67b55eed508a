"""The per-key limiter against the sandbox's 10 requests per second: many threads (each with its own hook)
and many coroutines on one key get no 429, and the server's arrival log never shows more than 10 requests
in any one-second window.

The client runs at 5 requests/second here, half the server's limit: hooks that did not share one limiter
would still send everything at once (and get 429s, which fail the test: no retries), while a loaded
machine's scheduling jitter (a burst received a few tens of ms late) can no longer make the server count
two of the limiter's windows as one. The limiter's exact guarantee (never more than the rate in any
window, whatever the load) is checked on its own grant times, and in tests/ratelimit/."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from airflow_provider_msgflash.ratelimit import KeyRateLimiter
from airflow_provider_msgflash.sandbox import SEEDED_INSTANCES

LIMIT = 10
CLIENT_RATE = 5
CONNECTED = SEEDED_INSTANCES["sandbox-connected"].id


def record_grants(monkeypatch, lim: KeyRateLimiter) -> list[float]:
    """The limiter's own grant times (its clock) for every permit the hooks take."""
    grants: list[float] = []
    sync, coro = lim.acquire, lim.acquire_async

    def acquire():
        permit = sync()
        grants.append(permit.at)
        return permit

    async def acquire_async():
        permit = await coro()
        grants.append(permit.at)
        return permit

    monkeypatch.setattr(lim, "acquire", acquire)
    monkeypatch.setattr(lim, "acquire_async", acquire_async)
    return grants


#: A permit is granted within half the margin of its slot, so grants of one window never come closer than
#: one second plus half the margin to the next window's: no span that long holds more than the rate.
SENT_WINDOW = 1.02


def busiest(times: list[float], width: float) -> int:
    ts = sorted(times)
    return max(sum(1 for t in ts if start <= t < start + width) for start in ts)


def arrivals(sb) -> list[dict]:
    return [r for r in sb.requests() if r["path"].startswith("/api/")]


def busiest_second(log: list[dict]) -> int:
    times = sorted(datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() for r in log)
    # Times are logged in milliseconds: a window of 0.999 s catches any two arrivals less than 1 s apart.
    return busiest(times, 0.999)


def test_threads_with_their_own_hooks_share_the_key_limit(sandbox_conn, monkeypatch):
    # max_retries=0: a 429 would surface as an error instead of being retried quietly
    sb = sandbox_conn(max_retries=0, requests_per_second=CLIENT_RATE)
    sb.set_faults(rate_limit=LIMIT)
    lim = MsgFlashHook().limiter
    grants = record_grants(monkeypatch, lim)
    total, threads = 30, 8
    todo = iter(range(total))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        hook = MsgFlashHook()
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                if i % 2:
                    hook.list_instances()
                else:
                    hook.get_instance_state(CONNECTED)
            except BaseException as e:
                errors.append(e)

    t0 = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    elapsed = time.monotonic() - t0
    assert not errors, errors[:3]
    log = arrivals(sb)
    assert len(log) == total
    assert [r["status"] for r in log] == [200] * total
    assert sb.state()["total_429"] == 0
    assert busiest_second(log) <= LIMIT
    assert len(grants) == total and busiest(grants, SENT_WINDOW) == CLIENT_RATE
    assert elapsed >= (total // CLIENT_RATE - 1) * 1.0  # the limiter did hold the threads back


async def test_coroutines_on_one_loop_share_the_key_limit(sandbox_conn, monkeypatch):
    sb = sandbox_conn(max_retries=0, requests_per_second=CLIENT_RATE)
    sb.set_faults(rate_limit=LIMIT)
    lim = MsgFlashHook().limiter  # the one the async hooks use too
    grants = record_grants(monkeypatch, lim)
    total = 30

    async def call(i: int):
        hook = MsgFlashAsyncHook()
        if i % 2:
            return await hook.get_instance_state(CONNECTED)
        return await hook.list_instances()

    t0 = time.monotonic()
    results = await asyncio.gather(*(call(i) for i in range(total)), return_exceptions=True)
    elapsed = time.monotonic() - t0
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    log = arrivals(sb)
    assert len(log) == total
    assert [r["status"] for r in log] == [200] * total
    assert busiest_second(log) <= LIMIT
    assert len(grants) == total and busiest(grants, SENT_WINDOW) == CLIENT_RATE
    assert elapsed >= (total // CLIENT_RATE - 1) * 1.0

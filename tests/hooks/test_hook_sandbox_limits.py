"""The per-key limiter against the sandbox's 10 requests per second: many threads (each with its own hook)
and many coroutines on one key get no 429, and the server's arrival log never shows more than 10 requests
in any one-second window."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from airflow_provider_msgflash.sandbox import SEEDED_INSTANCES

LIMIT = 10
CONNECTED = SEEDED_INSTANCES["sandbox-connected"].id


def arrivals(sb) -> list[dict]:
    return [r for r in sb.requests() if r["path"].startswith("/api/")]


def busiest_second(log: list[dict]) -> int:
    times = sorted(datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() for r in log)
    # Times are logged in milliseconds: a window of 0.999 s catches any two arrivals less than 1 s apart.
    return max(sum(1 for t in times if start <= t < start + 0.999) for start in times)


def test_threads_with_their_own_hooks_share_the_key_limit(sandbox_conn):
    sb = sandbox_conn(max_retries=0)  # a 429 would surface as an error instead of being retried quietly
    sb.set_faults(rate_limit=LIMIT)
    total, threads = 60, 8
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
    assert elapsed >= (total // LIMIT - 1) * 1.0  # the limiter did hold the threads back


async def test_coroutines_on_one_loop_share_the_key_limit(sandbox_conn):
    sb = sandbox_conn(max_retries=0)
    sb.set_faults(rate_limit=LIMIT)
    total = 50

    async def call(i: int):
        hook = MsgFlashAsyncHook()
        if i % 2:
            return await hook.get_instance(CONNECTED)
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
    assert elapsed >= (total // LIMIT - 1) * 1.0

"""One limiter per key: every hook (sync or async, any number of them) that uses a key in a process
shares one KeyRateLimiter, itself backed by one host-wide file, which is what keeps 1,000 triggers or
20 worker processes under 10 requests/second (bench_many_triggers.py, bench_many_tasks.py)."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest

from airflow_provider_msgflash._ratelimit import KeyRateLimiter, limiter_for
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook, close_shared_session


def _key() -> str:
    return "msgf_live_" + secrets.token_hex(32)


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, key: str, host: str = "http://127.0.0.1:9") -> None:
    doc = {"conn_type": "msgflash", "host": host, "password": key, "extra": {}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(doc))


def test_limiter_for_returns_one_limiter_per_key_and_rate() -> None:
    key = _key()
    assert limiter_for(key, 10) is limiter_for(key, 10)
    assert limiter_for(key, 10) is not limiter_for(_key(), 10)
    # Host scope: the log lives in a file, so worker processes on one machine share the limit.
    assert limiter_for(key, 10).shared_file


def test_sync_and_async_hooks_of_one_key_share_the_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key()
    _set_conn(monkeypatch, "lim_a", key)
    _set_conn(monkeypatch, "lim_b", key)
    first, second = MsgFlashHook("lim_a"), MsgFlashHook("lim_b")
    assert first.limiter is second.limiter

    async def async_limiter() -> KeyRateLimiter:
        s = await MsgFlashAsyncHook("lim_a").get_settings()
        return limiter_for(s.api_key, s.requests_per_second)

    assert asyncio.run(async_limiter()) is first.limiter


def test_async_requests_go_through_the_shared_limiter(monkeypatch: pytest.MonkeyPatch, msgflash_sandbox: Any) -> None:
    key = _key()
    msgflash_sandbox.add_key(key)
    _set_conn(monkeypatch, "lim_sb", key, host=msgflash_sandbox.base_url)
    limiter = MsgFlashHook("lim_sb").limiter
    calls = []
    original = limiter.acquire_async

    async def counting() -> None:
        calls.append(1)
        await original()

    monkeypatch.setattr(limiter, "acquire_async", counting)

    async def run() -> None:
        try:
            hooks = [MsgFlashAsyncHook("lim_sb") for _ in range(3)]
            await asyncio.gather(*(h.list_instances() for h in hooks))
        finally:
            await close_shared_session()

    asyncio.run(run())
    assert len(calls) == 3


def test_async_hooks_on_one_loop_share_one_http_session() -> None:
    from airflow_provider_msgflash.hooks.async_hook import _shared_session

    async def run() -> bool:
        try:
            return _shared_session() is _shared_session()
        finally:
            await close_shared_session()

    assert asyncio.run(run())

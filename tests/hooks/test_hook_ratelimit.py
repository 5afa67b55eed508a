"""The hooks' side of the limiter: every hook on one key, sync or async, shares one limiter; each request
takes a permit before it is sent and reports its answer, so a 429 from MsgFlash slows the key down (the
adaptive limit) and the monthly quota's 429 does not.

The limiter's own rules and invariants are tested in tests/ratelimit/; the server-side checks (threads
and coroutines against the sandbox at 10 req/s) in test_hook_sandbox_limits.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashQuotaExceededError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook, _shared_session
from airflow_provider_msgflash.ratelimit import KeyRateLimiter, limiter_for
from tests.hooks.msgflash_hookkit import personal_key


def fresh_key_conn(sandbox_conn: Any, **extras: Any) -> tuple[Any, str]:
    """The sandbox with a key of its own (a cut must not slow other tests on the shared demo key)."""
    key = personal_key()
    sb = sandbox_conn()
    sb.add_key(key)
    return sandbox_conn(key=key, **extras), key


def count_limiter_calls(monkeypatch: pytest.MonkeyPatch, lim: KeyRateLimiter) -> dict[str, list[Any]]:
    calls: dict[str, list[Any]] = {"acquire": [], "report": []}
    for name in ("acquire", "acquire_async", "report", "report_async"):
        original = getattr(lim, name)

        def wrapped(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls["report" if _name.startswith("report") else "acquire"].append(args)
            return _original(*args)

        monkeypatch.setattr(lim, name, wrapped)
    return calls


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
    assert a1.limiter.shared_file  # host-wide by default: worker processes on one machine share it


def test_sync_and_async_hooks_of_one_key_share_the_limiter(set_conn):
    key = personal_key()
    set_conn("srv.msgflash.com", key, conn_id="lim_a")
    set_conn("srv.msgflash.com", key, conn_id="lim_b")
    first, second = MsgFlashHook("lim_a"), MsgFlashHook("lim_b")
    assert first.limiter is second.limiter

    async def async_limiter() -> KeyRateLimiter:
        s = await MsgFlashAsyncHook("lim_a").get_settings()
        return limiter_for(s.api_key, s.requests_per_second)

    assert asyncio.run(async_limiter()) is first.limiter


def test_requests_per_second_zero_turns_the_limiter_off(set_conn):
    set_conn("srv.msgflash.com", personal_key(), extra={"requests_per_second": "0"})
    assert MsgFlashHook().limiter.rate == 0


async def test_sync_and_async_hooks_share_the_key_limit(fake_api, set_conn):
    key = personal_key()
    set_conn(fake_api.url, key, extra={"requests_per_second": 3, "max_retries": 0})
    fake_api.on("GET", "/instances", fake_api.ok([]))
    sync_hook = MsgFlashHook()
    start = time.monotonic()  # no slot on the key is booked before this
    for _ in range(3):
        await asyncio.to_thread(sync_hook.list_instances)
    await MsgFlashAsyncHook().list_instances()  # the 4th request on the key must wait for the window
    seen = fake_api.seen()
    assert len(seen) == 4
    # A lower bound that load cannot break: the 4th slot is a full window after the 1st, which was
    # booked after `start` (the gap between arrivals can be shorter when the 1st was sent late).
    assert seen[3].t - start >= 1.0
    assert limiter_for(key, 3).waits == 1


def test_every_sync_request_takes_a_permit_and_reports_only_a_429(sandbox_conn, monkeypatch):
    sb, _ = fresh_key_conn(sandbox_conn, max_retries=2)
    hook = MsgFlashHook()
    calls = count_limiter_calls(monkeypatch, hook.limiter)
    hook.list_instances()
    hook.get_me()
    assert len(calls["acquire"]) == 2
    assert calls["report"] == []  # a 200 teaches the limiter nothing: no call, no store transaction
    sb.set_faults(storm_429=1)
    hook.list_instances()
    assert len(calls["acquire"]) > 3 and calls["report"] and {args[1] for args in calls["report"]} == {429}


async def test_every_async_request_takes_a_permit_and_reports_only_a_429(sandbox_conn, monkeypatch):
    sb, _ = fresh_key_conn(sandbox_conn, max_retries=2)
    calls = count_limiter_calls(monkeypatch, MsgFlashHook().limiter)  # the async hooks' limiter too
    hooks = [MsgFlashAsyncHook() for _ in range(3)]
    await asyncio.gather(*(h.list_instances() for h in hooks))
    assert len(calls["acquire"]) == 3
    assert calls["report"] == []
    sb.set_faults(storm_429=1)
    await hooks[0].list_instances()
    assert len(calls["acquire"]) > 4 and calls["report"] and {args[1] for args in calls["report"]} == {429}


def test_a_429_from_msgflash_cuts_the_key_rate(sandbox_conn):
    sb, key = fresh_key_conn(sandbox_conn, max_retries=2)
    sb.set_faults(storm_429=1)  # MsgFlash says the key is over its limit: someone else is using it
    assert MsgFlashHook().list_instances()  # waited out (Retry-After), then answered
    lim = limiter_for(key, 10)
    assert lim.cuts == 1
    assert lim.limit < 10


async def test_a_429_from_msgflash_cuts_the_key_rate_for_triggers_too(sandbox_conn):
    sb, key = fresh_key_conn(sandbox_conn, max_retries=2)
    sb.set_faults(storm_429=1)
    assert await MsgFlashAsyncHook().list_instances()
    lim = limiter_for(key, 10)
    assert lim.cuts == 1
    assert lim.limit < 10


def test_the_monthly_quota_429_does_not_cut_the_key_rate(sandbox_conn):
    sb, key = fresh_key_conn(sandbox_conn)
    sb.set_faults(monthly_quota=0)
    with pytest.raises(MsgFlashQuotaExceededError):
        MsgFlashHook().list_instances()
    lim = limiter_for(key, 10)
    assert (lim.cuts, lim.limit) == (0, 10.0)


def test_async_hooks_on_one_loop_share_one_http_session() -> None:
    from airflow_provider_msgflash.hooks.msgflash import close_shared_session

    async def run() -> bool:
        try:
            return _shared_session() is _shared_session()
        finally:
            await close_shared_session()

    assert asyncio.run(run())


def test_a_wrong_rate_limit_backend_fails_before_anything_is_sent(set_conn, fake_api):
    from airflow_provider_msgflash.exceptions import MsgFlashConfigError

    set_conn(fake_api.url, personal_key(), extra={"rate_limit_backend": "redis-host:6379"})
    with pytest.raises(MsgFlashConfigError, match="rate_limit_backend") as ei:
        MsgFlashHook().list_instances()
    assert "redis://" in str(ei.value) and "'msgflash_default'" in str(ei.value)
    assert fake_api.seen() == []


def test_rate_limit_backend_is_a_known_extra(set_conn, caplog):
    set_conn("srv.msgflash.com", personal_key(), extra={"rate_limit_backend": "process"})
    assert MsgFlashHook().limiter.shared_file is None  # this process only
    assert "unknown extra" not in caplog.text

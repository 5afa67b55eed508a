"""The shared limiter in Redis (a real redis-server on a loopback port): two machines on one key book one
chain, a clock set back moves no booking, an unreachable Redis never fails a request, and the connection
extra ``rate_limit_backend`` selects it (or says clearly what is wrong)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_provider_msgflash.connection import check_backend
from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.ratelimit import KeyRateLimiter, Permit, limiter_for
from airflow_provider_msgflash.ratelimit._redis import RedisStore
from tests.hooks.msgflash_hookkit import free_port, personal_key
from tests.ratelimit.ratelimit_kit import FakeClock, VirtualTimeLoop, busiest, run_virtual


def machine(url: str, clock) -> KeyRateLimiter:
    store = RedisStore(url, "fp:10", clock=clock)
    store.blocking = False  # on virtual time the transactions must run on the loop's thread
    return KeyRateLimiter(10, store=store)


def test_coroutines_on_two_machines_share_one_limit(redis_url) -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[KeyRateLimiter, list[Permit]]:
        a, b = machine(redis_url, loop.time), machine(redis_url, loop.time)
        permits = await asyncio.gather(*(lim.acquire_async() for _ in range(1000) for lim in (a, b)))
        return a, permits

    lim, permits = run_virtual(main)
    ats = [p.at for p in permits]
    assert busiest(ats, lim.window) == 10  # the two machines together: 10 per window
    assert max(ats) - min(ats) == pytest.approx(199 * lim.window)  # one chain of 2,000


def test_a_deep_queue_in_redis_is_one_chain(redis_url) -> None:
    clock = FakeClock()
    a, b = machine(redis_url, clock), machine(redis_url, clock)
    slots = [clock.now + (a if i % 2 else b).reserve() for i in range(3000)]
    assert busiest(slots, a.window) == 10
    assert max(slots) - clock.now == pytest.approx(299 * a.window)


def test_the_redis_clock_set_back_moves_no_booking(redis_url) -> None:
    clock = FakeClock()
    lim = machine(redis_url, clock)
    before = [lim.reserve() for _ in range(30)]  # the last ten wait 2 windows
    clock.now -= 3600.0  # Redis's host steps its wall clock back an hour
    after = lim.reserve()
    assert after == pytest.approx(before[-1] + lim.window)  # the chain goes on where it was
    assert lim.store.clock_steps == 1  # type: ignore[attr-defined]


def test_an_unreachable_redis_never_fails_a_request(caplog) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    lim = KeyRateLimiter(10, store=RedisStore(url, "fp:10"))
    with caplog.at_level(logging.WARNING):
        permits = [lim.acquire() for _ in range(10)]
        asyncio.run(lim.acquire_async())
    assert len(permits) == 10
    store = lim.store
    assert store.failures == 1  # type: ignore[attr-defined]  # then it works alone for 30 s
    assert "limiting in this process only" in caplog.text
    assert "s3cret-pw" not in caplog.text and "127.0.0.1" in caplog.text


def test_the_connection_extra_selects_the_backend(set_conn_env, redis_url) -> None:
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    key = personal_key()
    set_conn_env("lim_redis", key, {"rate_limit_backend": redis_url})
    set_conn_env("lim_host", key, {})
    set_conn_env("lim_proc", key, {"rate_limit_backend": " process "})
    shared = MsgFlashHook("lim_redis").limiter
    assert isinstance(shared.store, RedisStore)
    assert shared is limiter_for(key, 10, backend=redis_url)
    assert MsgFlashHook("lim_host").limiter.shared_file
    assert MsgFlashHook("lim_proc").limiter.shared_file is None
    assert len({id(MsgFlashHook(c).limiter) for c in ("lim_redis", "lim_host", "lim_proc")}) == 3


@pytest.mark.parametrize(
    ("value", "shown"),
    [("memcached://cache:11211", "memcached://cache:11211"), ("redis-host:6379", "'redis-host:6379'"), (7, "7")],
)
def test_a_wrong_backend_names_the_field_and_the_fix(value, shown) -> None:
    with pytest.raises(MsgFlashConfigError) as ei:
        check_backend(value, "msgflash_default")
    msg = str(ei.value)
    assert "'msgflash_default'" in msg and "rate_limit_backend" in msg and shown in msg
    assert "'host'" in msg and "redis://" in msg


def test_a_backend_error_never_shows_the_redis_password() -> None:
    with pytest.raises(MsgFlashConfigError) as ei:
        check_backend("memcached://user:s3cret-pw@cache:11211/0", "c")
    assert "s3cret-pw" not in str(ei.value)
    assert check_backend(None, "c") == check_backend("", "c") == "host"
    assert check_backend("redis://:pw@r:6379/1", "c") == "redis://:pw@r:6379/1"


@pytest.fixture
def set_conn_env(monkeypatch):
    import json

    def _set(conn_id: str, key: str, extra: dict) -> None:
        doc = {"conn_type": "msgflash", "host": "https://srv.msgflash.com", "password": key, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(doc))

    return _set

"""Async hook specifics: the connection comes through the async path, one aiohttp session per loop shared
by every hook on it, ``close_shared_session()``."""

from __future__ import annotations

import asyncio
import threading

from airflow_provider_msgflash.hooks import msgflash as hooks_module
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, close_shared_session
from airflow_provider_msgflash.version_compat import BaseHook
from tests.hooks.msgflash_hookkit import personal_key


def _record_sync_lookups(monkeypatch):
    """The thread of every sync connection lookup (each still answered)."""
    threads = []
    real = BaseHook.get_connection.__func__

    def sync_get_connection(cls, conn_id):
        threads.append(threading.current_thread())
        return real(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(sync_get_connection))
    return threads


def _airflow_masks_connections_asynchronously() -> bool:
    """Airflow 3.3.2+: ``Connection.aextra_dejson``, and an async lookup that never blocks the loop."""
    try:
        from airflow.sdk import Connection
    except ImportError:
        return False
    return hasattr(Connection, "aextra_dejson")


async def test_connection_is_fetched_without_blocking_the_loop(fake_api, fake_conn, monkeypatch):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.ok([]))
    sync_threads = _record_sync_lookups(monkeypatch)
    hook = MsgFlashAsyncHook()
    assert asyncio.get_running_loop().is_running()
    assert await hook.list_instances() == []
    assert (await hook.get_settings()).base_url == fake_api.url
    assert threading.current_thread() not in sync_threads  # never a sync lookup on the loop's thread
    if _airflow_masks_connections_asynchronously():
        assert sync_threads == []  # Airflow's own async lookup
    else:
        assert len(sync_threads) == 1  # the sync lookup, in a worker thread


async def test_settings_fetched_once_per_hook(fake_api, fake_conn, set_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.ok([]))
    hook = MsgFlashAsyncHook()
    first = await hook.get_settings()
    set_conn("http://127.0.0.1:9", personal_key())  # changing the connection later does not affect this hook
    assert await hook.get_settings() is first
    assert await hook.list_instances() == []
    assert len(fake_api.requests) == 1


async def test_event_loop_keeps_running_while_a_request_waits(fake_api, fake_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.ok([], delay=0.5))
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.02)

    t = asyncio.create_task(ticker())
    assert await MsgFlashAsyncHook().list_instances() == []
    t.cancel()
    assert ticks >= 15


async def test_hooks_on_one_loop_share_one_session(fake_api, fake_conn, set_conn):
    fake_conn()
    fake_conn(conn_id="msgflash_other")
    fake_api.on("GET", "/instances", fake_api.ok([]))
    h1, h2 = MsgFlashAsyncHook(), MsgFlashAsyncHook("msgflash_other")
    await h1.list_instances()
    session = hooks_module._shared_session()
    await asyncio.gather(h2.list_instances(), h1.list_instances(), h2.list_instances())
    assert hooks_module._shared_session() is session
    assert hooks_module._sessions[asyncio.get_running_loop()] is session
    assert not session.closed
    assert len(fake_api.requests) == 4


async def test_close_shared_session_then_reopen(fake_api, fake_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.ok([]))
    hook = MsgFlashAsyncHook()
    await hook.list_instances()
    session = hooks_module._shared_session()
    await close_shared_session()
    assert session.closed
    assert asyncio.get_running_loop() not in hooks_module._sessions
    await close_shared_session()  # closing twice is harmless
    assert await hook.list_instances() == []  # a new session is opened on demand
    assert hooks_module._shared_session() is not session


def test_each_loop_gets_its_own_session(fake_api, fake_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.ok([]))

    async def run_once():
        await MsgFlashAsyncHook().list_instances()
        session = hooks_module._shared_session()
        await close_shared_session()
        return session

    s1 = asyncio.run(run_once())
    s2 = asyncio.run(run_once())
    assert s1 is not s2
    assert s1.closed and s2.closed
    assert len(fake_api.requests) == 2

"""version_compat's connection helpers on the installed Airflow line: the async lookup's fallbacks and
the extras read without ``common.compat``'s newer helper. (The matrix runs the real cases: a
DB-stored connection under ``airflow dags test`` on every line, and Python 3.10's older
``common.compat``.)"""

from __future__ import annotations

import json
import threading

import pytest

from airflow_provider_msgflash import version_compat
from airflow_provider_msgflash.version_compat import (
    AirflowNotFoundException,
    BaseHook,
    aconnection_extras,
    aget_connection,
)

KEY = "msgf_live_" + "ab" * 32


@pytest.fixture
def env_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    doc = {"conn_type": "msgflash", "host": "http://127.0.0.1:9", "password": KEY, "extra": {"timeout": 7}}
    monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_COMPAT", json.dumps(doc))
    return "msgflash_compat"


def _sync_lookup_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    threads: list[threading.Thread] = []
    real = BaseHook.get_connection.__func__

    def get_connection(cls, conn_id):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return real(cls, conn_id)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(get_connection))
    return threads


async def test_sync_lookup_gets_a_second_chance_when_the_async_one_finds_nothing(
    env_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `airflow dags test` (3.3) does to a DB-stored connection: its async lookup reports "not found".
    import airflow.providers.common.compat.connection as compat_connection

    async def not_found(conn_id, hook=None):  # type: ignore[no-untyped-def]
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(compat_connection, "get_async_connection", not_found)
    monkeypatch.setattr(version_compat, "_async_lookup_is_safe", lambda: True)
    threads = _sync_lookup_threads(monkeypatch)
    conn = await aget_connection(env_conn)
    assert conn.password == KEY
    assert len(threads) == 1 and threads[0] is not threading.current_thread()  # in a worker thread


async def test_a_connection_missing_everywhere_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MSGFLASH_NOWHERE", raising=False)
    with pytest.raises(AirflowNotFoundException, match="msgflash_nowhere"):
        await aget_connection("msgflash_nowhere")


async def test_unsafe_async_lookup_is_not_used(env_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Airflow 3.1/3.2 with common.compat before 1.23: BaseHook.aget_connection masks synchronously.
    import airflow.providers.common.compat.connection as compat_connection

    async def must_not_run(conn_id, hook=None):  # type: ignore[no-untyped-def]
        raise AssertionError("the async lookup was used although it would block the loop")

    monkeypatch.setattr(compat_connection, "get_async_connection", must_not_run)
    monkeypatch.setattr(version_compat, "_async_lookup_is_safe", lambda: False)
    threads = _sync_lookup_threads(monkeypatch)
    assert (await aget_connection(env_conn)).password == KEY
    assert len(threads) == 1 and threads[0] is not threading.current_thread()


async def test_extras_without_the_newer_compat_helper(env_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Python 3.10 resolves common.compat 1.20, which has no get_async_extra_dejson.
    import airflow.providers.common.compat.connection as compat_connection

    conn = await aget_connection(env_conn)
    with_helper = await aconnection_extras(conn)
    monkeypatch.delattr(compat_connection, "get_async_extra_dejson", raising=False)
    assert version_compat._compat_helper("get_async_extra_dejson") is None
    assert await aconnection_extras(conn) == with_helper == {"timeout": 7}

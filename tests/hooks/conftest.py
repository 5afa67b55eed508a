"""Fixtures for the hook tests.

- ``fake_api``: a tiny scriptable HTTP server on 127.0.0.1 (port 0) for the faults the sandbox cannot
  produce (``Retry-After`` as an HTTP date, a 2xx without envelope, an HTML 502, a slow POST, a dropped
  answer, any error code on demand). It records every request it sees.
- ``set_conn`` / ``fake_conn``: put an ``AIRFLOW_CONN_...`` connection in the environment.
- ``sandbox_conn`` / ``sandbox_team_conn``: the default connection pointing at the embedded sandbox with
  its personal key / its team key.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Imported at collection time on purpose: Airflow configures logging on import, which would otherwise
# replace pytest's capture handler in the middle of the first test that imports it.
from airflow_provider_msgflash.hooks.msgflash import close_shared_session
from tests.hooks.msgflash_hookkit import FakeApi, personal_key


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi().start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def start_fake_api_later() -> Iterator[Callable[..., Callable[[], FakeApi]]]:
    """``start(port, after, setup)``: a FakeApi that starts listening on ``port`` only ``after`` seconds
    from now (connections before that are refused), scripted by ``setup(api)`` before it listens; returns
    a function that waits for that server and returns it. For "connect error, then success" tests."""
    started: list[FakeApi] = []

    def start(port: int, after: float, setup: Callable[[FakeApi], Any]) -> Callable[[], FakeApi]:
        ready = threading.Event()

        def run() -> None:
            time.sleep(after)
            api = FakeApi(port)
            setup(api)
            started.append(api.start())
            ready.set()

        threading.Thread(target=run, daemon=True).start()

        def get() -> FakeApi:
            assert ready.wait(after + 5), "the late fake server did not start"
            return started[-1]

        return get

    yield start
    for api in started:
        api.stop()


# --------------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def set_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``set_conn(host=..., password=..., port=None, extra=None, conn_id="msgflash_default")`` puts a
    ``msgflash`` connection in ``AIRFLOW_CONN_<ID>`` and returns the connection id. ``extra`` may be a
    dict or a JSON string (as the UI stores it)."""

    def _set(
        host: str | None = None,
        password: str | None = None,
        *,
        port: int | None = None,
        extra: dict[str, Any] | str | None = None,
        conn_id: str = "msgflash_default",
    ) -> str:
        conn: dict[str, Any] = {"conn_type": "msgflash"}
        if host is not None:
            conn["host"] = host
        if password is not None:
            conn["password"] = password
        if port is not None:
            conn["port"] = port
        if extra is not None:
            conn["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return _set


@pytest.fixture
def fake_conn(fake_api: FakeApi, set_conn: Callable[..., str]) -> Callable[..., str]:
    """``fake_conn(key=None, conn_id=..., **extras)``: a connection to ``fake_api`` with a fresh personal
    key (returned as ``fake_conn.key``), no client rate limit, 2 retries and a 5 s timeout unless given."""

    def _make(key: str | None = None, conn_id: str = "msgflash_default", **extras: Any) -> str:
        _make.key = key or personal_key()  # type: ignore[attr-defined]
        extra = {"requests_per_second": 0, "max_retries": 2, "timeout": 5, **extras}
        return set_conn(fake_api.url, _make.key, extra=extra, conn_id=conn_id)  # type: ignore[attr-defined]

    return _make


# --------------------------------------------------------------------------------------------------
# Async tests: close the loop's shared aiohttp session before the loop goes away
# --------------------------------------------------------------------------------------------------
_HERE = Path(__file__).parent


@pytest.fixture
async def _close_msgflash_shared_session() -> AsyncIterator[None]:
    yield
    await close_shared_session()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fn = getattr(item, "function", None)
        if fn is not None and inspect.iscoroutinefunction(fn) and _HERE in Path(str(item.fspath)).parents:
            item.fixturenames.insert(0, "_close_msgflash_shared_session")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# The sandbox (fixtures msgflash_sandbox / msgflash_sandbox_session come from the root conftest's plugin)
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def sandbox_conn(msgflash_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``sandbox_conn(key=None, team=False, team_id=None, conn_id="msgflash_default", **extras)``: a
    connection to the (freshly reset) sandbox built from ``sb.connection_json()``, plus ``extras``;
    returns the sandbox handle."""

    def _make(
        key: str | None = None,
        team: bool = False,
        team_id: str | None = None,
        conn_id: str = "msgflash_default",
        **extras: Any,
    ) -> Any:
        doc = json.loads(msgflash_sandbox.connection_json(key=key, team=team, team_id=team_id))
        doc["extra"] = {**(doc.get("extra") or {}), **extras}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(doc))
        return msgflash_sandbox

    return _make


@pytest.fixture
def sb(sandbox_conn: Callable[..., Any]) -> Any:
    """The sandbox with ``msgflash_default`` pointing at it (personal key)."""
    return sandbox_conn()


@pytest.fixture
def sb_team(sandbox_conn: Callable[..., Any]) -> Any:
    """The sandbox with ``msgflash_default`` pointing at it with its team key and team id."""
    return sandbox_conn(team=True)

""":class:`MsgFlashAsyncHook`: the asynchronous MsgFlash client (aiohttp) that triggers use, and the
aiohttp session it shares per event loop."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.api import settings as api_settings
from airflow_provider_msgflash.api.answers import parse_answer
from airflow_provider_msgflash.api.retry import retry_policy
from airflow_provider_msgflash.api.routes import Call
from airflow_provider_msgflash.api.settings import Settings
from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.hooks import flows
from airflow_provider_msgflash.hooks.base import DEFAULT_CONN_ID, MsgFlashBaseHook
from airflow_provider_msgflash.hooks.transport import connect_timeout, connection_error
from airflow_provider_msgflash.ratelimit import limiter_for
from airflow_provider_msgflash.version_compat import aconnection_extras, aget_connection, amask_secret

if TYPE_CHECKING:
    import aiohttp

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def _shared_session() -> aiohttp.ClientSession:
    """One aiohttp session (connection pool) per event loop, shared by every async hook on it:
    a thousand triggers in a triggerer reuse a handful of keep-alive connections."""
    import aiohttp

    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=32, ttl_dns_cache=300),
            raise_for_status=False,
        )
        _sessions[loop] = session
    return session


async def close_shared_session() -> None:
    """Close the running loop's shared session (tests and short-lived loops call this)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


_users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def shared_session_scope() -> AsyncIterator[None]:
    """Mark a user of the running loop's shared session (a trigger's run): when the last user leaves,
    the session is closed, so a loop that ends (``dags test``, a worker waiting inline) leaves no
    unclosed session behind, while a triggerer running many triggers keeps its connections."""
    loop = asyncio.get_running_loop()
    _users[loop] = _users.get(loop, 0) + 1
    try:
        yield
    finally:
        _users[loop] -= 1
        if _users[loop] <= 0:
            del _users[loop]
            await close_shared_session()


class MsgFlashAsyncHook(MsgFlashBaseHook):
    """Asynchronous MsgFlash client for triggers (aiohttp). Same routes, errors and retry policy as
    :class:`~airflow_provider_msgflash.hooks.sync_hook.MsgFlashHook` (every method returns an
    awaitable); the connection is fetched without blocking the event loop, and the rate limiter is the
    same per-key one, so sync and async users of one key share it.

    :param msgflash_conn_id: the Airflow connection id (type ``msgflash``).
    :param timeout: seconds per request (overrides the ``timeout`` extra).
    :param max_retries: retries of a retryable failure (overrides the ``max_retries`` extra).
    :param requests_per_second: client-side limit (overrides the ``requests_per_second`` extra).
    """

    hook_name = "MsgFlash (async)"

    def __init__(self, msgflash_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(msgflash_conn_id, **kwargs)
        self._settings: Settings | None = None

    async def get_settings(self) -> Settings:
        """The checked connection settings, fetched once without blocking the loop."""
        if self._settings is None:
            conn = await aget_connection(self.msgflash_conn_id)
            if conn.password:
                await amask_secret(conn.password)
            extras = await aconnection_extras(conn)
            self._settings = api_settings.settings_from_connection(conn, self.msgflash_conn_id, self._overrides, extras)
        return self._settings

    async def _send_once(self, c: Call, s: Settings) -> Any:
        import aiohttp

        limiter = limiter_for(s.api_key, s.requests_per_second, backend=s.rate_limit_backend)
        permit = await limiter.acquire_async()
        timeout = aiohttp.ClientTimeout(total=s.timeout, connect=connect_timeout(s))
        try:
            async with _shared_session().request(
                c.method, s.url(c), params=c.params, json=c.json, headers=s.headers(), timeout=timeout
            ) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise connection_error(e, s, c) from None
        await limiter.report_async(permit, resp.status, text)  # a 429 lowers the key's rate (AIMD)
        return parse_answer(resp.status, text, resp.headers, c.describe())

    async def _send(self, c: Call) -> Any:
        import tenacity

        s = await self.get_settings()
        policy = retry_policy(c, s.max_retries, partial(self._retry_log, c))
        return await tenacity.AsyncRetrying(**policy)(self._send_once, c, s)

    async def _step(self, step: flows.Step) -> flows.Outcome:
        if isinstance(step, flows.Pause):
            await asyncio.sleep(step.seconds)
            return flows.Outcome()
        try:
            return flows.Outcome(await self._send(step))
        except MsgFlashError as e:
            return flows.Outcome(error=e)

    async def _arun(self, flow: flows.Flow[Any]) -> Any:
        finished, step = flows.advance(flow, None)
        while not finished:
            finished, step = flows.advance(flow, await self._step(step))
        return step

    def _run(self, flow: flows.Flow[Any]) -> Any:
        return self._arun(flow)

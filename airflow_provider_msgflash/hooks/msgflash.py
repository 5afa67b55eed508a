"""Hooks for MsgFlash (their public import path): :class:`MsgFlashHook` (requests; operators, sensors, your tasks)
and :class:`MsgFlashAsyncHook` (aiohttp; what the triggers use), on a ``msgflash`` connection
(``airflow_provider_msgflash.connection``). Each route is one typed method (``api/types.py``) through its hook's one
request function: permit (the key's rate limiter), send, retry (``api.answers.retry_wait``), parse and error
(``api.answers.parse_answer``). Conversations of several requests are plain functions in ``hooks/lookups.py``."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Collection, Iterator
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from airflow_provider_msgflash import connection
from airflow_provider_msgflash.api.answers import CONNECT_TIMEOUT_CAP, parse_answer, retry_wait, transport_error
from airflow_provider_msgflash.api.defaults import API_PREFIX
from airflow_provider_msgflash.api.shapes import Page, read_page
from airflow_provider_msgflash.connection import CONN_TYPE, Settings, settings_from_connection
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashConnectionError,
    MsgFlashError,
    MsgFlashFinalError,
    MsgFlashLookupNotCancellableError,
)
from airflow_provider_msgflash.hooks import lookups
from airflow_provider_msgflash.ratelimit import KeyRateLimiter, limiter_for
from airflow_provider_msgflash.version_compat import (
    BaseHook,
    aconnection_extras,
    aget_connection,
    amask_secret,
    mask_secret,
)

if TYPE_CHECKING:
    import aiohttp
    import requests

    from airflow_provider_msgflash.api.types import (
        CancelAnswer,
        Contact,
        ContactList,
        ImportAnswer,
        Instance,
        InstanceHealth,
        InstanceState,
        Lookup,
        LookupList,
        LookupProgress,
        LookupSubmission,
    )

DEFAULT_CONN_ID = "msgflash_default"
#: Seconds ``test_connection`` waits to connect and for the answer (one try); page size of the ``iter_*`` helpers.
TEST_TIMEOUT, PAGE_SIZE = 5.0, 100


def _id(name: str, value: Any) -> str:
    """A path parameter (an instance, lookup or contact id), checked and URL-quoted."""
    if not isinstance(value, str) or not value.strip():
        raise MsgFlashConfigError(f"`{name}` must be a non-empty string, got {value!r}.", code="BAD_ARGUMENT")
    return quote(value.strip(), safe="")


def _query(**params: Any) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} or None


class MsgFlashBaseHook(BaseHook):
    """What both hooks share (not used directly): their arguments and the retry decision.

    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Default ``msgflash_default``.
    :param timeout: seconds per request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries of a retryable failure (429, 5xx, connection errors); overrides ``max_retries``.
    :param requests_per_second: client-side limit of the key; overrides ``requests_per_second`` (0 = off).
    """

    conn_name_attr = "msgflash_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE

    def __init__(
        self,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        requests_per_second: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.msgflash_conn_id = msgflash_conn_id
        self._overrides = {"timeout": timeout, "max_retries": max_retries, "requests_per_second": requests_per_second}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(msgflash_conn_id={self.msgflash_conn_id!r})"

    def _pause_or_raise(self, error: MsgFlashError, attempt: int, s: Settings, idempotent: bool) -> float:
        """Seconds to wait before sending the request again; raises ``error`` when it must not be."""
        wait = retry_wait(error, attempt, s.max_retries, idempotent)
        if wait is None:
            raise error
        tries = s.max_retries + 1
        self.log.warning(
            "MsgFlash %s failed (%s); try %d of %d, next in %.1f s.", error.request, error, attempt, tries, wait
        )
        return wait


class MsgFlashHook(MsgFlashBaseHook):
    """Synchronous MsgFlash client (requests): every route of the API as a method, one HTTP session with
    keep-alive per hook, the connection's key, team id, timeout, retries and the key's rate limiter applied.
    Arguments: those of :class:`MsgFlashBaseHook`."""

    hook_name = connection.HOOK_NAME

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled, hidden and placeholder fields of the connection form."""
        return connection.ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection's extras as form widgets."""
        return connection.connection_form_widgets()

    @cached_property
    def settings(self) -> Settings:
        """The checked connection settings (the key is registered with Airflow's secret masker)."""
        conn = self.get_connection(self.msgflash_conn_id)
        if conn.password:
            mask_secret(conn.password)
        return settings_from_connection(conn, self.msgflash_conn_id, self._overrides)

    @cached_property
    def limiter(self) -> KeyRateLimiter:
        """The limiter shared by every hook using this key (see :mod:`airflow_provider_msgflash.ratelimit`)."""
        s = self.settings
        return limiter_for(s.api_key, s.requests_per_second, backend=s.rate_limit_backend)

    @cached_property
    def session(self) -> requests.Session:
        """The HTTP session (keep-alive) with the auth headers."""
        import requests

        session = requests.Session()
        session.headers.update(self.settings.headers())
        return session

    def get_conn(self) -> requests.Session:
        """The configured :class:`requests.Session` (Airflow's hook convention)."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session (the hook opens a new one when used again)."""
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    def _request(
        self, method: str, path: str, *, params: Any = None, json: Any = None, idempotent: bool = True, s: Any = None
    ) -> Any:
        """One request (``path`` under ``/api/v1``): permit, send, retry, parse, error; the answer's ``data``.
        ``idempotent=False``: never sent again after an answer that does not prove it was refused (the caller
        looks for what it may have created). ``s``: other settings for this request (the connection test's)."""
        import requests

        s = s or self.settings
        request, attempt = f"{method} {API_PREFIX}{path}", 0
        while True:
            attempt += 1
            permit = self.limiter.acquire()
            try:
                resp = self.session.request(
                    method, s.base_url + API_PREFIX + path, params=params, json=json,
                    timeout=(min(CONNECT_TIMEOUT_CAP, s.timeout), s.timeout),
                )  # fmt: skip
            except requests.RequestException as e:
                error: MsgFlashError = transport_error(e, s, request)
            else:
                if resp.status_code == 429:
                    self.limiter.report(permit, 429, resp.text)  # MsgFlash's own 429 lowers the key's rate
                try:
                    return parse_answer(resp.status_code, resp.text, resp.headers, request)
                except MsgFlashError as e:
                    error = e
            time.sleep(self._pause_or_raise(error, attempt, s, idempotent))

    # Instances -----------------------------------------------------------------------------------------
    def list_instances(self) -> list[Instance]:
        """All instances of the account: ``{id, name, waNumber, status, ...}`` each."""
        return list(self._request("GET", "/instances") or [])

    def get_instance(self, instance_id: str) -> Instance:
        """One instance by id (``NOT_FOUND``: :class:`~airflow_provider_msgflash.exceptions.MsgFlashNotFoundError`)."""
        return cast("Instance", self._request("GET", f"/instances/{_id('instance_id', instance_id)}"))

    def get_instance_state(self, instance_id: str) -> InstanceState:
        """Live state from the WhatsApp provider: ``{instanceId, status, providerState}``."""
        return cast("InstanceState", self._request("GET", f"/instances/{_id('instance_id', instance_id)}/state"))

    def get_instance_health(self, instance_id: str) -> InstanceHealth:
        """Warm-up guidance: ``safetyState``, ``safetyScore``, ``warmupPolicy``, ``recommendations``..."""
        return cast("InstanceHealth", self._request("GET", f"/instances/{_id('instance_id', instance_id)}/health"))

    def resolve_instance(self, ref: str) -> Instance:
        """The instance named by ``ref``: its id, else its ``name`` or ``waNumber`` (one list request)."""
        ref = lookups.instance_ref(ref)
        return lookups.pick_instance(ref, self.list_instances())

    # Number lookups ------------------------------------------------------------------------------------
    def create_number_lookup(
        self, instance_id: str, numbers: list[str], exclude: Collection[str] = ()
    ) -> LookupSubmission:
        """Submit a lookup of ``numbers`` (1 to 10,000 strings) on ``instance_id``: under 100 the answer is
        ``mode: "sync"`` with its ``result``, from 100 ``mode: "async"`` with a ``lookupId`` to follow. Never sent
        twice blindly: after an answer that does not prove it was refused (a 5xx, a gateway's page, a timeout, a
        reset) the lookup it may have created is proven by its numbers and returned (``recovered: True``); when
        that cannot be told, ``LOOKUP_MAY_EXIST`` (final). ``exclude``: lookups surely not this one (other parts)."""
        return lookups.submit_lookup(self, instance_id, numbers, exclude)

    def list_number_lookups(
        self, limit: int | None = None, cursor: str | None = None, page: int | None = None
    ) -> LookupList:
        """One page of lookups, newest first, as MsgFlash answers it (``cursor`` or ``page``: the next page's
        query, in whichever paging style :func:`~airflow_provider_msgflash.api.shapes.read_page` found)."""
        params = _query(limit=limit, cursor=cursor, page=page)
        return cast("LookupList", self._request("GET", "/number-lookups", params=params))

    def get_number_lookup(self, lookup_id: str) -> Lookup:
        """A lookup with its progress fields, ``mode``, ``instanceId`` and, once done, ``result``."""
        return cast("Lookup", self._request("GET", f"/number-lookups/{_id('lookup_id', lookup_id)}"))

    def get_number_lookup_progress(self, lookup_id: str) -> LookupProgress:
        """``{id, status, progress, requestedCount, ..., error, createdAt, updatedAt, completedAt}``."""
        return cast("LookupProgress", self._request("GET", f"/number-lookups/{_id('lookup_id', lookup_id)}/progress"))

    def cancel_number_lookup(self, lookup_id: str) -> CancelAnswer | None:
        """Cancel a pending or processing lookup; None when it had already finished (not a failure)."""
        try:
            return cast("CancelAnswer", self._request("POST", f"/number-lookups/{_id('lookup_id', lookup_id)}/cancel"))
        except MsgFlashLookupNotCancellableError:
            self.log.info("Lookup %s had already finished; nothing to cancel.", lookup_id)
            return None

    def import_contacts(self, lookup_id: str, tag: str) -> ImportAnswer:
        """Import the lookup's on-WhatsApp numbers as contacts tagged ``tag`` (no duplicates: safe to repeat)."""
        if not isinstance(tag, str) or not tag.strip():
            raise MsgFlashConfigError(
                f"`tag` must be a non-empty string such as 'verified-whatsapp', got {tag!r}.", code="BAD_ARGUMENT"
            )
        path = f"/number-lookups/{_id('lookup_id', lookup_id)}/import-contacts"
        return cast("ImportAnswer", self._request("POST", path, json={"tag": tag.strip()}))

    # Contacts and account ------------------------------------------------------------------------------
    def list_contacts(
        self, limit: int | None = None, cursor: str | None = None, search: str | None = None, sort: str | None = None
    ) -> ContactList:
        """One page of contacts: ``{contacts, total, limit, sort, nextCursor, hasMore}``."""
        params = _query(limit=limit, cursor=cursor, search=search, sort=sort)
        return cast("ContactList", self._request("GET", "/contacts", params=params))

    def get_contact(self, contact_id: str) -> Contact:
        """One contact by id."""
        return cast("Contact", self._request("GET", f"/contacts/{_id('contact_id', contact_id)}"))

    def get_me(self) -> dict[str, Any]:
        """The account behind a personal key (team keys get ``TEAM_KEY_NOT_ALLOWED``)."""
        return dict(self._request("GET", "/me") or {})

    def iter_pages(self, path: str, key: str, max_pages: int, **params: Any) -> Iterator[Page]:
        """Each page of a list (``path``, its list under ``key``), in whichever paging style it uses, until the
        last or ``max_pages``; an unreadable list is a final ``UNEXPECTED_SHAPE`` error."""
        query: dict[str, Any] = {}
        for _ in range(max_pages):
            page = read_page(self._request("GET", path, params=_query(**params, **query)), key, params.get("limit"))
            if page.items is None:
                raise MsgFlashFinalError(
                    f"Cannot read the {key} list MsgFlash answered: {page.problem}. See docs/api-assumptions.md.",
                    code="UNEXPECTED_SHAPE",
                )
            yield page
            if page.next is None:
                return
            query = page.next

    def iter_number_lookups(self, page_size: int = PAGE_SIZE, max_pages: int = 100_000) -> Iterator[Lookup]:
        """Every lookup, newest first, page after page."""
        for page in self.iter_pages("/number-lookups", "lookups", max_pages, limit=page_size):
            yield from cast("list[Lookup]", page.items)

    def iter_contacts(self, page_size: int = PAGE_SIZE, search: str | None = None) -> Iterator[Contact]:
        """Every contact (optionally matching ``search``), page after page."""
        for page in self.iter_pages("/contacts", "contacts", 100_000, limit=page_size, search=search):
            yield from cast("list[Contact]", page.items)

    def test_connection(self) -> tuple[bool, str]:
        """The form's "Test": Base URL, key and team id checked with one cheap call (``GET /instances``), one
        try, at most :data:`TEST_TIMEOUT` seconds to connect and answer (a wrong Base URL is told in seconds)."""
        try:
            s = self.settings
            quick = replace(s, timeout=min(s.timeout, TEST_TIMEOUT), max_retries=0)
            instances = list(self._request("GET", "/instances", s=quick) or [])
        except MsgFlashConfigError as e:
            return False, e.message
        except MsgFlashConnectionError as e:
            hint = "" if "Base URL" in e.message else " Check the Base URL (host) field."
            return False, f"Could not reach MsgFlash: {e.message}.{hint}"
        except MsgFlashError as e:
            return False, f"MsgFlash refused the request: {e}"
        except Exception as e:
            return False, f"{type(e).__name__}: {e}"
        connected = sum(1 for i in instances if isinstance(i, dict) and i.get("status") == "connected")
        kind = "team" if s.is_team_key else "personal"
        return (
            True,
            f"Connected to MsgFlash at {s.base_url} ({kind} key): {len(instances)} instance(s), {connected} connected.",
        )


# -- the async hook, for triggers ---------------------------------------------------------------------------
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def _shared_session() -> aiohttp.ClientSession:
    """One aiohttp session per event loop, shared by every async hook on it: a thousand triggers in a triggerer
    reuse a handful of keep-alive connections."""
    import aiohttp

    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32, ttl_dns_cache=300))
    return session


async def close_shared_session() -> None:
    """Close the running loop's shared session (tests and short-lived loops call this)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


class MsgFlashAsyncHook(MsgFlashBaseHook):
    """Asynchronous MsgFlash client (aiohttp) with exactly what the triggers use, with the same types, errors,
    retries and per-key rate limiter as :class:`MsgFlashHook`; the connection is read without blocking the loop.
    Arguments: those of :class:`MsgFlashBaseHook`."""

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
            self._settings = settings_from_connection(conn, self.msgflash_conn_id, self._overrides, extras)
        return self._settings

    async def _request(self, method: str, path: str, *, idempotent: bool = True) -> Any:
        """:meth:`MsgFlashHook._request`'s twin: permit, send, retry, parse, error."""
        import aiohttp

        s = await self.get_settings()
        limiter = limiter_for(s.api_key, s.requests_per_second, backend=s.rate_limit_backend)
        timeout = aiohttp.ClientTimeout(total=s.timeout, connect=min(CONNECT_TIMEOUT_CAP, s.timeout))
        url, request, attempt = s.base_url + API_PREFIX + path, f"{method} {API_PREFIX}{path}", 0
        while True:
            attempt += 1
            permit = await limiter.acquire_async()
            try:
                async with _shared_session().request(method, url, headers=s.headers(), timeout=timeout) as resp:
                    status, text = resp.status, await resp.text()
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                error: MsgFlashError = transport_error(e, s, request)
            else:
                if status == 429:
                    await limiter.report_async(permit, 429, text)
                try:
                    return parse_answer(status, text, resp.headers, request)
                except MsgFlashError as e:
                    error = e
            await asyncio.sleep(self._pause_or_raise(error, attempt, s, idempotent))

    async def list_instances(self) -> list[Instance]:
        """As :meth:`MsgFlashHook.list_instances`."""
        return list(await self._request("GET", "/instances") or [])

    async def resolve_instance(self, ref: str) -> Instance:
        """As :meth:`MsgFlashHook.resolve_instance` (its ambiguity check included)."""
        ref = lookups.instance_ref(ref)
        return lookups.pick_instance(ref, await self.list_instances())

    async def get_instance_state(self, instance_id: str) -> InstanceState:
        """As :meth:`MsgFlashHook.get_instance_state`."""
        return cast("InstanceState", await self._request("GET", f"/instances/{_id('instance_id', instance_id)}/state"))

    async def get_instance_health(self, instance_id: str) -> InstanceHealth:
        """As :meth:`MsgFlashHook.get_instance_health`."""
        path = f"/instances/{_id('instance_id', instance_id)}/health"
        return cast("InstanceHealth", await self._request("GET", path))

    async def get_number_lookup_progress(self, lookup_id: str) -> LookupProgress:
        """As :meth:`MsgFlashHook.get_number_lookup_progress`."""
        path = f"/number-lookups/{_id('lookup_id', lookup_id)}/progress"
        return cast("LookupProgress", await self._request("GET", path))

    async def cancel_number_lookup(self, lookup_id: str) -> CancelAnswer | None:
        """As :meth:`MsgFlashHook.cancel_number_lookup`."""
        try:
            path = f"/number-lookups/{_id('lookup_id', lookup_id)}/cancel"
            return cast("CancelAnswer", await self._request("POST", path))
        except MsgFlashLookupNotCancellableError:
            self.log.info("Lookup %s had already finished; nothing to cancel.", lookup_id)
            return None


__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "MsgFlashAsyncHook",
    "MsgFlashBaseHook",
    "MsgFlashHook",
    "close_shared_session",
]

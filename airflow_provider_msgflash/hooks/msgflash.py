"""Hooks for MsgFlash: :class:`MsgFlashHook` (sync, requests + tenacity) and :class:`MsgFlashAsyncHook`
(aiohttp, for triggers).

Both take their settings from an Airflow connection of type ``msgflash``:

- **Base URL** (host): default ``https://srv.msgflash.com``; the sandbox's URL for local work.
- **API key** (password): ``msgf_live_`` + 64 hex characters, or a team key ``msgf_team_...``.
- **Extras**: ``team_id`` (required with a team key, refused with a personal key), ``timeout``
  (seconds per request, default 30), ``max_retries`` (default 5), ``requests_per_second`` (the
  client-side limit shared by all hooks using the key on one machine, default 10, 0 = off),
  ``rate_limit_backend`` (``host``, default; ``process``; or a Redis URL shared by every machine).

Routes, envelope parsing, error mapping and the retry policy live in :mod:`airflow_provider_msgflash._api`
and are shared by both hooks; each hook only moves bytes.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash import _api
from airflow_provider_msgflash._api import Call, Settings, call
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashConnectionError,
    MsgFlashError,
    MsgFlashLookupNotCancellableError,
    MsgFlashNotFoundError,
)
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

CONN_TYPE = "msgflash"
DEFAULT_CONN_ID = "msgflash_default"


class _MsgFlashBaseHook(BaseHook):
    """What both hooks share: the connection settings they take, and the API's routes as methods.

    Each route method builds a :class:`~airflow_provider_msgflash._api.Call` and hands it to ``_send``:
    the sync hook returns the answer's ``data``, the async hook returns an awaitable of it.
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
        self._overrides = {
            "timeout": timeout,
            "max_retries": max_retries,
            "requests_per_second": requests_per_second,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(msgflash_conn_id={self.msgflash_conn_id!r})"

    def _send(self, c: Call) -> Any:  # pragma: no cover - implemented by each hook
        raise NotImplementedError

    # Instances -----------------------------------------------------------------------------------
    def list_instances(self) -> Any:
        """All instances of the account: a list of ``{id, name, waNumber, status, ...}``."""
        return self._send(call("list_instances"))

    def get_instance(self, instance_id: str) -> Any:
        """One instance by id (``NOT_FOUND`` → :class:`MsgFlashNotFoundError`)."""
        return self._send(call("get_instance", instance_id=instance_id))

    def get_instance_state(self, instance_id: str) -> Any:
        """Live state from the WhatsApp provider: ``{instanceId, status, providerState}``."""
        return self._send(call("get_instance_state", instance_id=instance_id))

    def get_instance_health(self, instance_id: str) -> Any:
        """Warm-up guidance: ``safetyState``, ``safetyScore``, ``warmupPolicy``, ``recommendations``..."""
        return self._send(call("get_instance_health", instance_id=instance_id))

    # Number lookups --------------------------------------------------------------------------------
    def list_number_lookups(self, limit: int | None = None, cursor: str | None = None) -> Any:
        """One page of lookups, newest first: ``{lookups, nextCursor, hasMore}``."""
        return self._send(call("list_lookups", params={"limit": limit, "cursor": cursor}))

    def get_number_lookup(self, lookup_id: str) -> Any:
        """A lookup with its progress fields, ``mode``, ``instanceId`` and, once done, ``result``."""
        return self._send(call("get_lookup", lookup_id=lookup_id))

    def get_number_lookup_progress(self, lookup_id: str) -> Any:
        """``{id, status, progress, requestedCount, ..., completedAt}`` (the route to poll)."""
        return self._send(call("get_lookup_progress", lookup_id=lookup_id))

    def import_contacts(self, lookup_id: str, tag: str) -> Any:
        """Import the lookup's on-WhatsApp numbers as contacts tagged ``tag`` (no duplicates)."""
        if not isinstance(tag, str) or not tag.strip():
            raise MsgFlashConfigError(
                f"`tag` must be a non-empty string such as 'verified-whatsapp', got {tag!r}.",
                code="BAD_ARGUMENT",
            )
        return self._send(call("import_contacts", lookup_id=lookup_id, json={"tag": tag.strip()}))

    # Contacts and account --------------------------------------------------------------------------
    def list_contacts(
        self,
        limit: int | None = None,
        cursor: str | None = None,
        search: str | None = None,
        sort: str | None = None,
    ) -> Any:
        """One page of contacts: ``{contacts, total, limit, sort, nextCursor, hasMore}``."""
        params = {"limit": limit, "cursor": cursor, "search": search, "sort": sort}
        return self._send(call("list_contacts", params=params))

    def get_contact(self, contact_id: str) -> Any:
        """One contact by id."""
        return self._send(call("get_contact", contact_id=contact_id))

    def get_me(self) -> Any:
        """The account behind a personal key (team keys get ``TEAM_KEY_NOT_ALLOWED``)."""
        return self._send(call("get_me"))


def _retry_log(hook: BaseHook, c: Call, exc: BaseException | None, attempt: int, total: int, wait: float) -> None:
    hook.log.warning("MsgFlash %s failed (%s); try %d of %d, next in %.1f s.", c.describe(), exc, attempt, total, wait)


class MsgFlashHook(_MsgFlashBaseHook):
    """Synchronous MsgFlash client (requests + tenacity), one HTTP session with keep-alive per hook.

    :param msgflash_conn_id: the Airflow connection (type ``msgflash``) holding Base URL, API key and
        extras. Default ``msgflash_default``.
    :param timeout: seconds per request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries of a retryable failure (429, 5xx, connection errors); overrides the
        connection's ``max_retries`` extra.
    :param requests_per_second: client-side limit for this key in this process; overrides the
        connection's ``requests_per_second`` extra (0 = off).
    """

    hook_name = "MsgFlash"

    # Connection form: Airflow 2 reads these from this class's own body (not inherited); Airflow 3
    # reads the declarative form in get_provider_info.
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled, hidden and placeholder fields of the connection form."""
        from airflow_provider_msgflash.get_provider_info import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extras as form widgets (Airflow 2's form)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        return {
            "team_id": StringField(lazy_gettext("Team id (team keys only)"), widget=BS3TextFieldWidget()),
            "timeout": IntegerField(
                lazy_gettext("Request timeout (s)"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=1)],
                default=int(_api.DEFAULT_TIMEOUT),
            ),
            "max_retries": IntegerField(
                lazy_gettext("Max retries"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=0)],
                default=_api.DEFAULT_MAX_RETRIES,
            ),
            "requests_per_second": IntegerField(
                lazy_gettext("Requests per second (0 = no client limit)"),
                widget=BS3TextFieldWidget(),
                validators=[Optional(), NumberRange(min=0)],
                default=int(_api.DEFAULT_REQUESTS_PER_SECOND),
            ),
        }

    @cached_property
    def settings(self) -> Settings:
        """The checked connection settings (the key is registered with Airflow's secret masker)."""
        conn = self.get_connection(self.msgflash_conn_id)
        if conn.password:
            mask_secret(conn.password)
        return _api.settings_from_connection(conn, self.msgflash_conn_id, self._overrides)

    @cached_property
    def limiter(self) -> KeyRateLimiter:
        """The process-wide limiter shared by every hook using this key."""
        s = self.settings
        return limiter_for(s.api_key, s.requests_per_second, backend=s.rate_limit_backend)

    @cached_property
    def session(self) -> requests.Session:
        """The HTTP session (keep-alive) with the auth headers."""
        import requests

        s = requests.Session()
        s.headers.update(self.settings.headers())
        return s

    def get_conn(self) -> requests.Session:
        """The configured :class:`requests.Session` (Airflow's hook convention)."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session (the hook opens a new one when used again)."""
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    def _send_once(self, c: Call) -> Any:
        import requests

        s = self.settings
        permit = self.limiter.acquire()
        try:
            resp = self.session.request(
                c.method,
                s.url(c),
                params=c.params,
                json=c.json,
                timeout=(min(10.0, s.timeout), s.timeout),
            )
        except requests.ConnectTimeout as e:
            raise MsgFlashConnectionError(
                f"could not connect to {s.base_url} within {min(10.0, s.timeout):.0f} s ({type(e).__name__})",
                maybe_sent=False,
                code="CONNECTION_ERROR",
                request=c.describe(),
            ) from None
        except requests.ConnectionError as e:
            # Refused / DNS failures never reached the server; an aborted answer may have.
            reason = str(e)
            never_sent = any(
                m in reason for m in ("NewConnectionError", "Connection refused", "Name or service not known")
            )
            raise MsgFlashConnectionError(
                f"connection to {s.base_url} failed: {_reason(e)}",
                maybe_sent=not never_sent,
                code="CONNECTION_ERROR",
                request=c.describe(),
            ) from None
        except requests.Timeout:
            raise MsgFlashConnectionError(
                f"no answer from {s.base_url} within {s.timeout:.0f} s (timeout)",
                maybe_sent=True,
                code="TIMEOUT",
                request=c.describe(),
            ) from None
        except requests.RequestException as e:
            raise MsgFlashConnectionError(
                f"request to {s.base_url} failed: {type(e).__name__}: {_reason(e)}",
                maybe_sent=True,
                code="CONNECTION_ERROR",
                request=c.describe(),
            ) from None
        self.limiter.report(permit, resp.status_code, resp.text)
        return _api.parse_answer(resp.status_code, resp.text, resp.headers, c.describe())

    def _send(self, c: Call) -> Any:
        import tenacity

        policy = _api.retry_policy(c, self.settings.max_retries, partial(_retry_log, self, c))
        return tenacity.Retrying(**policy)(self._send_once, c)

    # Lookups with logic ------------------------------------------------------------------------------
    def create_number_lookup(self, instance_id: str, numbers: list[str]) -> dict[str, Any]:
        """Submit a lookup of ``numbers`` (1 to 10,000 strings) on ``instance_id``.

        Under 100 numbers the answer is synchronous (``mode: "sync"`` with ``result``); from 100 on it
        is ``mode: "async"`` with a ``lookupId`` to follow. The request is never repeated blindly: if
        the answer is lost after the request may have reached MsgFlash (read timeout, dropped
        connection), the hook first looks for the lookup it created (same instance, same count,
        created since) and returns it with ``recovered: True``; only if none is found is it sent again.
        """
        _api.check_lookup_request(instance_id, numbers)
        c = call("create_lookup", json={"instanceId": instance_id.strip(), "numbers": list(numbers)})
        sent_at = datetime.now(timezone.utc)
        try:
            answer: dict[str, Any] = self._send(c)
            return answer
        except MsgFlashConnectionError as exc:
            if not exc.maybe_sent:
                raise
            self.log.warning(
                "The lookup request may have reached MsgFlash but its answer was lost (%s); looking for the "
                "lookup it may have created before sending it again.",
                exc,
            )
        time.sleep(1.0)
        found = self.find_lookups(instance_id.strip(), len(numbers), created_after=sent_at)
        if found:
            item = found[0]
            self.log.info("Found lookup %s created by the lost request; using it.", item.get("id"))
            return recovered_submission(item)
        self.log.info("No lookup was created by the lost request; sending it again.")
        answer = self._send(c)
        return answer

    def iter_number_lookups(self, page_size: int = 100, max_pages: int | None = None) -> Iterator[dict[str, Any]]:
        """Every lookup, newest first, following ``nextCursor`` (at most ``max_pages`` pages)."""
        cursor: str | None = None
        pages = 0
        while True:
            page = self.list_number_lookups(limit=page_size, cursor=cursor)
            yield from page.get("lookups") or []
            pages += 1
            cursor = page.get("nextCursor")
            if not page.get("hasMore") or not cursor or (max_pages is not None and pages >= max_pages):
                return

    def find_lookups(
        self, instance_id: str, requested: int, created_after: datetime | None, max_pages: int = 5
    ) -> list[dict[str, Any]]:
        """Lookups (newest first) on ``instance_id`` of ``requested`` numbers created after
        ``created_after``, not cancelled: candidates for "the lookup we already submitted"."""
        candidates: list[dict[str, Any]] = []
        for item in self.iter_number_lookups(max_pages=max_pages):
            created = _api.parse_time(item.get("createdAt"))
            if created_after is not None and created is not None and created < created_after - _SKEW:
                break
            candidates.append(item)
        return [
            dict(x)
            for x in _api.matching_lookups(
                candidates, instance_id=instance_id, requested=requested, created_after=created_after
            )
        ]

    def cancel_number_lookup(self, lookup_id: str) -> dict[str, Any] | None:
        """Cancel a pending or processing lookup. Returns the API's answer, or None when the lookup
        had already finished (``LOOKUP_CANNOT_BE_CANCELLED`` is not a failure)."""
        try:
            answer: dict[str, Any] = self._send(call("cancel_lookup", lookup_id=lookup_id))
            return answer
        except MsgFlashLookupNotCancellableError:
            self.log.info("Lookup %s had already finished; nothing to cancel.", lookup_id)
            return None

    def iter_contacts(self, page_size: int = 100, search: str | None = None) -> Iterator[dict[str, Any]]:
        """Every contact (optionally matching ``search``), following ``nextCursor``."""
        cursor: str | None = None
        for _ in range(100_000):
            page = self.list_contacts(limit=page_size, cursor=cursor, search=search)
            yield from page.get("contacts") or []
            cursor = page.get("nextCursor")
            if not page.get("hasMore") or not cursor:
                return

    def resolve_instance(self, ref: str) -> dict[str, Any]:
        """The instance named by ``ref``: its id, else its ``name`` or ``waNumber`` (one list call)."""
        if not isinstance(ref, str) or not ref.strip():
            raise MsgFlashConfigError(
                f"An instance must be named by a non-empty id, name or waNumber, got {ref!r}.",
                code="BAD_ARGUMENT",
            )
        ref = ref.strip()
        instances = self.list_instances() or []
        for key in ("id", "name", "waNumber"):
            hits = [i for i in instances if i.get(key) == ref and not i.get("deletedAt")]
            if len(hits) == 1:
                found: dict[str, Any] = hits[0]
                return found
            if len(hits) > 1:
                raise MsgFlashConfigError(
                    f"{len(hits)} instances have {key} {ref!r}; name the instance by its id instead: "
                    + ", ".join(str(h.get("id")) for h in hits),
                    code="AMBIGUOUS_INSTANCE",
                )
        known = ", ".join(f"{i.get('name')} ({i.get('id')}, {i.get('status')})" for i in instances[:20])
        raise MsgFlashNotFoundError(
            f"No instance has id, name or waNumber {ref!r} in this account. Known instances: {known or 'none'}.",
            code="NOT_FOUND",
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check Base URL, key and team id with one cheap authenticated call (``GET /instances``)."""
        try:
            s = self.settings
            instances = self.list_instances() or []
        except MsgFlashConfigError as e:
            return False, e.message
        except MsgFlashConnectionError as e:
            return False, f"Could not reach MsgFlash: {e.message}. Check the Base URL (host) field."
        except MsgFlashError as e:
            return False, f"MsgFlash refused the request: {e}"
        except Exception as e:
            return False, f"{type(e).__name__}: {e}"
        connected = sum(1 for i in instances if isinstance(i, dict) and i.get("status") == "connected")
        return True, (
            f"Connected to MsgFlash at {s.base_url} ({'team' if s.is_team_key else 'personal'} key): "
            f"{len(instances)} instance(s), {connected} connected."
        )


_SKEW = _api.timedelta(seconds=60)


def recovered_submission(item: dict[str, Any]) -> dict[str, Any]:
    """A create-style answer built from a listed lookup found after a lost create answer."""
    requested = _api.lookup_requested(item)
    return {
        "mode": item.get("mode") or ("sync" if (requested or 0) < _api.ASYNC_LOOKUP_THRESHOLD else "async"),
        "lookupId": item.get("id"),
        "status": item.get("status"),
        "requested": requested,
        "recovered": True,
    }


_ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


def _reason(exc: BaseException) -> str:
    """The useful part of a transport error (``[Errno 111] Connection refused``), not the wrapper's text."""
    text = str(exc)
    m = _ERRNO_RE.search(text)
    if m:
        return m.group(0).strip()
    for hint in ("RemoteDisconnected", "Connection aborted", "Connection reset", "IncompleteRead"):
        if hint in text:
            return hint.replace("Remote", "server ").lower() if hint == "RemoteDisconnected" else hint.lower()
    return _short(text)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------------
# Async
# --------------------------------------------------------------------------------------------------
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


class MsgFlashAsyncHook(_MsgFlashBaseHook):
    """Asynchronous MsgFlash client for triggers (aiohttp). Same routes, errors and retry policy as
    :class:`MsgFlashHook`; the connection is fetched without blocking the event loop, and the rate
    limiter is the same per-key one, so sync and async users of one key share it.

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
            self._settings = _api.settings_from_connection(conn, self.msgflash_conn_id, self._overrides, extras)
        return self._settings

    async def _send_once(self, c: Call, s: Settings) -> Any:
        import aiohttp

        limiter = limiter_for(s.api_key, s.requests_per_second, backend=s.rate_limit_backend)
        permit = await limiter.acquire_async()
        try:
            async with _shared_session().request(
                c.method,
                s.url(c),
                params=c.params,
                json=c.json,
                headers=s.headers(),
                timeout=aiohttp.ClientTimeout(total=s.timeout, connect=min(10.0, s.timeout)),
            ) as resp:
                text = await resp.text()
                await limiter.report_async(permit, resp.status, text)
                return _api.parse_answer(resp.status, text, resp.headers, c.describe())
        except aiohttp.ClientConnectorError as e:
            raise MsgFlashConnectionError(
                f"could not connect to {s.base_url}: {_reason(e)}",
                maybe_sent=False,
                code="CONNECTION_ERROR",
                request=c.describe(),
            ) from None
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise MsgFlashConnectionError(
                f"no answer from {s.base_url} within {s.timeout:.0f} s (timeout)",
                maybe_sent=True,
                code="TIMEOUT",
                request=c.describe(),
            ) from None
        except aiohttp.ClientError as e:
            raise MsgFlashConnectionError(
                f"request to {s.base_url} failed: {type(e).__name__}: {_short(str(e))}",
                maybe_sent=True,
                code="CONNECTION_ERROR",
                request=c.describe(),
            ) from None

    async def _asend(self, c: Call) -> Any:
        import tenacity

        s = await self.get_settings()
        policy = _api.retry_policy(c, s.max_retries, partial(_retry_log, self, c))
        return await tenacity.AsyncRetrying(**policy)(self._send_once, c, s)

    def _send(self, c: Call) -> Any:
        return self._asend(c)

    async def cancel_number_lookup(self, lookup_id: str) -> dict[str, Any] | None:
        """Cancel a lookup; None when it had already finished (like the sync hook)."""
        try:
            answer: dict[str, Any] = await self._asend(call("cancel_lookup", lookup_id=lookup_id))
            return answer
        except MsgFlashLookupNotCancellableError:
            self.log.info("Lookup %s had already finished; nothing to cancel.", lookup_id)
            return None

""":class:`MsgFlashHook`: the synchronous MsgFlash client (requests + tenacity) that operators and sensors use."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash import connection_form
from airflow_provider_msgflash.api import settings as api_settings
from airflow_provider_msgflash.api.answers import parse_answer
from airflow_provider_msgflash.api.retry import retry_policy
from airflow_provider_msgflash.api.routes import Call, call
from airflow_provider_msgflash.api.settings import Settings
from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashConnectionError, MsgFlashError
from airflow_provider_msgflash.hooks import flows
from airflow_provider_msgflash.hooks.base import MsgFlashBaseHook
from airflow_provider_msgflash.hooks.transport import connect_timeout, connection_error
from airflow_provider_msgflash.ratelimit import KeyRateLimiter, limiter_for
from airflow_provider_msgflash.version_compat import mask_secret

if TYPE_CHECKING:
    import requests

#: Most pages followed by the ``iter_*`` helpers (100 items each).
MAX_PAGES = 100_000
#: Seconds ``test_connection`` waits to connect and for the answer (one try, no retries).
TEST_TIMEOUT = 5.0


class MsgFlashHook(MsgFlashBaseHook):
    """Synchronous MsgFlash client (requests + tenacity), one HTTP session with keep-alive per hook.

    Every route of the API is a method (``list_instances``, ``get_instance_state``,
    ``create_number_lookup``, ``get_number_lookup_progress``, ``cancel_number_lookup``,
    ``import_contacts``, ...), with the connection's key, team id, timeout, retries and the per-key
    rate limiter applied. Its arguments (``msgflash_conn_id``, ``timeout``, ``max_retries``,
    ``requests_per_second``) are those of :class:`~airflow_provider_msgflash.hooks.base.MsgFlashBaseHook`.
    """

    hook_name = connection_form.HOOK_NAME

    # Connection form: Airflow 2.11, 3.0 and 3.1 read these from this class's own body (not
    # inherited); Airflow 3.2+ reads the declarative form in get_provider_info. Both come from
    # connection_form, the form's one declaration.
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled, hidden and placeholder fields of the connection form."""
        return connection_form.ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection's extras as form widgets."""
        return connection_form.connection_form_widgets()

    @cached_property
    def settings(self) -> Settings:
        """The checked connection settings (the key is registered with Airflow's secret masker)."""
        conn = self.get_connection(self.msgflash_conn_id)
        if conn.password:
            mask_secret(conn.password)
        return api_settings.settings_from_connection(conn, self.msgflash_conn_id, self._overrides)

    @cached_property
    def limiter(self) -> KeyRateLimiter:
        """The limiter shared by every hook using this key (see :mod:`airflow_provider_msgflash.ratelimit`)."""
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

    # Sending ---------------------------------------------------------------------------------------
    def _send_once(self, c: Call, settings: Settings | None = None) -> Any:
        import requests

        s = settings or self.settings
        permit = self.limiter.acquire()
        try:
            resp = self.session.request(
                c.method, s.url(c), params=c.params, json=c.json, timeout=(connect_timeout(s), s.timeout)
            )
        except requests.RequestException as e:
            raise connection_error(e, s, c) from None
        self.limiter.report(permit, resp.status_code, resp.text)  # a 429 lowers the key's rate (AIMD)
        return parse_answer(resp.status_code, resp.text, resp.headers, c.describe())

    def _send(self, c: Call) -> Any:
        import tenacity

        policy = retry_policy(c, self.settings.max_retries, partial(self._retry_log, c))
        return tenacity.Retrying(**policy)(self._send_once, c)

    def _step(self, step: flows.Step) -> flows.Outcome:
        if isinstance(step, flows.Pause):
            time.sleep(step.seconds)
            return flows.Outcome()
        try:
            return flows.Outcome(self._send(step))
        except MsgFlashError as e:
            return flows.Outcome(error=e)

    def _run(self, flow: flows.Flow[Any]) -> Any:
        finished, step = flows.advance(flow, None)
        while not finished:
            finished, step = flows.advance(flow, self._step(step))
        return step

    # Paging ----------------------------------------------------------------------------------------
    def _iter_pages(self, name: str, items_key: str, max_pages: int | None, **params: Any) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        for _ in range(min(max_pages or MAX_PAGES, MAX_PAGES)):
            items, cursor = flows.page_of(self._call(call(name, params={**params, "cursor": cursor})), items_key)
            yield from items
            if cursor is None:
                return

    def iter_number_lookups(
        self, page_size: int = flows.PAGE_SIZE, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every lookup, newest first, following ``nextCursor`` (at most ``max_pages`` pages)."""
        return self._iter_pages("list_lookups", "lookups", max_pages, limit=page_size)

    def iter_contacts(self, page_size: int = flows.PAGE_SIZE, search: str | None = None) -> Iterator[dict[str, Any]]:
        """Every contact (optionally matching ``search``), following ``nextCursor``."""
        return self._iter_pages("list_contacts", "contacts", None, limit=page_size, search=search)

    # The connection form's "Test" ------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """Check Base URL, key and team id with one cheap authenticated call (``GET /instances``).

        Fails fast: one try, and at most :data:`TEST_TIMEOUT` seconds to connect and to answer, so a
        wrong or unreachable Base URL is reported within seconds.
        """
        try:
            s = self.settings
            quick = replace(s, timeout=min(s.timeout, TEST_TIMEOUT), max_retries=0)
            instances = self._send_once(call("list_instances"), quick) or []
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
        return True, (
            f"Connected to MsgFlash at {s.base_url} ({'team' if s.is_team_key else 'personal'} key): "
            f"{len(instances)} instance(s), {connected} connected."
        )

"""What both MsgFlash hooks share: the connection arguments they take, and the API as methods.

Every method hands a flow (:mod:`~airflow_provider_msgflash.hooks.flows`) to ``_run``: the sync hook
(:class:`~airflow_provider_msgflash.hooks.sync_hook.MsgFlashHook`) returns the result, the async hook
(:class:`~airflow_provider_msgflash.hooks.async_hook.MsgFlashAsyncHook`) an awaitable of it. So each
route, and each conversation of several requests, is written once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from airflow_provider_msgflash.api.routes import Call, call
from airflow_provider_msgflash.connection_form import CONN_TYPE
from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.hooks import flows
from airflow_provider_msgflash.version_compat import BaseHook

DEFAULT_CONN_ID = "msgflash_default"


class MsgFlashBaseHook(BaseHook):
    """Base of :class:`MsgFlashHook` and :class:`MsgFlashAsyncHook` (not used directly).

    :param msgflash_conn_id: the Airflow connection (type ``msgflash``) holding Base URL, API key and
        extras. Default ``msgflash_default``.
    :param timeout: seconds per request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries of a retryable failure (429, 5xx, connection errors); overrides the
        connection's ``max_retries`` extra.
    :param requests_per_second: client-side limit for this key; overrides the connection's
        ``requests_per_second`` extra (0 = off).
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

    def _run(self, flow: flows.Flow[Any]) -> Any:  # pragma: no cover - each hook drives flows its way
        raise NotImplementedError

    def _call(self, c: Call) -> Any:
        return self._run(flows.send(c))

    def _retry_log(self, c: Call, exc: BaseException | None, attempt: int, total: int, wait: float) -> None:
        self.log.warning(
            "MsgFlash %s failed (%s); try %d of %d, next in %.1f s.", c.describe(), exc, attempt, total, wait
        )

    # Instances -----------------------------------------------------------------------------------
    def list_instances(self) -> Any:
        """All instances of the account: a list of ``{id, name, waNumber, status, ...}``."""
        return self._call(call("list_instances"))

    def get_instance(self, instance_id: str) -> Any:
        """One instance by id (``NOT_FOUND`` → :class:`MsgFlashNotFoundError`)."""
        return self._call(call("get_instance", instance_id=instance_id))

    def get_instance_state(self, instance_id: str) -> Any:
        """Live state from the WhatsApp provider: ``{instanceId, status, providerState}``."""
        return self._call(call("get_instance_state", instance_id=instance_id))

    def get_instance_health(self, instance_id: str) -> Any:
        """Warm-up guidance: ``safetyState``, ``safetyScore``, ``warmupPolicy``, ``recommendations``..."""
        return self._call(call("get_instance_health", instance_id=instance_id))

    def resolve_instance(self, ref: str) -> Any:
        """The instance named by ``ref``: its id, else its ``name`` or ``waNumber`` (one list call)."""
        return self._run(flows.resolve_instance(ref))

    # Number lookups --------------------------------------------------------------------------------
    def create_number_lookup(self, instance_id: str, numbers: list[str], exclude: Collection[str] = ()) -> Any:
        """Submit a lookup of ``numbers`` (1 to 10,000 strings) on ``instance_id``.

        Under 100 numbers the answer is synchronous (``mode: "sync"`` with ``result``); from 100 on it
        is ``mode: "async"`` with a ``lookupId`` to follow. The request is never repeated blindly: if
        the answer is lost after the request may have reached MsgFlash (read timeout, dropped
        connection), the hook first looks for the lookup it created (same instance, same count,
        created since) and returns it with ``recovered: True``; only if surely none was created is it sent
        again, and when that cannot be told it fails (final) saying a lookup may exist and how to check.

        :param exclude: ids of lookups that are surely not this one (the other parts of a split lookup).
        """
        return self._run(flows.create_lookup(instance_id, numbers, self.log, exclude))

    def list_number_lookups(self, limit: int | None = None, cursor: str | None = None) -> Any:
        """One page of lookups, newest first: ``{lookups, nextCursor, hasMore}``."""
        return self._call(call("list_lookups", params={"limit": limit, "cursor": cursor}))

    def find_lookups(self, instance_id: str, requested: int, created_after: datetime | None, max_pages: int = 5) -> Any:
        """Lookups (newest first) on ``instance_id`` of ``requested`` numbers created after
        ``created_after``, not cancelled: candidates for "the lookup we already submitted"."""
        return self._run(flows.find_lookups(instance_id, requested, created_after, max_pages))

    def find_reusable_lookup(self, instance_id: str, numbers: list[str], since: datetime, exclude: set[str]) -> Any:
        """A lookup submitted since ``since`` for the same request (same instance and count; when
        finished, the same numbers), not failed and not in ``exclude``, as a create-style answer with
        ``recovered: True``; None when there is none. A retried task uses it instead of submitting
        the same numbers again."""
        return self._run(flows.reusable_lookup(instance_id, numbers, since, exclude, self.log))

    def get_number_lookup(self, lookup_id: str) -> Any:
        """A lookup with its progress fields, ``mode``, ``instanceId`` and, once done, ``result``."""
        return self._call(call("get_lookup", lookup_id=lookup_id))

    def get_number_lookup_progress(self, lookup_id: str) -> Any:
        """``{id, status, progress, requestedCount, ..., completedAt}`` (the route to poll)."""
        return self._call(call("get_lookup_progress", lookup_id=lookup_id))

    def cancel_number_lookup(self, lookup_id: str) -> Any:
        """Cancel a pending or processing lookup. Returns the API's answer, or None when the lookup
        had already finished (``LOOKUP_CANNOT_BE_CANCELLED`` is not a failure)."""
        return self._run(flows.cancel(lookup_id, self.log))

    def import_contacts(self, lookup_id: str, tag: str) -> Any:
        """Import the lookup's on-WhatsApp numbers as contacts tagged ``tag`` (no duplicates)."""
        if not isinstance(tag, str) or not tag.strip():
            raise MsgFlashConfigError(
                f"`tag` must be a non-empty string such as 'verified-whatsapp', got {tag!r}.", code="BAD_ARGUMENT"
            )
        return self._call(call("import_contacts", lookup_id=lookup_id, json={"tag": tag.strip()}))

    # Contacts and account --------------------------------------------------------------------------
    def list_contacts(
        self, limit: int | None = None, cursor: str | None = None, search: str | None = None, sort: str | None = None
    ) -> Any:
        """One page of contacts: ``{contacts, total, limit, sort, nextCursor, hasMore}``."""
        params = {"limit": limit, "cursor": cursor, "search": search, "sort": sort}
        return self._call(call("list_contacts", params=params))

    def get_contact(self, contact_id: str) -> Any:
        """One contact by id."""
        return self._call(call("get_contact", contact_id=contact_id))

    def get_me(self) -> Any:
        """The account behind a personal key (team keys get ``TEAM_KEY_NOT_ALLOWED``)."""
        return self._call(call("get_me"))

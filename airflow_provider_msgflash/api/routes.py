"""MsgFlash's routes, as MsgFlash's public API documentation (https://docs.msgflash.com/) gives them;
what the provider relies on beyond that documentation is listed in ``docs/api-assumptions.md``.

A :class:`Call` is a request ready to send (route, concrete path, query, body): the hooks send it,
nothing else builds URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_msgflash.api.defaults import API_PREFIX
from airflow_provider_msgflash.exceptions import MsgFlashConfigError


@dataclass(frozen=True)
class Route:
    """One API route.

    :param idempotent: sending it twice does no harm, so it may be retried even when the first try
        may have reached the server (read timeout, dropped connection).
    """

    method: str
    path: str
    idempotent: bool = True


ROUTES: dict[str, Route] = {
    "list_instances": Route("GET", "/instances"),
    "get_instance": Route("GET", "/instances/{instance_id}"),
    "get_instance_state": Route("GET", "/instances/{instance_id}/state"),
    "get_instance_health": Route("GET", "/instances/{instance_id}/health"),
    # Creating a lookup twice creates two lookups: never repeated blindly (see hooks/flows.py).
    "create_lookup": Route("POST", "/number-lookups", idempotent=False),
    "list_lookups": Route("GET", "/number-lookups"),
    "get_lookup": Route("GET", "/number-lookups/{lookup_id}"),
    "get_lookup_progress": Route("GET", "/number-lookups/{lookup_id}/progress"),
    # A repeated cancel answers LOOKUP_CANNOT_BE_CANCELLED, which callers treat as "already finished".
    "cancel_lookup": Route("POST", "/number-lookups/{lookup_id}/cancel"),
    # Imports never duplicate contacts, so a repeat is harmless.
    "import_contacts": Route("POST", "/number-lookups/{lookup_id}/import-contacts"),
    "list_contacts": Route("GET", "/contacts"),
    "get_contact": Route("GET", "/contacts/{contact_id}"),
    "get_me": Route("GET", "/me"),
}


@dataclass(frozen=True)
class Call:
    """A request ready to send: route, concrete path (under the API prefix), query and JSON body."""

    name: str
    route: Route
    path: str
    params: dict[str, Any] | None = None
    json: Any = None

    @property
    def method(self) -> str:
        return self.route.method

    def describe(self) -> str:
        """``"GET /api/v1/instances/..."``: used in logs and exceptions (no host, no headers)."""
        return f"{self.route.method} {self.path}"


def call(name: str, *, params: Mapping[str, Any] | None = None, json: Any = None, **path: str) -> Call:
    """Build the :class:`Call` for route ``name``; path parameters are checked and URL-quoted."""
    route = ROUTES[name]
    quoted: dict[str, str] = {}
    for key, value in path.items():
        if not isinstance(value, str) or not value.strip():
            raise MsgFlashConfigError(f"`{key}` must be a non-empty string, got {value!r}.", code="BAD_ARGUMENT")
        quoted[key] = quote(value.strip(), safe="")
    clean_params = {k: v for k, v in (params or {}).items() if v is not None} or None
    return Call(name, route, API_PREFIX + route.path.format(**quoted), clean_params, json)

"""Connection settings: what a hook takes from an Airflow connection of type ``msgflash``, checked
before anything is sent (Base URL, API key format, team key and team id, numeric extras).

Every message names the connection and the fix, and none contains the key or any part of it.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_msgflash.api.defaults import (
    API_PREFIX,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
)
from airflow_provider_msgflash.api.routes import Call
from airflow_provider_msgflash.connection_form import EXTRA_FIELDS
from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.ratelimit import check_backend

log = logging.getLogger(__name__)

PERSONAL_KEY_RE = re.compile(r"^msgf_live_[0-9a-f]{64}$")
TEAM_KEY_RE = re.compile(r"^msgf_team_[A-Za-z0-9_-]{8,}$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: The extras a ``msgflash`` connection takes: those its form declares.
KNOWN_EXTRAS = frozenset(f.name for f in EXTRA_FIELDS)


@dataclass(frozen=True)
class Settings:
    """What a hook needs from an Airflow connection. ``repr()`` never shows the key."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    team_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    #: Where the limiter's state lives: "host", "process" or a Redis URL (may hold a password).
    rate_limit_backend: str = field(default="host", repr=False)

    @property
    def is_team_key(self) -> bool:
        return self.api_key.startswith("msgf_team_")

    def headers(self) -> dict[str, str]:
        """Auth and content headers for every request (``x-api-key``, never ``Authorization``)."""
        h = {"x-api-key": self.api_key, "Accept": "application/json"}
        if self.team_id:
            h["X-Team-Id"] = self.team_id
        return h

    def url(self, c: Call) -> str:
        return self.base_url + c.path


_TRANSIENT_ID_RE = re.compile(r"[A-Za-z0-9]{8}")


def describe_connection(conn_id: str) -> str:
    """``Connection 'msgflash_default'`` for messages, or ``The connection`` when ``conn_id`` is the
    random id Airflow gives a connection it tests from the UI or the REST API (8 letters and digits,
    exported as ``AIRFLOW_CONN_<ID>`` for the test only): that id means nothing to the user."""
    transient = (
        _TRANSIENT_ID_RE.fullmatch(conn_id or "") is not None
        and not conn_id.islower()
        and f"AIRFLOW_CONN_{conn_id.upper()}" in os.environ
    )
    return "The connection" if transient else f"Connection {conn_id!r}"


def base_url_from(host: str | None, port: int | None, conn_id: str) -> str:
    """Base URL from the connection's host (a full URL, or a bare host name) and port.

    A bare host gets ``https://`` (``http://`` for loopback hosts such as the sandbox). A pasted
    ``/api/v1`` suffix and trailing slashes are dropped.
    """
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        try:
            bare = urlsplit("//" + raw).hostname or ""  # also "[::1]:8080" → "::1"
        except ValueError:
            bare = ""
        raw = ("http://" if bare in LOOPBACK_HOSTS else "https://") + raw
    try:
        parts = urlsplit(raw)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and (parts.port or 0) >= 0  # .port raises ValueError for "host:abc", "host:99999"
    except ValueError:
        valid = False
    if not valid:
        raise MsgFlashConfigError(
            f"{describe_connection(conn_id)}: the Base URL {host!r} is not an http(s) URL. "
            f"Set the connection's host to e.g. {DEFAULT_BASE_URL!r} (or the sandbox's URL).",
            code="BAD_CONNECTION",
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return f"{parts.scheme}://{netloc}{path}"


def check_key(api_key: str | None, team_id: str | None, conn_id: str) -> tuple[str, str | None]:
    """Check the key's format and its team id before anything is sent; return them cleaned.

    The messages name the connection and the fix, and never contain the key or any part of it.
    """
    key = (api_key or "").strip()
    team = (team_id or "").strip() or None
    where = describe_connection(conn_id)
    if not key:
        raise MsgFlashConfigError(
            f"{where} has no API key. Put your MsgFlash API key (msgf_live_... or msgf_team_...) in "
            "the connection's 'API key' (password) field.",
            code="BAD_CONNECTION",
        )
    if key.lower().startswith("bearer "):
        raise MsgFlashConfigError(
            f"{where}: the API key starts with 'Bearer '. MsgFlash uses the x-api-key header; put the "
            "bare key (msgf_live_...) in the 'API key' field.",
            code="BAD_CONNECTION",
        )
    if TEAM_KEY_RE.match(key):
        if not team:
            raise MsgFlashConfigError(
                f"{where} uses a team key (msgf_team_...) but has no team id. Team keys must be sent "
                'with X-Team-Id: add {"team_id": "<your team uuid>"} to the connection extras.',
                code="BAD_CONNECTION",
            )
        return key, team
    if PERSONAL_KEY_RE.match(key):
        if team:
            raise MsgFlashConfigError(
                f"{where} uses a personal key (msgf_live_...) together with a team id; MsgFlash refuses "
                "that (403 TEAM_KEY_REQUIRED). Remove 'team_id' from the extras, or use a team key "
                "(msgf_team_...).",
                code="BAD_CONNECTION",
            )
        return key, None
    raise MsgFlashConfigError(
        f"{where}: the API key is not in a MsgFlash format (got {len(key)} characters). Expected "
        "'msgf_live_' followed by 64 lowercase hex characters, or a team key 'msgf_team_...'. Copy the "
        "key again from the MsgFlash dashboard (it is shown once, at creation).",
        code="BAD_CONNECTION",
    )


def _number_extra(extras: Mapping[str, Any], name: str, default: float, conn_id: str, *, integer: bool) -> Any:
    value = extras.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        if integer:
            if number != int(number):
                raise ValueError
            number = int(number)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or (name == "timeout" and number == 0):
        kind = "a whole number" if integer else "a number"
        raise MsgFlashConfigError(
            f"{describe_connection(conn_id)}: extra {name!r} must be {kind} "
            f"{'above' if name == 'timeout' else 'of at least'} 0, got {value!r}.",
            code="BAD_CONNECTION",
        )
    return number


def settings_from_connection(
    conn: Any,
    conn_id: str,
    overrides: Mapping[str, Any] | None = None,
    raw_extra: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from an Airflow ``Connection`` (checked; raises MsgFlashConfigError).

    :param raw_extra: the connection's extras when already read (the async hook reads them without
        blocking); default ``conn.extra_dejson``.
    """
    extras: dict[str, Any] = {}
    if raw_extra is None:
        raw_extra = getattr(conn, "extra_dejson", None)
    if isinstance(raw_extra, Mapping):
        # Accept the UI's prefixed names (extra__msgflash__team_id) as well as plain ones.
        for k, v in raw_extra.items():
            extras[k.removeprefix("extra__msgflash__")] = v
    unknown = sorted(set(extras) - KNOWN_EXTRAS)
    if unknown:
        log.warning(
            "%s: ignoring unknown extra field(s) %s (known: %s).",
            describe_connection(conn_id),
            ", ".join(unknown),
            ", ".join(sorted(KNOWN_EXTRAS)),
        )
    for k, v in (overrides or {}).items():
        if v is not None:
            extras[k] = v
    key, team = check_key(getattr(conn, "password", None), extras.get("team_id"), conn_id)
    return Settings(
        conn_id=conn_id,
        base_url=base_url_from(getattr(conn, "host", None), getattr(conn, "port", None), conn_id),
        api_key=key,
        team_id=team,
        timeout=_number_extra(extras, "timeout", DEFAULT_TIMEOUT, conn_id, integer=False),
        max_retries=_number_extra(extras, "max_retries", DEFAULT_MAX_RETRIES, conn_id, integer=True),
        requests_per_second=_number_extra(
            extras, "requests_per_second", DEFAULT_REQUESTS_PER_SECOND, conn_id, integer=False
        ),
        rate_limit_backend=check_backend(extras.get("rate_limit_backend"), conn_id),
    )

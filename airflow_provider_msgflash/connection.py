"""The ``msgflash`` connection, declared once: its fields (:data:`EXTRA_FIELDS`, :data:`HIDDEN_FIELDS`,
:data:`RELABELING`, :data:`PLACEHOLDERS`), every form Airflow reads from them, and a connection checked into the
:class:`Settings` a hook uses, before anything is sent.

- the declarative form of ``get_provider_info()`` (``conn-fields``, ``ui-field-behaviour``): Airflow 3.2+;
- the hook's ``get_ui_field_behaviour()`` and ``get_connection_form_widgets()`` (wtforms): Airflow 2.11-3.1;
- :func:`settings_from_connection`: Base URL, API key format, team key and team id, and each extra checked
  against its declaration. Every message names the connection and the fix, never the key or any part of it.

Kept free of heavy imports: Airflow reads it while listing providers (wtforms, the exceptions and the rate
limiter are imported when first needed).
"""

from __future__ import annotations

import importlib.util
import json
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
    DEFAULT_RATE_LIMIT_BACKEND,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
)

log = logging.getLogger(__name__)
CONN_TYPE = "msgflash"
HOOK_NAME = "MsgFlash"


@dataclass(frozen=True)
class ExtraField:
    """One field of the connection's extras.

    :param kind: ``string``, ``number`` (fractions allowed) or ``integer``.
    :param minimum: the smallest accepted value (numbers only).
    :param above: a value the field must be greater than (numbers only; JSON schema ``exclusiveMinimum``).
    """

    name: str
    label: str
    kind: str
    description: str
    default: float | int | str | None = None
    minimum: float | int | None = None
    above: float | int | None = None


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "team_id",
        "Team id",
        "string",
        "Team UUID, required with a team key (msgf_team_...), refused with a personal key.",
    ),
    ExtraField(
        "timeout",
        "Request timeout (s)",
        "number",
        "Seconds to wait for one answer (fractions allowed, e.g. 0.5).",
        DEFAULT_TIMEOUT,
        above=0,
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        "integer",
        "Retries of 429 API_RATE_LIMIT_EXCEEDED, 5xx and connection errors.",
        DEFAULT_MAX_RETRIES,
        0,
    ),
    ExtraField(
        "requests_per_second",
        "Requests per second",
        "number",
        "Client-side limit shared by every task and trigger using this key on one machine (MsgFlash "
        "allows 10; fractions allowed, e.g. 0.5); 0 turns it off.",
        DEFAULT_REQUESTS_PER_SECOND,
        0,
    ),
    ExtraField(
        "rate_limit_backend",
        "Rate limit shared by",
        "string",
        "host (default: every task and trigger on this machine), process (this process only), or a Redis "
        "URL such as redis://redis:6379/0 (every machine using the key: Celery workers, triggerers); a Redis "
        "URL needs the [redis] extra.",
        DEFAULT_RATE_LIMIT_BACKEND,
    ),
)

HIDDEN_FIELDS: tuple[str, ...] = ("schema", "login", "port")
RELABELING: dict[str, str] = {"host": "Base URL", "password": "API key"}
PLACEHOLDERS: dict[str, str] = {
    "host": DEFAULT_BASE_URL,
    "password": "msgf_live_... (or msgf_team_... with a team id)",
    "extra": '{"team_id": "<team uuid, team keys only>", '
    + ", ".join(f'"{f.name}": {json.dumps(f.default)}' for f in EXTRA_FIELDS if f.default is not None)
    + "}",
}

#: A number as the Airflow 2 form's text box accepts it (wtforms has no fraction field Airflow allows).
NUMBER_PATTERN = r"^\s*\d+(\.\d+)?\s*$"


def ui_field_behaviour(declarative: bool = False) -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields: hyphenated keys for ``get_provider_info()``
    (``declarative=True``), underscored ones for the hook's ``get_ui_field_behaviour()``."""
    keys = ("hidden-fields",) if declarative else ("hidden_fields",)
    return {keys[0]: list(HIDDEN_FIELDS), "relabeling": dict(RELABELING), "placeholders": dict(PLACEHOLDERS)}


def conn_fields() -> dict[str, Any]:
    """The extras as Airflow 3.2+'s declarative ``conn-fields`` (a JSON schema per field)."""
    out: dict[str, Any] = {}
    for f in EXTRA_FIELDS:
        schema: dict[str, Any] = {"type": [f.kind, "null"]}
        if f.default is not None:
            schema["default"] = f.default
        if f.minimum is not None:
            schema["minimum"] = f.minimum
        if f.above is not None:
            schema["exclusiveMinimum"] = f.above
        out[f.name] = {"label": f.label, "schema": schema, "description": f.description}
    return out


def connection_form_widgets() -> dict[str, Any]:
    """The extras as wtforms fields (Airflow 2.11, 3.0 and 3.1 read these from the hook)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional, Regexp

    widgets: dict[str, Any] = {}
    for f in EXTRA_FIELDS:
        label = lazy_gettext(f.label)
        if f.kind == "integer":
            checks = [Optional(), NumberRange(min=f.minimum)]
            widgets[f.name] = IntegerField(label, widget=BS3TextFieldWidget(), validators=checks, default=f.default)
        elif f.kind == "number":
            checks = [Optional(), Regexp(NUMBER_PATTERN, message=f"{f.label}: a number such as 0.5 or 10")]
            default = None if f.default is None else f"{f.default:g}"
            widgets[f.name] = StringField(label, widget=BS3TextFieldWidget(), validators=checks, default=default)
        else:
            widgets[f.name] = StringField(label, widget=BS3TextFieldWidget(), default=f.default)
    return widgets


# -- a connection, checked ---------------------------------------------------------------------------------
PERSONAL_KEY_RE = re.compile(r"^msgf_live_[0-9a-f]{64}$")
TEAM_KEY_RE = re.compile(r"^msgf_team_[A-Za-z0-9_-]{8,}$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: The extras a ``msgflash`` connection takes: those its form declares.
KNOWN_EXTRAS = frozenset(f.name for f in EXTRA_FIELDS)


def _bad(message: str) -> Exception:
    from airflow_provider_msgflash.exceptions import MsgFlashConfigError  # not at import: Airflow lists providers

    return MsgFlashConfigError(message, code="BAD_CONNECTION")


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
        raise _bad(
            f"{describe_connection(conn_id)}: the Base URL {host!r} is not an http(s) URL. "
            f"Set the connection's host to e.g. {DEFAULT_BASE_URL!r} (or the sandbox's URL)."
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
        raise _bad(
            f"{where} has no API key. Put your MsgFlash API key (msgf_live_... or msgf_team_...) in "
            "the connection's 'API key' (password) field."
        )
    if key.lower().startswith("bearer "):
        raise _bad(
            f"{where}: the API key starts with 'Bearer '. MsgFlash uses the x-api-key header; put the "
            "bare key (msgf_live_...) in the 'API key' field."
        )
    if TEAM_KEY_RE.match(key):
        if not team:
            raise _bad(
                f"{where} uses a team key (msgf_team_...) but has no team id. Team keys must be sent "
                'with X-Team-Id: add {"team_id": "<your team uuid>"} to the connection extras.'
            )
        return key, team
    if PERSONAL_KEY_RE.match(key):
        if team:
            raise _bad(
                f"{where} uses a personal key (msgf_live_...) together with a team id; MsgFlash refuses "
                "that (403 TEAM_KEY_REQUIRED). Remove 'team_id' from the extras, or use a team key "
                "(msgf_team_...)."
            )
        return key, None
    raise _bad(
        f"{where}: the API key is not in a MsgFlash format (got {len(key)} characters). Expected "
        "'msgf_live_' followed by 64 lowercase hex characters, or a team key 'msgf_team_...'. Copy the "
        "key again from the MsgFlash dashboard (it is shown once, at creation)."
    )


def _number(extras: Mapping[str, Any], f: ExtraField, conn_id: str) -> Any:
    """A numeric extra, checked against its declaration (``kind``, ``minimum``, ``above``); its default when unset."""
    value = extras.get(f.name)
    if value is None or value == "":
        return f.default
    try:
        number = float(value)
        if not math.isfinite(number) or (f.kind == "integer" and number != int(number)):
            raise ValueError
    except (TypeError, ValueError):
        number = -math.inf
    low, strict = (f.above, True) if f.above is not None else (f.minimum or 0, False)
    if number < low or (strict and number == low):
        kind = "a whole number" if f.kind == "integer" else "a number"
        raise _bad(
            f"{describe_connection(conn_id)}: extra {f.name!r} must be {kind} "
            f"{'above' if strict else 'of at least'} {low:g}, got {value!r}."
        )
    return int(number) if f.kind == "integer" else number


#: URL schemes a ``rate_limit_backend`` may use (a Redis server).
SCHEMES = ("redis", "rediss", "unix")


def safe_url(url: str) -> str:
    """``url`` without its user and password (for logs and errors)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def check_backend(value: object, conn_id: str) -> str:
    """The connection extra ``rate_limit_backend``, checked: ``host``, ``process`` or a Redis URL."""
    text = value.strip() if isinstance(value, str) else value
    if text in (None, ""):
        return "host"
    if text in ("host", "process"):
        return str(text)
    if isinstance(text, str) and "://" in text and text.split("://", 1)[0].lower() in SCHEMES:
        if importlib.util.find_spec("redis") is None:
            raise _bad(
                f"Connection {conn_id!r}: extra 'rate_limit_backend' is a Redis URL ({safe_url(text)}), but the "
                "redis package is not installed. Install it with: pip install 'airflow-provider-msgflash[redis]'."
            )
        return text
    shown = safe_url(text) if isinstance(text, str) and "://" in text else repr(text)
    raise _bad(
        f"Connection {conn_id!r}: extra 'rate_limit_backend' must be 'host' (the default: every process on this "
        "machine shares the limit), 'process' (this process only), or a Redis URL such as "
        f"'redis://redis:6379/0' (every machine using the key shares it); got {shown}."
    )


def settings_from_connection(
    conn: Any,
    conn_id: str,
    overrides: Mapping[str, Any] | None = None,
    raw_extra: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from an Airflow ``Connection`` (checked; raises ``MsgFlashConfigError``).

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
    numbers = {f.name: _number(extras, f, conn_id) for f in EXTRA_FIELDS if f.kind in ("number", "integer")}
    return Settings(
        conn_id=conn_id,
        base_url=base_url_from(getattr(conn, "host", None), getattr(conn, "port", None), conn_id),
        api_key=key,
        team_id=team,
        rate_limit_backend=check_backend(extras.get("rate_limit_backend"), conn_id),
        **numbers,
    )

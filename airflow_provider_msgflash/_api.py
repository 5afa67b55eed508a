"""The one place that knows the MsgFlash API: routes, connection settings, the ``{"data"}``/``{"error"}``
envelope, the mapping of error codes to exceptions and the retry policy.

The sync hook (requests + tenacity) and the async hook (aiohttp) both build their requests with
:func:`call`, read answers with :func:`parse_answer` and decide retries with :func:`is_retryable` and
:func:`retry_wait`; neither knows a route or an error code of its own. See ``msgflash-api.md``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_msgflash.exceptions import (
    MsgFlashAuthError,
    MsgFlashConfigError,
    MsgFlashConflictError,
    MsgFlashConnectionError,
    MsgFlashError,
    MsgFlashLookupNotCancellableError,
    MsgFlashNotFoundError,
    MsgFlashPermissionError,
    MsgFlashQuotaExceededError,
    MsgFlashRateLimitError,
    MsgFlashServerError,
    MsgFlashValidationError,
)
from airflow_provider_msgflash.ratelimit import check_backend

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://srv.msgflash.com"
API_PREFIX = "/api/v1"

#: Lookups of fewer numbers are answered synchronously (200); from this many on, asynchronously (202).
ASYNC_LOOKUP_THRESHOLD = 100
#: The most numbers one lookup accepts; bigger requests are split by the operator.
MAX_NUMBERS_PER_LOOKUP = 10_000
#: The docs advise polling progress every 2 s; we never poll faster.
MIN_POLL_INTERVAL = 2.0
#: Numbers checked per provider batch.
PROVIDER_BATCH_SIZE = 20

LOOKUP_ACTIVE_STATUSES = frozenset({"pending", "processing"})
LOOKUP_TERMINAL_STATUSES = frozenset({"done", "failed", "cancelled"})
INSTANCE_STATUSES = frozenset({"disconnected", "connecting", "connected"})

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_REQUESTS_PER_SECOND = 10.0
#: Cap of one exponential backoff pause, in seconds.
MAX_BACKOFF = 30.0

PERSONAL_KEY_RE = re.compile(r"^msgf_live_[0-9a-f]{64}$")
TEAM_KEY_RE = re.compile(r"^msgf_team_[A-Za-z0-9_-]{8,}$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
KNOWN_EXTRAS = frozenset({"team_id", "timeout", "max_retries", "requests_per_second", "rate_limit_backend"})


# --------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------
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
    # Creating a lookup twice creates two lookups: never repeated blindly (see create_lookup_recovery).
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


# --------------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------------
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
            f"Connection {conn_id!r}: the Base URL {host!r} is not an http(s) URL. "
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
    where = f"Connection {conn_id!r}"
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
            f"Connection {conn_id!r}: extra {name!r} must be {kind} "
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
            "Connection %r: ignoring unknown extra field(s) %s (known: %s).",
            conn_id,
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


# --------------------------------------------------------------------------------------------------
# Answers and errors
# --------------------------------------------------------------------------------------------------
ERROR_CODES: dict[str, type[MsgFlashError]] = {
    "VALIDATION_ERROR": MsgFlashValidationError,
    "BAD_REQUEST": MsgFlashValidationError,
    "LOOKUP_CANNOT_BE_CANCELLED": MsgFlashLookupNotCancellableError,
    "UNAUTHORIZED": MsgFlashAuthError,
    "FORBIDDEN": MsgFlashPermissionError,
    "SUBSCRIPTION_INACTIVE": MsgFlashPermissionError,
    "TEAM_KEY_REQUIRED": MsgFlashPermissionError,
    "TEAM_KEY_NOT_ALLOWED": MsgFlashPermissionError,
    "NOT_FOUND": MsgFlashNotFoundError,
    "LOOKUP_NOT_FOUND": MsgFlashNotFoundError,
    "CONFLICT": MsgFlashConflictError,
    "API_RATE_LIMIT_EXCEEDED": MsgFlashRateLimitError,
    "MONTHLY_API_REQUEST_QUOTA_EXCEEDED": MsgFlashQuotaExceededError,
    "INTERNAL_ERROR": MsgFlashServerError,
    "PROVIDER_ERROR": MsgFlashServerError,
    "PROVIDER_TIMEOUT": MsgFlashServerError,
    "PROVIDER_UNAVAILABLE": MsgFlashServerError,
}

_BY_STATUS: dict[int, type[MsgFlashError]] = {
    400: MsgFlashValidationError,
    401: MsgFlashAuthError,
    403: MsgFlashPermissionError,
    404: MsgFlashNotFoundError,
    409: MsgFlashConflictError,
    429: MsgFlashRateLimitError,
}

#: A plain-words hint added to the API's message, per code.
HINTS: dict[str, str] = {
    "UNAUTHORIZED": "Check the API key in the connection (revoked keys fail at once) and, for a team key, "
    "the team_id extra.",
    "TEAM_KEY_REQUIRED": "A personal key was sent with a team id: remove team_id from the connection extras.",
    "TEAM_KEY_NOT_ALLOWED": "This route needs a personal key (msgf_live_...).",
    "SUBSCRIPTION_INACTIVE": "The MsgFlash account has no active plan.",
    "MONTHLY_API_REQUEST_QUOTA_EXCEEDED": "The monthly request quota is used up; it will not clear within "
    "this task. Upgrade the plan or wait for the next month.",
    "API_RATE_LIMIT_EXCEEDED": "More than 10 requests per second on this key.",
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_from_answer(status: int, body: Any, text: str, headers: Mapping[str, str], request: str) -> MsgFlashError:
    """The exception for a non-2xx answer (or a 2xx answer that is not the documented envelope)."""
    err = body.get("error") if isinstance(body, dict) else None
    code = message = details = None
    if isinstance(err, dict):
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else None
        details = err.get("details")
    if code in ERROR_CODES:
        cls = ERROR_CODES[code]
    elif status >= 500:
        cls = MsgFlashServerError
    else:
        cls = _BY_STATUS.get(status, MsgFlashError)
    if message is None:
        snippet = " ".join(text.split())[:200] if text else ""
        message = (
            f"unexpected answer from MsgFlash{': ' + snippet if snippet else ''} (not a MsgFlash error "
            "envelope: is the connection's Base URL right?)"
        )
    if code in HINTS:
        message = f"{message} — {HINTS[code]}"
    kwargs: dict[str, Any] = {"code": code, "status_code": status, "details": details, "request": request}
    if cls is MsgFlashRateLimitError:
        retry_after = None
        for k, v in headers.items():
            if k.lower() == "retry-after":
                retry_after = parse_retry_after(v)
        return MsgFlashRateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def parse_answer(status: int, text: str, headers: Mapping[str, str], request: str) -> Any:
    """Return the ``data`` of a successful answer, or raise the mapped :class:`MsgFlashError`."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if 200 <= status < 300 and isinstance(body, dict) and "data" in body:
        return body["data"]
    if 200 <= status < 300:
        exc = MsgFlashServerError(
            'MsgFlash answered without the documented {"data": ...} envelope; is the Base URL right?',
            code="BAD_ENVELOPE",
            status_code=status,
            request=request,
        )
        # The request was processed (2xx): sending it again cannot help and could repeat a POST.
        exc.retryable = False
        raise exc
    raise error_from_answer(status, body, text, headers, request)


# --------------------------------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------------------------------
def is_retryable(exc: BaseException, c: Call) -> bool:
    """Whether ``c`` may be sent again after ``exc``.

    Retried: 429 ``API_RATE_LIMIT_EXCEEDED``, 5xx, and connection errors, except that a request which
    may already have reached the server (read timeout, dropped answer) is repeated only when its
    route is idempotent. Never: other 4xx, ``MONTHLY_API_REQUEST_QUOTA_EXCEEDED``, config errors.
    """
    if isinstance(exc, MsgFlashConnectionError):
        return (not exc.maybe_sent) or c.route.idempotent
    return isinstance(exc, MsgFlashError) and exc.retryable


def retry_wait(exc: BaseException | None, attempt: int, *, base: float = 0.5, cap: float = MAX_BACKOFF) -> float:
    """Seconds to pause before try ``attempt + 1``: ``Retry-After`` when given, else exponential
    backoff with full jitter (``base * 2**(attempt-1)``, capped, times a random factor in [0.5, 1])."""
    if isinstance(exc, MsgFlashRateLimitError) and exc.retry_after is not None:
        # A little jitter so that many waiting clients do not come back in the same millisecond.
        return min(cap * 4, exc.retry_after) + random.uniform(0.0, 0.25)
    backoff = min(cap, base * (2 ** max(0, attempt - 1)))
    return backoff * random.uniform(0.5, 1.0)


def retry_policy(c: Call, max_retries: int, on_retry: Any) -> dict[str, Any]:
    """tenacity arguments (for ``Retrying`` and ``AsyncRetrying`` alike) implementing the policy above.

    :param on_retry: ``on_retry(exc, attempt, total, wait)``, called before each pause (logging).
    """
    import tenacity

    total = max_retries + 1

    def _wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return retry_wait(exc, state.attempt_number)

    def _before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        on_retry(exc, state.attempt_number, total, wait)

    return {
        "stop": tenacity.stop_after_attempt(total),
        "retry": tenacity.retry_if_exception(lambda e: is_retryable(e, c)),
        "wait": _wait,
        "before_sleep": _before_sleep,
        "reraise": True,
    }


# --------------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """Parse the API's ISO-8601 timestamps (``2026-04-01T09:00:00.000Z``); None when absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def lookup_requested(item: Mapping[str, Any]) -> int | None:
    """The requested count of a lookup in any of its shapes (``requested`` or ``requestedCount``)."""
    for k in ("requestedCount", "requested"):
        v = item.get(k)
        if isinstance(v, int):
            return v
    return None


def matching_lookups(
    lookups: Iterable[Mapping[str, Any]],
    *,
    instance_id: str,
    requested: int,
    created_after: datetime | None,
    clock_skew: timedelta = timedelta(seconds=60),
) -> list[Mapping[str, Any]]:
    """Lookups (newest first, as listed) that could be the one we submitted: same instance, same
    number of requested numbers, created after ``created_after`` (minus a clock-skew allowance)."""
    found = []
    for item in lookups:
        if item.get("instanceId") != instance_id or lookup_requested(item) != requested:
            continue
        created = parse_time(item.get("createdAt"))
        if created_after is not None and created is not None and created < created_after - clock_skew:
            continue
        if item.get("status") == "cancelled":
            continue
        found.append(item)
    return found


def check_lookup_request(instance_id: Any, numbers: Any) -> None:
    """Refuse, before sending, a lookup body the API would refuse; the message names the field."""
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise MsgFlashConfigError(
            f"`instance_id` must be a non-empty string (the instance's id from list_instances), got {instance_id!r}.",
            code="BAD_ARGUMENT",
        )
    if not isinstance(numbers, list | tuple) or not numbers:
        raise MsgFlashConfigError(
            "`numbers` must be a non-empty list of phone numbers in international format "
            f"(e.g. '+41791234567'), got {type(numbers).__name__} {str(numbers)[:60]!r}.",
            code="BAD_ARGUMENT",
        )
    if len(numbers) > MAX_NUMBERS_PER_LOOKUP:
        raise MsgFlashConfigError(
            f"`numbers` has {len(numbers)} entries; one lookup takes at most {MAX_NUMBERS_PER_LOOKUP}. "
            "Split the list (the lookup operator does this for you).",
            code="BAD_ARGUMENT",
        )
    bad = [i for i, n in enumerate(numbers) if not isinstance(n, str)]
    if bad:
        first = bad[0]
        raise MsgFlashConfigError(
            f"`numbers` must hold strings; {len(bad)} entr{'y is' if len(bad) == 1 else 'ies are'} not "
            f"(first at index {first}: {numbers[first]!r} of type {type(numbers[first]).__name__}). "
            "Quote phone numbers as strings, e.g. '+41791234567'.",
            code="BAD_ARGUMENT",
        )

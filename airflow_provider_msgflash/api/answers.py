"""MsgFlash's answers and what may be sent again, for both hooks' request functions: the ``{"data"}`` /
``{"error"}`` envelope, error codes (and bare statuses) to exceptions with a hint, transport failures (no complete
answer) of either HTTP library, and the retry decision."""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.exceptions import (
    MsgFlashAuthError,
    MsgFlashConflictError,
    MsgFlashConnectionError,
    MsgFlashError,
    MsgFlashLookupNotCancellableError,
    MsgFlashNotFoundError,
    MsgFlashPermissionError,
    MsgFlashQuotaExceededError,
    MsgFlashQuotaResetError,
    MsgFlashRateLimitError,
    MsgFlashServerError,
    MsgFlashValidationError,
)
from airflow_provider_msgflash.version_compat import AIRFLOW_HAS_RETRY_POLICIES

if TYPE_CHECKING:
    from airflow_provider_msgflash.connection import Settings

ERROR_CODES: dict[str, type[MsgFlashError]] = {
    code: cls
    for cls, codes in (
        (MsgFlashValidationError, ("VALIDATION_ERROR", "BAD_REQUEST")),
        (MsgFlashLookupNotCancellableError, ("LOOKUP_CANNOT_BE_CANCELLED",)),
        (MsgFlashAuthError, ("UNAUTHORIZED",)),
        (MsgFlashPermissionError, ("FORBIDDEN", "SUBSCRIPTION_INACTIVE", "TEAM_KEY_REQUIRED", "TEAM_KEY_NOT_ALLOWED")),
        (MsgFlashNotFoundError, ("NOT_FOUND", "LOOKUP_NOT_FOUND")),
        (MsgFlashConflictError, ("CONFLICT",)),
        (MsgFlashRateLimitError, ("API_RATE_LIMIT_EXCEEDED",)),
        (MsgFlashQuotaExceededError, ("MONTHLY_API_REQUEST_QUOTA_EXCEEDED",)),
        (MsgFlashServerError, ("INTERNAL_ERROR", "PROVIDER_ERROR", "PROVIDER_TIMEOUT", "PROVIDER_UNAVAILABLE")),
    )
    for code in codes
}
#: The class of an answer without a known code, by HTTP status (any 5xx: :class:`MsgFlashServerError`).
_BY_STATUS: dict[int, type[MsgFlashError]] = {
    400: MsgFlashValidationError, 401: MsgFlashAuthError, 403: MsgFlashPermissionError,
    404: MsgFlashNotFoundError, 409: MsgFlashConflictError, 429: MsgFlashRateLimitError,
}  # fmt: skip
#: A plain-words hint added to the API's message, per code.
HINTS: dict[str, str] = {
    "UNAUTHORIZED": "Check the API key in the connection (revoked keys fail at once) and, for a team key, "
    "the team_id extra.",
    "TEAM_KEY_REQUIRED": "A personal key was sent with a team id: remove team_id from the connection extras.",
    "TEAM_KEY_NOT_ALLOWED": "This route needs a personal key (msgf_live_...).",
    "SUBSCRIPTION_INACTIVE": "The MsgFlash account has no active plan.",
    "MONTHLY_API_REQUEST_QUOTA_EXCEEDED": "The monthly request quota is used up; it will not clear within "
    "this task. Upgrade the plan or wait for the next month.",
    "API_RATE_LIMIT_EXCEEDED": "Other clients may share this key: lower the connection's requests_per_second "
    "extra, or spread the tasks using it.",
}
#: Cap of one exponential backoff pause, and of a ``Retry-After`` honoured inside one request, in seconds.
MAX_BACKOFF, MAX_RETRY_AFTER = 30.0, 120.0
#: A used-up monthly quota that resets within this many seconds (``Retry-After``) is retried by the task's
#: retry policy (Airflow 3.3+) after that delay; a later or unknown reset fails the task (final).
QUOTA_RESET_WAIT = 3600.0
#: Seconds allowed to open a connection (the request's own timeout still applies after that).
CONNECT_TIMEOUT_CAP = 10.0
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


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


def _not_msgflash(status: int, text: str) -> str:
    """The message for an answer without MsgFlash's error envelope, saying who most likely answered."""
    snippet = " ".join(re.sub(r"<[^>]*>", " ", text).split())[:160] if text else ""
    seen = f": {snippet}" if snippet else ""
    if status >= 500 or status == 429:
        # The host answered: the Base URL is right. A gateway or proxy in front of MsgFlash spoke instead.
        return (
            f"a gateway or proxy in front of MsgFlash answered HTTP {status}{seen} (not a MsgFlash error "
            "envelope: the service is unreachable or overloaded behind it right now)"
        )
    return f"unexpected answer from MsgFlash{seen} (not a MsgFlash error envelope: is the connection's Base URL right?)"


def error_from_answer(status: int, body: Any, text: str, headers: Mapping[str, str], request: str) -> MsgFlashError:
    """The exception for a non-2xx answer."""
    err = body.get("error") if isinstance(body, dict) else None
    code = message = details = None
    if isinstance(err, dict):
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else None
        details = err.get("details")
    if code in ERROR_CODES:
        cls = ERROR_CODES[code]
    else:
        cls = MsgFlashServerError if status >= 500 else _BY_STATUS.get(status, MsgFlashError)
    if message is None:
        message = _not_msgflash(status, text)
    retry_after = next((parse_retry_after(v) for k, v in headers.items() if k.lower() == "retry-after"), None)
    hint: str | None = HINTS.get(code or "")
    if cls is MsgFlashQuotaExceededError and AIRFLOW_HAS_RETRY_POLICIES and (retry_after or 1e9) <= QUOTA_RESET_WAIT:
        cls, hint = MsgFlashQuotaResetError, f"It resets in {retry_after:.0f} s: the task is retried then."
    message = f"{message} — {hint}" if hint else message
    return cls(message, code=code, status_code=status, details=details, request=request, retry_after=retry_after)


def parse_answer(status: int, text: str, headers: Mapping[str, str], request: str) -> Any:
    """The ``data`` of a successful answer; otherwise raise the mapped :class:`MsgFlashError`."""
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


# -- transport failures: no complete HTTP answer --------------------------------------------------------------
def _never_sent(exc: BaseException) -> bool | None:
    """Whether the connection never opened (True), or the request may have been processed (False); None: not a
    transport error of a library in use. Decided by type, not by message."""
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(exc, requests.RequestException):
        if isinstance(exc, requests.ConnectTimeout):
            return True
        if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
            import urllib3.exceptions

            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)
        return False
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientError):
        # ConnectionTimeoutError (aiohttp 3.10+): the connection never opened, unlike a read timeout.
        connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ClientConnectorError)
        return isinstance(exc, aiohttp.ClientConnectorError | connect_timeout)
    return None


def transport_error(exc: BaseException, s: Settings, request: str) -> MsgFlashConnectionError:
    """The :class:`MsgFlashConnectionError` for a request with no complete answer: never sent, timed out or
    dropped (the last two may have been processed)."""
    text = " ".join(str(exc).split())
    m = _ERRNO_RE.search(text)
    reason = m.group(0).strip() if m else (text or type(exc).__name__)[:200]
    timed_out = isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()
    if _never_sent(exc):
        message = f"could not connect to {s.base_url} within {min(CONNECT_TIMEOUT_CAP, s.timeout):.0f} s: {reason}"
        return MsgFlashConnectionError(message, maybe_sent=False, code="CONNECTION_ERROR", request=request)
    if timed_out:
        message = f"no answer from {s.base_url} within {s.timeout:.0f} s (timeout)"
        return MsgFlashConnectionError(message, code="TIMEOUT", request=request)
    message = f"connection to {s.base_url} failed: {type(exc).__name__}: {reason}"
    return MsgFlashConnectionError(message, code="CONNECTION_ERROR", request=request)


# -- what may be sent again, and when ------------------------------------------------------------------------
def retry_wait(error: MsgFlashError, attempt: int, max_retries: int, idempotent: bool) -> float | None:
    """Seconds to pause before sending again after ``error`` on try ``attempt``; None: do not. Sent again: a 429,
    a 5xx, a transport failure, while retries are left; a request that is not ``idempotent`` never after an answer
    that does not prove it was refused (its caller looks for what it created). The pause: ``Retry-After``
    (capped), else 0.5 s doubling up to :data:`MAX_BACKOFF`, times a jitter of 0.5 to 1."""
    if attempt > max_retries or not error.retryable or (error.maybe_processed and not idempotent):
        return None
    if error.retry_after is not None:
        # A little jitter so that many waiting clients do not come back in the same millisecond.
        return min(MAX_RETRY_AFTER, error.retry_after) + random.uniform(0.0, 0.25)
    return min(MAX_BACKOFF, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

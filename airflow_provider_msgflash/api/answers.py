"""Reading MsgFlash's answers: the ``{"data": ...}`` / ``{"error": {...}}`` envelope, and the mapping of
error codes (and bare HTTP statuses) to :mod:`~airflow_provider_msgflash.exceptions` classes, with a
plain-words hint per code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_msgflash.exceptions import (
    MsgFlashAuthError,
    MsgFlashConflictError,
    MsgFlashError,
    MsgFlashLookupNotCancellableError,
    MsgFlashNotFoundError,
    MsgFlashPermissionError,
    MsgFlashQuotaExceededError,
    MsgFlashRateLimitError,
    MsgFlashServerError,
    MsgFlashValidationError,
)

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
    "API_RATE_LIMIT_EXCEEDED": "Other clients may share this key: lower the connection's requests_per_second "
    "extra, or spread the tasks using it.",
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

r"""Exceptions raised by the MsgFlash provider.

Every error the API can return maps to one class below (see ``api/answers.py``). Each carries the
API's ``code``, the HTTP ``status_code`` and the ``message``, plus the request it answered (method and
path only: headers, and so the API key, are never part of an exception).

Errors that no retry can fix (a bad connection or argument, a refused key, a missing permission, an
unknown object, a refused request, the monthly quota) are :class:`MsgFlashFinalError`\ s: they are also
Airflow ``AirflowFailException``\ s, so the task fails at once without using its retries. The others
(rate limit after the hook's own retries, 5xx, no answer, a lookup that failed or timed out) keep
using them.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_msgflash.version_compat import AirflowException, AirflowFailException


class MsgFlashError(AirflowException):
    """Base class of every MsgFlash error.

    :param message: what went wrong, in plain words.
    :param code: the API's error code (``VALIDATION_ERROR``, ...) or a provider-side code.
    :param status_code: the HTTP status, when the error came from an HTTP answer.
    :param details: the API's optional ``details`` list.
    :param request: ``"METHOD /path"`` of the request that failed.
    :param retry_after: seconds the answer's ``Retry-After`` header asked to wait, when it had one.
    """

    #: Whether the request may succeed if simply sent again later.
    retryable: bool = False
    #: Whether the request may have been processed although no success answer came back (a 5xx, a
    #: gateway's page, a timeout, a dropped connection): a request that is not idempotent (creating a
    #: lookup) is then looked for before it is sent again, never repeated blindly.
    maybe_processed: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        request: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.status_code = status_code
        self.details = details
        self.request = request
        #: Seconds the answer asked to wait before trying again (``Retry-After``), when it said.
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        head = " ".join(str(p) for p in (self.status_code, self.code) if p is not None)
        text = f"{head}: {self.message}" if head else self.message
        if self.details:
            text += f" (details: {self.details})"
        if self.request:
            text += f" [{self.request}]"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep every attribute across pickling (Airflow ships exceptions between processes).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[MsgFlashError], args: tuple[Any, ...], state: dict[str, Any]) -> MsgFlashError:
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


class MsgFlashFinalError(MsgFlashError, AirflowFailException):
    """An error no retry can fix: the task fails without using its retries."""


class MsgFlashConfigError(MsgFlashFinalError):
    """The connection or an operator argument is wrong; nothing was sent to MsgFlash."""


class MsgFlashAuthError(MsgFlashFinalError):
    """401: the API key is missing, malformed, unknown or revoked, or the team id is wrong."""


class MsgFlashPermissionError(MsgFlashFinalError):
    """403: the key may not use this resource (``FORBIDDEN``, ``SUBSCRIPTION_INACTIVE``, team-key rules)."""


class MsgFlashValidationError(MsgFlashFinalError):
    """400: the request body or a parameter is invalid."""


class MsgFlashLookupNotCancellableError(MsgFlashValidationError):
    """400 ``LOOKUP_CANNOT_BE_CANCELLED``: the lookup already finished (done, failed or cancelled)."""


class MsgFlashNotFoundError(MsgFlashFinalError):
    """404: the instance, lookup or contact does not exist or is outside the account."""


class MsgFlashConflictError(MsgFlashError):
    """409: the request conflicts with the current state (duplicate, not ready yet, ...)."""


class MsgFlashRateLimitError(MsgFlashError):
    """429: more than the allowed requests per second on one key (``API_RATE_LIMIT_EXCEEDED``), or a
    gateway in front of MsgFlash refusing the request. Never processed: always safe to send again."""

    retryable = True


class MsgFlashQuotaExceededError(MsgFlashFinalError):
    """429 ``MONTHLY_API_REQUEST_QUOTA_EXCEEDED``: the monthly request quota is used up; never retried."""


class MsgFlashQuotaResetError(MsgFlashError):
    """429 ``MONTHLY_API_REQUEST_QUOTA_EXCEEDED`` with a known reset within the hour (``Retry-After``), on an
    Airflow line with retry policies (3.3+): :class:`~airflow_provider_msgflash.retry_policy.MsgFlashRetryPolicy`
    retries the task after that delay. Never sent again within the task (:attr:`retryable` is False)."""


class MsgFlashServerError(MsgFlashError):
    """5xx: MsgFlash, its WhatsApp provider or a gateway in front of it failed (``INTERNAL_ERROR``,
    ``PROVIDER_*``, a gateway's 502/503/504 page). A 5xx does not prove the request was refused: it may
    have been processed before the error (:attr:`maybe_processed`)."""

    retryable = True
    maybe_processed = True


class MsgFlashConnectionError(MsgFlashError):
    """The request got no complete HTTP answer: connection refused, reset, dropped, or timed out.

    :param maybe_sent: False when the request surely never reached the server (connect error), True
        when it may have been processed (read timeout, connection dropped mid-answer).
    """

    retryable = True

    def __init__(self, message: str, *, maybe_sent: bool = True, **kwargs: Any) -> None:
        self.maybe_sent = self.maybe_processed = maybe_sent
        if not maybe_sent and "Base URL" not in message:
            message += " (nothing was sent: check the connection's Base URL and that the service is reachable)"
        super().__init__(message, **kwargs)


class MsgFlashLookupError(MsgFlashError):
    """A number lookup ended ``failed``/``cancelled``, timed out, or could not be followed (a retry of the
    task submits it again, or follows it again)."""


class MsgFlashLookupFinalError(MsgFlashLookupError, AirflowFailException):
    """A lookup could not be followed for a reason no retry can fix (refused key, unknown lookup, quota)."""


__all__ = [
    "MsgFlashAuthError",
    "MsgFlashConfigError",
    "MsgFlashConflictError",
    "MsgFlashConnectionError",
    "MsgFlashError",
    "MsgFlashFinalError",
    "MsgFlashLookupError",
    "MsgFlashLookupFinalError",
    "MsgFlashLookupNotCancellableError",
    "MsgFlashNotFoundError",
    "MsgFlashPermissionError",
    "MsgFlashQuotaExceededError",
    "MsgFlashQuotaResetError",
    "MsgFlashRateLimitError",
    "MsgFlashServerError",
    "MsgFlashValidationError",
]

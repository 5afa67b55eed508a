"""The retry policy, shared by the sync hook (tenacity ``Retrying``) and the async hook
(``AsyncRetrying``): what may be sent again, and after how long."""

from __future__ import annotations

import random
from typing import Any

from airflow_provider_msgflash.api.routes import Call
from airflow_provider_msgflash.exceptions import MsgFlashConnectionError, MsgFlashError, MsgFlashRateLimitError

#: Cap of one exponential backoff pause, in seconds.
MAX_BACKOFF = 30.0


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

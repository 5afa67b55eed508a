"""``MsgFlashRetryPolicy``: Airflow 3.3's retry policy for tasks that talk to MsgFlash.

Airflow 3.3 lets a task decide, from the exception that failed it, whether and when it is retried
(``retry_policy=``). This policy is on by default for every MsgFlash operator and sensor, and can be given to
any task that uses :class:`~airflow_provider_msgflash.hooks.msgflash.MsgFlashHook`::

    from airflow_provider_msgflash.retry_policy import MsgFlashRetryPolicy

    @task(retries=3, retry_policy=MsgFlashRetryPolicy())
    def my_task(): ...

- **Final errors fail at once**, whatever ``retries`` says: a bad connection or argument, a refused key, a
  missing permission, an unknown object, a lookup that failed for the account's or the instance's reason
  (see the error catalogue in the docs). These are also ``AirflowFailException``\\ s, so they fail at once
  on every Airflow line, with or without this policy.
- **A 429 or an exhausted quota with a known reset** (``Retry-After``) is retried after that delay instead of
  the task's ``retry_delay``.
- **Transient errors** (5xx, timeouts, a lookup that could not be followed) use the task's retries as usual.
- Anything that is not a MsgFlash error is left to the task's own settings.

Before Airflow 3.3 there are no retry policies: importing this module raises ``ImportError`` naming the
version; the ``AirflowFailException`` mapping alone keeps final errors from using retries there.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from airflow_provider_msgflash.version_compat import AIRFLOW_HAS_RETRY_POLICIES

if not AIRFLOW_HAS_RETRY_POLICIES:
    from airflow import __version__ as _found

    raise ImportError(
        "airflow_provider_msgflash.retry_policy needs Apache Airflow 3.3 or later (a task's retry_policy=); "
        f"this is Airflow {_found}. There, final MsgFlash errors already fail at once (AirflowFailException)."
    )

from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.version_compat import AirflowFailException, RetryDecision, RetryPolicy


class MsgFlashRetryPolicy(RetryPolicy):  # type: ignore[misc]
    """Retry a task that failed on MsgFlash only when a retry can help, and after the delay MsgFlash asked
    for (see the module's docstring)."""

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        if not isinstance(exception, MsgFlashError):
            return RetryDecision.default()
        code = exception.code or type(exception).__name__
        if isinstance(exception, AirflowFailException):
            return RetryDecision.fail(reason=f"MsgFlash {code}: no retry can fix this")
        if exception.retry_after is not None:
            seconds = max(1, math.ceil(exception.retry_after))
            return RetryDecision.retry(
                delay=timedelta(seconds=seconds), reason=f"MsgFlash {code}: retrying after the {seconds} s it asked for"
            )
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": "MsgFlashRetryPolicy"}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> MsgFlashRetryPolicy:
        return cls()

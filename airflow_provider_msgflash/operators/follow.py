"""Following lookups until they finish: the base of the lookup and import operators.

A task that has to wait for lookups either defers to
:class:`~airflow_provider_msgflash.triggers.lookup.MsgFlashLookupTrigger` (``deferrable=True``) or runs that
very trigger inline in the worker, so there is one implementation of waiting, with one polling schedule.
Either way the trigger's event comes back to :meth:`MsgFlashLookupFollowerOperator.check_event`, which maps
every status to an outcome and cleans up: it cancels only what nothing will resume (a try that Airflow will
retry leaves its lookups running for the retry to resume).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL
from airflow_provider_msgflash.arguments import check_seconds
from airflow_provider_msgflash.base_operator import MsgFlashBaseOperator
from airflow_provider_msgflash.exceptions import MsgFlashError, MsgFlashLookupError, MsgFlashLookupFinalError
from airflow_provider_msgflash.polling import DEFAULT_MAX_INTERVAL
from airflow_provider_msgflash.statuses import EVENT_STATUSES, LOOKUP_TERMINAL, EventStatus
from airflow_provider_msgflash.version_compat import BaseTrigger, default_deferrable, will_retry

if TYPE_CHECKING:
    from airflow_provider_msgflash.triggers.lookup import MsgFlashLookupTrigger
    from airflow_provider_msgflash.version_compat import Context


def run_trigger_inline(trigger: BaseTrigger) -> dict[str, Any]:
    """Wait in the worker with the very trigger a deferrable task would defer to: same polling, same single
    event (the lookups' progress, an instance's readiness)."""

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        return {"status": EventStatus.ERROR.value, "message": "the trigger ended without an event"}

    return asyncio.run(first_event())


class MsgFlashLookupFollowerOperator(MsgFlashBaseOperator):
    """Base of the operators that wait for lookups (not used directly).

    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer rather than in a worker slot. Default:
        ``[operators] default_deferrable``.
    :param poll_interval: shortest pause between progress checks (never below the docs' 2 s). The pause
        adapts to the lookup's measured pace.
    :param max_poll_interval: longest pause between progress checks.
    :param timeout: seconds to wait for the lookups; past it the task fails (and cancels the lookups it
        submitted itself, when ``cancel_on_kill``). ``execution_timeout`` also applies, whichever is shorter.
    :param cancel_on_kill: cancel the lookups this task submitted when it is killed, marked failed or
        cleared, when its wait times out, or when it fails and no retry will resume them.
    """

    def __init__(
        self,
        *,
        deferrable: bool | None = None,
        poll_interval: float = MIN_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_INTERVAL,
        timeout: float | None = None,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_seconds(timeout, "timeout")
        check_seconds(poll_interval, "poll_interval", allow_none=False)
        check_seconds(max_poll_interval, "max_poll_interval", allow_none=False)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval))
        self.max_poll_interval = max(self.poll_interval, float(max_poll_interval))
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        #: Lookups this task submitted itself (or resumed from its own task state): the only ones it may cancel.
        self.owned_lookups: list[str] = []

    def deadline(self, start: float) -> float | None:
        """Epoch seconds when waiting must stop (``timeout`` / ``execution_timeout``), or None."""
        limits = [t for t in (self.timeout,) if t]
        if self.execution_timeout is not None:
            limits.append(self.execution_timeout.total_seconds())
        return start + min(limits) if limits else None

    def lookup_trigger(self, lookup_ids: list[str], requested: list[int], submitted_at: float) -> MsgFlashLookupTrigger:
        """The trigger that waits for ``lookup_ids``."""
        from airflow_provider_msgflash.triggers.lookup import MsgFlashLookupTrigger

        return MsgFlashLookupTrigger(
            lookup_ids=lookup_ids,
            msgflash_conn_id=self.msgflash_conn_id,
            submitted_at=submitted_at,
            requested=requested,
            deadline=self.deadline(submitted_at),
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            # The trigger cancels every lookup it follows when killed: only when this task owns them all.
            cancel_on_kill=self.cancel_on_kill and bool(lookup_ids) and set(lookup_ids) <= set(self.owned_lookups),
        )

    def wait_for(self, lookup_ids: list[str], requested: list[int], submitted_at: float) -> dict[str, Any]:
        """Defer (deferrable; resumes in ``execute_complete``) or wait in the worker; returns the trigger's
        event when not deferring."""
        trigger = self.lookup_trigger(lookup_ids, requested, submitted_at)
        if self.deferrable:
            self.log.info(
                "Deferring: the triggerer follows lookup(s) %s (deadline: %s).",
                ", ".join(lookup_ids),
                "none" if trigger.deadline is None else f"{trigger.deadline - time.time():.0f} s from now",
            )
            # timeout=None: the trigger enforces the deadline itself, so that a timeout reaches
            # execute_complete and the lookups get cancelled instead of leaking.
            self.defer(trigger=trigger, method_name="execute_complete", timeout=None)
        self.log.info("Waiting in the worker for lookup(s) %s.", ", ".join(lookup_ids))
        return run_trigger_inline(trigger)

    def cancel_owned(self, lookup_ids: Sequence[str], why: str) -> list[str]:
        """Cancel those of ``lookup_ids`` this task owns, when ``cancel_on_kill`` allows; best effort (a
        failure is logged). Returns the ids cancelled."""
        mine = [lid for lid in lookup_ids if lid in self.owned_lookups]
        if not self.cancel_on_kill or not mine:
            return []
        cancelled = []
        for lid in mine:
            try:
                if self.hook.cancel_number_lookup(lid) is not None:
                    cancelled.append(lid)
            except MsgFlashError as e:
                self.log.warning("Could not cancel lookup %s (%s): %s", lid, why, e)
        if cancelled:
            self.log.info("Cancelled lookup(s) %s (%s).", ", ".join(cancelled), why)
        return cancelled

    def failure(
        self, status: str, ids: list[str], message: str, event: dict[str, Any]
    ) -> tuple[type[MsgFlashError], str, str]:
        """``(exception class, code, message)`` for an event that is not a success. A lookup that ended
        ``failed`` is final: a retry would submit the numbers again, to be refused for the same reason (the
        lookup operator lets users opt into retries with ``retry_failed_lookups``)."""
        if status == EventStatus.TIMEOUT:
            text = (
                f"Lookup(s) {', '.join(ids)} did not finish in time ({message}). Raise `timeout`/"
                "`execution_timeout` for lookups of this size."
            )
            return MsgFlashLookupError, "LOOKUP_TIMEOUT", text
        if status == EventStatus.FAILED:
            return MsgFlashLookupFinalError, "LOOKUP_FAILED", f"Lookup failed: {message}."
        if status == EventStatus.CANCELLED:
            return MsgFlashLookupError, "LOOKUP_CANCELLED", f"Lookup cancelled: {message}."
        cls = MsgFlashLookupFinalError if event.get("final") else MsgFlashLookupError
        return cls, "LOOKUP_ERROR", f"Could not follow lookup(s) {', '.join(ids)}: {message}."

    def check_event(self, event: Any, context: Context | None = None) -> dict[str, Any]:
        """Return the event when every lookup is done; otherwise raise, saying why, after cancelling what this
        task owns and nothing will resume: on a timeout, on a final error, or when no retry is left (or the
        context is not known). A try that Airflow will retry leaves its lookups running, for the retry to
        resume them."""
        if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
            raise MsgFlashLookupError(f"Unexpected event from the lookup trigger: {event!r:.300}", code="BAD_EVENT")
        status, message = event["status"], event.get("message") or ""
        if status == EventStatus.SUCCESS:
            return event
        ids = [str(x) for x in event.get("lookup_ids") or []]
        cls, code, text = self.failure(status, ids, message, event)
        ended = {
            str(x.get("id"))
            for x in event.get("lookups") or []
            if isinstance(x, dict) and x.get("status") in LOOKUP_TERMINAL
        }
        running = [i for i in ids if i not in ended]
        final = issubclass(cls, MsgFlashLookupFinalError)
        if status == EventStatus.TIMEOUT or final or context is None or not will_retry(context):
            cancelled = self.cancel_owned(running, status)
            text += f" Cancelled: {', '.join(cancelled)}." if cancelled else ""
        elif running:
            self.log.info("Leaving lookup(s) %s running: the task's retry resumes them.", ", ".join(running))
        raise cls(text, code=code, retry_after=event.get("retry_after"))

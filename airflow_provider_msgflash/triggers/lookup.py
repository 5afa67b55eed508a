""":class:`MsgFlashLookupTrigger`: wait until number lookups finish, polling their progress frugally."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL
from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashAsyncHook
from airflow_provider_msgflash.polling import (
    DEFAULT_MAX_INTERVAL,
    MAX_CONSECUTIVE_ERRORS,
    Poller,
    PollSchedule,
    describe_progress,
    lookup_status,
    small_progress,
)
from airflow_provider_msgflash.statuses import LOOKUP_TERMINAL, EventStatus, LookupStatus
from airflow_provider_msgflash.triggers.base import MsgFlashBaseTrigger


def _summarise(lookups: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in lookups:
        for k, v in item.items():
            if isinstance(v, int) and k != "id":
                totals[k] = totals.get(k, 0) + v
    return totals


class MsgFlashLookupTrigger(MsgFlashBaseTrigger):
    """Wait until every lookup in ``lookup_ids`` has finished, polling ``/progress`` frugally.

    Yields exactly one event ``{"status", "lookup_ids", "lookups", "counts", "message", "polls"}`` where
    ``status`` is ``success`` (all ``done``), ``failed`` or ``cancelled`` (at least one lookup ended so;
    the others may still run), ``timeout`` (``deadline`` passed; checked once more first) or ``error``
    (the lookups could not be followed: not found, refused key, quota, repeated transient failures,
    or anything unexpected; ``final`` says whether a retry could help).

    :param lookup_ids: the lookups to follow, in order.
    :param msgflash_conn_id: the Airflow connection id (the key is read from it, never passed in).
    :param submitted_at: local epoch seconds when the lookups were submitted (for the pace estimate).
    :param requested: numbers requested per lookup (same order), for the first-poll estimate.
    :param deadline: local epoch seconds after which the trigger reports ``timeout``; None: no limit.
    :param poll_interval: shortest pause between two polls of a lookup (never below 2 s).
    :param max_poll_interval: longest pause between two polls of a lookup.
    :param cancel_on_kill: cancel unfinished lookups when a user kills the task (Airflow 3.3+).
    :param lookup_id: one lookup to follow instead of ``lookup_ids``, read only once the trigger runs: the
        lookup sensor started in the triggerer, where the triggerer renders it (a template, Airflow 3.3).
    :param end_task: once done, end the task here (XCom ``return_value``: the first lookup's progress counters)
        rather than resume it in a worker: a sensor started in the triggerer.
    """

    serialized_fields = (
        "lookup_ids",
        "msgflash_conn_id",
        "submitted_at",
        "requested",
        "deadline",
        "poll_interval",
        "max_poll_interval",
        "cancel_on_kill",
        "lookup_id",
        "end_task",
    )

    def __init__(
        self,
        lookup_ids: list[str] | None = None,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        submitted_at: float | None = None,
        requested: list[int] | None = None,
        deadline: float | None = None,
        poll_interval: float = MIN_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_INTERVAL,
        cancel_on_kill: bool = True,
        lookup_id: str | None = None,
        end_task: bool = False,
    ) -> None:
        super().__init__(end_task=end_task)
        self.lookup_ids = list(lookup_ids or [])
        self.lookup_id = lookup_id
        self.msgflash_conn_id = msgflash_conn_id
        self.submitted_at = float(submitted_at) if submitted_at is not None else time.time()
        self.requested = list(requested) if requested else [0] * len(self.lookup_ids)
        self.deadline = deadline
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval))
        self.max_poll_interval = max(self.poll_interval, float(max_poll_interval))
        self.cancel_on_kill = cancel_on_kill
        self._last: dict[str, dict[str, Any]] = {}
        self._polls = 0

    def _named(self) -> list[str]:
        """The lookups to follow: ``lookup_ids``, or the one ``lookup_id`` as rendered by now."""
        if not self.lookup_ids and self.lookup_id is not None:
            self.lookup_ids, self.requested = [str(self.lookup_id)], [0]
        return self.lookup_ids

    @staticmethod
    def task_result(payload: dict[str, Any]) -> dict[str, Any]:
        return dict((payload.get("lookups") or [{}])[0])

    def payload(self, status: str, message: str) -> dict[str, Any]:
        self._named()
        lookups = [self._last.get(i, {"id": i, "status": "unknown"}) for i in self.lookup_ids]
        return {
            "status": status,
            "lookup_ids": self.lookup_ids,
            "lookups": lookups,
            "counts": _summarise(lookups),
            "message": message,
            "polls": self._polls,
        }

    def _judge(self, lookup_id: str, progress: Any, past_deadline: bool) -> tuple[str, str] | None:
        """The outcome when the lookup finished (or the deadline passed), else None."""
        status = lookup_status(progress)
        self._last[lookup_id] = small_progress(progress)
        if status == LookupStatus.DONE:
            self.log.info("Lookup %s done: %s.", lookup_id, describe_progress(progress))
            return EventStatus.SUCCESS.value, f"lookup {lookup_id} done"
        if status in LOOKUP_TERMINAL:
            error = self._last[lookup_id].get("error")
            return status, f"lookup {lookup_id} {status}" + (f": {error}" if error else "")
        if past_deadline:
            return EventStatus.TIMEOUT.value, f"lookup {lookup_id} still {status} at the deadline"
        self.log.info("Lookup %s: %s.", lookup_id, describe_progress(progress))
        return None

    async def _follow(self, hook: MsgFlashAsyncHook, lookup_id: str, requested: int) -> tuple[str, str]:
        """Poll one lookup until it is terminal or the deadline passes: (outcome, message)."""
        schedule = PollSchedule(requested, self.submitted_at, self.poll_interval, self.max_poll_interval, self.deadline)
        poller = Poller(self.deadline, self.poll_interval, self.max_poll_interval)
        delay = schedule.next_delay()
        while True:
            await asyncio.sleep(delay)
            past_deadline = poller.past_deadline  # read before the check: one last check after the deadline
            self._polls += 1
            try:
                progress = await hook.get_number_lookup_progress(lookup_id)
            except MsgFlashError as e:
                if past_deadline:
                    return EventStatus.TIMEOUT.value, f"lookup {lookup_id}: deadline passed; last check failed: {e}"
                delay = poller.failed(e)  # raises when no further read can help
                self.log.warning(
                    "Could not read lookup %s (%s); failure %d of %d, next try in %.0f s.",
                    lookup_id, e, poller.errors, MAX_CONSECUTIVE_ERRORS, delay,
                )  # fmt: skip
                continue
            poller.succeeded()
            schedule.observe(progress)
            outcome = self._judge(lookup_id, progress, past_deadline)
            if outcome is not None:
                return outcome
            delay = schedule.next_delay()

    async def wait(self) -> dict[str, Any]:
        hook = MsgFlashAsyncHook(self.msgflash_conn_id)
        tasks = [
            asyncio.ensure_future(self._follow(hook, lid, req))
            for lid, req in zip(self._named(), self.requested, strict=False)
        ]
        try:
            for next_done in asyncio.as_completed(tasks):
                status, message = await next_done
                if status != EventStatus.SUCCESS:
                    # One lookup failed, was cancelled, timed out or cannot be read: report now.
                    return self.payload(status, message)
            n = len(tasks)
            return self.payload(EventStatus.SUCCESS.value, f"{n} lookup{'s' if n != 1 else ''} done")
        finally:
            for t in tasks:
                t.cancel()

    async def on_kill(self) -> None:
        """Cancel unfinished lookups when a user marks/clears the deferred task (Airflow 3.3+).

        Not called on a triggerer restart, so a restart never cancels a lookup.
        """
        if not self.cancel_on_kill:
            return
        hook = MsgFlashAsyncHook(self.msgflash_conn_id)
        for lookup_id in self.lookup_ids:
            if self._last.get(lookup_id, {}).get("status") in LOOKUP_TERMINAL:
                continue
            try:
                if await hook.cancel_number_lookup(lookup_id) is not None:
                    self.log.info("Task killed: cancelled lookup %s.", lookup_id)
            except MsgFlashError as e:
                self.log.warning("Task killed: could not cancel lookup %s: %s", lookup_id, e)

"""Deferrable triggers: wait for number lookups to finish, or for an instance to be ready.

Triggers only wait: they send GET requests through :class:`MsgFlashAsyncHook` and yield one small
event. ``serialize()`` holds the connection id and object ids, never a secret, and a trigger rebuilt
from it (after a triggerer restart) simply carries on polling the same lookups.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_msgflash._api import MIN_POLL_INTERVAL
from airflow_provider_msgflash._polling import (
    DEFAULT_MAX_INTERVAL,
    PollSchedule,
    describe_progress,
    lookup_status,
    small_progress,
)
from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashAsyncHook
from airflow_provider_msgflash.version_compat import BaseTrigger, TriggerEvent

#: Consecutive failed polls of one lookup (after the hook's own retries) before the trigger gives up.
MAX_CONSECUTIVE_ERRORS = 8


def _summarise(lookups: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in lookups:
        for k, v in item.items():
            if isinstance(v, int):
                totals[k] = totals.get(k, 0) + v
    return totals


class MsgFlashLookupTrigger(BaseTrigger):
    """Wait until every lookup in ``lookup_ids`` has finished, polling ``/progress`` frugally.

    Yields exactly one event ``{"status", "lookup_ids", "lookups", "counts", "message", "polls"}`` where
    ``status`` is ``success`` (all ``done``), ``failed`` or ``cancelled`` (at least one lookup ended so;
    the others may still run), ``timeout`` (``deadline`` passed; checked once more first) or ``error``
    (the lookups could not be followed: not found, refused key, quota, repeated transient failures).

    :param lookup_ids: the lookups to follow, in order.
    :param msgflash_conn_id: the Airflow connection id (the key is read from it, never passed in).
    :param submitted_at: local epoch seconds when the lookups were submitted (for the pace estimate).
    :param requested: numbers requested per lookup (same order), for the first-poll estimate.
    :param deadline: local epoch seconds after which the trigger reports ``timeout``; None: no limit.
    :param poll_interval: shortest pause between two polls of a lookup (never below 2 s).
    :param max_poll_interval: longest pause between two polls of a lookup.
    :param cancel_on_kill: cancel unfinished lookups when a user kills the task (Airflow 3.3+).
    """

    def __init__(
        self,
        lookup_ids: list[str],
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        submitted_at: float | None = None,
        requested: list[int] | None = None,
        deadline: float | None = None,
        poll_interval: float = MIN_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_INTERVAL,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.lookup_ids = list(lookup_ids)
        self.msgflash_conn_id = msgflash_conn_id
        self.submitted_at = float(submitted_at) if submitted_at is not None else time.time()
        self.requested = list(requested) if requested else [0] * len(self.lookup_ids)
        self.deadline = deadline
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval))
        self.max_poll_interval = max(self.poll_interval, float(max_poll_interval))
        self.cancel_on_kill = cancel_on_kill
        self._last: dict[str, dict[str, Any]] = {}
        self._polls = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "lookup_ids": self.lookup_ids,
                "msgflash_conn_id": self.msgflash_conn_id,
                "submitted_at": self.submitted_at,
                "requested": self.requested,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _hook(self) -> MsgFlashAsyncHook:
        return MsgFlashAsyncHook(self.msgflash_conn_id)

    def _event(self, status: str, message: str) -> TriggerEvent:
        lookups = [self._last.get(i, {"id": i, "status": "unknown"}) for i in self.lookup_ids]
        return TriggerEvent(
            {
                "status": status,
                "lookup_ids": self.lookup_ids,
                "lookups": lookups,
                "counts": _summarise([{k: v for k, v in x.items() if k != "id"} for x in lookups]),
                "message": message,
                "polls": self._polls,
            }
        )

    async def _follow(self, hook: MsgFlashAsyncHook, lookup_id: str, requested: int) -> tuple[str, str]:
        """Poll one lookup until it is terminal or the deadline passes: (outcome, message)."""
        schedule = PollSchedule(
            requested=requested,
            started_at=self.submitted_at,
            min_interval=self.poll_interval,
            max_interval=self.max_poll_interval,
            deadline=self.deadline,
        )
        errors = 0
        delay = schedule.next_delay()
        while True:
            await asyncio.sleep(delay)
            past_deadline = self.deadline is not None and time.time() >= self.deadline
            self._polls += 1
            try:
                progress = await hook.get_number_lookup_progress(lookup_id)
                status = lookup_status(progress)
            except MsgFlashError as e:
                errors += 1
                if not e.retryable or errors >= MAX_CONSECUTIVE_ERRORS:
                    return "error", f"lookup {lookup_id}: {e}"
                if past_deadline:
                    return "timeout", f"lookup {lookup_id}: deadline passed; last check failed: {e}"
                delay = min(self.max_poll_interval, self.poll_interval * 2**errors)
                self.log.warning(
                    "Could not read lookup %s (%s); failure %d of %d, next try in %.0f s.",
                    lookup_id,
                    e,
                    errors,
                    MAX_CONSECUTIVE_ERRORS,
                    delay,
                )
                continue
            errors = 0
            self._last[lookup_id] = small_progress(progress)
            schedule.observe(progress)
            if status == "done":
                self.log.info("Lookup %s done: %s.", lookup_id, describe_progress(progress))
                return "success", f"lookup {lookup_id} done"
            if status in ("failed", "cancelled"):
                detail = f": {progress.get('error')}" if progress.get("error") else ""
                return status, f"lookup {lookup_id} {status}{detail}"
            if past_deadline:
                return "timeout", f"lookup {lookup_id} still {status} at the deadline"
            delay = schedule.next_delay()
            self.log.info("Lookup %s: %s; next check in %.1f s.", lookup_id, describe_progress(progress), delay)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        tasks = [
            asyncio.ensure_future(self._follow(hook, lid, req))
            for lid, req in zip(self.lookup_ids, self.requested, strict=False)
        ]
        try:
            outcomes: list[tuple[str, str]] = []
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    outcome = t.result()
                    outcomes.append(outcome)
                    if outcome[0] != "success":
                        # One lookup failed, was cancelled, timed out or cannot be read: report now.
                        for p in pending:
                            p.cancel()
                        yield self._event(outcome[0], outcome[1])
                        return
            n = len(outcomes)
            yield self._event("success", f"{n} lookup{'s' if n != 1 else ''} done")
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()

    async def on_kill(self) -> None:
        """Cancel unfinished lookups when a user marks/clears the deferred task (Airflow 3.3+).

        Not called on a triggerer restart, so a restart never cancels a lookup.
        """
        if not self.cancel_on_kill:
            return
        hook = self._hook()
        for lookup_id in self.lookup_ids:
            if self._last.get(lookup_id, {}).get("status") in ("done", "failed", "cancelled"):
                continue
            try:
                answer = await hook.cancel_number_lookup(lookup_id)
                if answer is not None:
                    self.log.info("Task killed: cancelled lookup %s.", lookup_id)
            except MsgFlashError as e:
                self.log.warning("Task killed: could not cancel lookup %s: %s", lookup_id, e)


class MsgFlashInstanceReadyTrigger(BaseTrigger):
    """Wait until an instance is ``connected`` (and, optionally, healthy enough).

    Yields one event ``{"status": "success"|"timeout"|"error", "instance_id", "state", "health",
    "message"}``.

    :param instance_id: the instance's id.
    :param msgflash_conn_id: the Airflow connection id.
    :param min_safety_score: when set, also wait until ``safetyScore`` reaches it.
    :param poll_interval: seconds between checks.
    :param deadline: local epoch seconds after which the trigger reports ``timeout``; None: no limit.
    """

    def __init__(
        self,
        instance_id: str,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        min_safety_score: float | None = None,
        poll_interval: float = 10.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.msgflash_conn_id = msgflash_conn_id
        self.min_safety_score = min_safety_score
        self.poll_interval = max(1.0, float(poll_interval))
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "instance_id": self.instance_id,
                "msgflash_conn_id": self.msgflash_conn_id,
                "min_safety_score": self.min_safety_score,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_msgflash.readiness import readiness_problem

        hook = MsgFlashAsyncHook(self.msgflash_conn_id)
        errors = 0
        state: Any = None
        health: Any = None
        while True:
            past_deadline = self.deadline is not None and time.time() >= self.deadline
            try:
                state = await hook.get_instance_state(self.instance_id)
                health = (
                    await hook.get_instance_health(self.instance_id)
                    if self.min_safety_score is not None and state.get("status") == "connected"
                    else None
                )
                errors = 0
            except MsgFlashError as e:
                errors += 1
                if not e.retryable or errors >= MAX_CONSECUTIVE_ERRORS:
                    yield self._event("error", f"{e}", state, health)
                    return
                self.log.warning("Could not read instance %s (%s); will try again.", self.instance_id, e)
            else:
                problem = readiness_problem(self.instance_id, state, health, self.min_safety_score)
                if problem is None:
                    yield self._event("success", f"instance {self.instance_id} is ready", state, health)
                    return
                self.log.info("Instance %s not ready yet: %s", self.instance_id, problem)
                if past_deadline:
                    yield self._event("timeout", problem, state, health)
                    return
            if past_deadline:
                yield self._event("timeout", "deadline passed while the instance could not be read", state, health)
                return
            delay = self.poll_interval
            if self.deadline is not None:
                delay = min(delay, max(0.0, self.deadline - time.time()))
            await asyncio.sleep(delay)

    def _event(self, status: str, message: str, state: Any, health: Any) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "instance_id": self.instance_id,
                "state": state if isinstance(state, dict) else None,
                "health": _small_health(health),
                "message": message,
            }
        )


def _small_health(health: Any) -> dict[str, Any] | None:
    if not isinstance(health, dict):
        return None
    return {k: health.get(k) for k in ("safetyState", "safetyScore") if k in health}

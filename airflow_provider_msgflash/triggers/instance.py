""":class:`MsgFlashInstanceReadyTrigger`: wait until a WhatsApp instance is connected (and healthy enough)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashAsyncHook
from airflow_provider_msgflash.readiness import readiness_problem, small_health
from airflow_provider_msgflash.statuses import EventStatus, InstanceStatus
from airflow_provider_msgflash.triggers.base import MAX_CONSECUTIVE_ERRORS, MsgFlashBaseTrigger


class MsgFlashInstanceReadyTrigger(MsgFlashBaseTrigger):
    """Wait until an instance is ``connected`` (and, optionally, healthy enough).

    Yields one event ``{"status": "success"|"timeout"|"error", "instance_id", "state", "health",
    "message"}``.

    :param instance_id: the instance's id.
    :param msgflash_conn_id: the Airflow connection id.
    :param min_safety_score: when set, also wait until ``safetyScore`` reaches it.
    :param poll_interval: seconds between checks.
    :param deadline: local epoch seconds after which the trigger reports ``timeout``; None: no limit.
    """

    serialized_fields = ("instance_id", "msgflash_conn_id", "min_safety_score", "poll_interval", "deadline")

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
        self._state: Any = None
        self._health: Any = None

    def payload(self, status: str, message: str) -> dict[str, Any]:
        return {
            "status": status,
            "instance_id": self.instance_id,
            "state": self._state if isinstance(self._state, dict) else None,
            "health": small_health(self._health),
            "message": message,
        }

    async def _check(self, hook: MsgFlashAsyncHook) -> str | None:
        """Read state (and health when it matters); why the instance is not ready, or None."""
        self._state = await hook.get_instance_state(self.instance_id)
        connected = isinstance(self._state, dict) and self._state.get("status") == InstanceStatus.CONNECTED
        wants_health = self.min_safety_score is not None and connected
        self._health = await hook.get_instance_health(self.instance_id) if wants_health else None
        return readiness_problem(self.instance_id, self._state, self._health, self.min_safety_score)

    async def wait(self) -> dict[str, Any]:
        hook = MsgFlashAsyncHook(self.msgflash_conn_id)
        errors = 0
        while True:
            past_deadline = self.deadline is not None and time.time() >= self.deadline
            try:
                problem = await self._check(hook)
                errors = 0
            except MsgFlashError as e:
                errors += 1
                if not e.retryable or errors >= MAX_CONSECUTIVE_ERRORS:
                    raise
                self.log.warning("Could not read instance %s (%s); will try again.", self.instance_id, e)
                problem = f"the instance could not be read ({e.code})"
            else:
                if problem is None:
                    return self.payload(EventStatus.SUCCESS.value, f"instance {self.instance_id} is ready")
                self.log.info("Instance %s not ready yet: %s", self.instance_id, problem)
            if past_deadline:
                return self.payload(EventStatus.TIMEOUT.value, problem)
            delay = self.poll_interval
            if self.deadline is not None:
                delay = min(delay, max(0.0, self.deadline - time.time()))
            await asyncio.sleep(delay)

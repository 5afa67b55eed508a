""":class:`MsgFlashInstanceReadyTrigger`: wait until a WhatsApp instance is connected (and healthy enough)."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL
from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashAsyncHook
from airflow_provider_msgflash.polling import READY_POLL_INTERVAL, Poller
from airflow_provider_msgflash.readiness import aresolve_instance_id, readiness_problem, small_health
from airflow_provider_msgflash.statuses import EventStatus, InstanceStatus
from airflow_provider_msgflash.triggers.base import MsgFlashBaseTrigger


class MsgFlashInstanceReadyTrigger(MsgFlashBaseTrigger):
    """Wait until an instance is ``connected`` (and, optionally, healthy enough).

    Yields one event ``{"status": "success"|"timeout"|"error", "instance_id", "state", "health",
    "message"}``.

    :param instance_id: the instance's id, or its ``name`` or ``waNumber`` (resolved here, with one list
        request: a task started in the triggerer never ran in a worker to resolve it).
    :param msgflash_conn_id: the Airflow connection id.
    :param min_safety_score: when set, also wait until ``safetyScore`` reaches it.
    :param poll_interval: seconds between checks (at least 2; default ``polling.READY_POLL_INTERVAL``, 10).
    :param deadline: local epoch seconds after which the trigger reports ``timeout``; None: no limit.
    :param end_task: once ready, end the task here (XCom ``return_value``: ``instance_id``, ``state``,
        ``health``) rather than resume it in a worker: a sensor started in the triggerer.

    ``instance_id`` and ``msgflash_conn_id`` may be templates when the triggerer renders them (a sensor started
    in the triggerer, Airflow 3.3): they are read only once the trigger runs.
    """

    serialized_fields = ("instance_id", "msgflash_conn_id", "min_safety_score", "poll_interval", "deadline", "end_task")

    def __init__(
        self,
        instance_id: str,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        min_safety_score: float | None = None,
        poll_interval: float | None = None,
        deadline: float | None = None,
        end_task: bool = False,
    ) -> None:
        super().__init__(end_task=end_task)
        self.instance_id = instance_id
        self.msgflash_conn_id = msgflash_conn_id
        self.min_safety_score = min_safety_score
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval or READY_POLL_INTERVAL))
        self.deadline = deadline
        self._resolved: str | None = None
        self._state: Any = None
        self._health: Any = None

    def payload(self, status: str, message: str) -> dict[str, Any]:
        return {
            "status": status,
            "instance_id": self._resolved or self.instance_id,
            "state": self._state if isinstance(self._state, dict) else None,
            "health": small_health(self._health),
            "message": message,
        }

    @staticmethod
    def task_result(payload: dict[str, Any]) -> dict[str, Any]:
        return {k: payload.get(k) for k in ("instance_id", "state", "health")}

    async def _check(self, hook: MsgFlashAsyncHook) -> str | None:
        """Read state (and health when it matters); why the instance is not ready, or None."""
        if self._resolved is None:
            self._resolved = await aresolve_instance_id(hook, self.instance_id)
        self._state = await hook.get_instance_state(self._resolved)
        connected = isinstance(self._state, dict) and self._state.get("status") == InstanceStatus.CONNECTED
        wants_health = self.min_safety_score is not None and connected
        self._health = await hook.get_instance_health(self._resolved) if wants_health else None
        return readiness_problem(self._resolved, self._state, self._health, self.min_safety_score)

    async def wait(self) -> dict[str, Any]:
        hook = MsgFlashAsyncHook(self.msgflash_conn_id)
        poller = Poller(self.deadline, self.poll_interval, self.poll_interval)
        while True:
            past_deadline = poller.past_deadline
            try:
                problem = await self._check(hook)
            except MsgFlashError as e:
                delay = poller.failed(e)  # raises when no further read can help
                self.log.warning("Could not read instance %s (%s); will try again.", self.instance_id, e)
                problem = f"the instance could not be read ({e.code})"
            else:
                poller.succeeded()
                if problem is None:
                    return self.payload(EventStatus.SUCCESS.value, f"instance {self._resolved} is ready")
                self.log.info("Instance %s not ready yet: %s", self._resolved, problem)
                delay = poller.pause(self.poll_interval)
            if past_deadline:
                return self.payload(EventStatus.TIMEOUT.value, problem)
            await asyncio.sleep(delay)

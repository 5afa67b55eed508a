""":class:`MsgFlashInstanceReadySensor`: wait until a WhatsApp instance is connected and healthy enough."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.polling import READY_POLL_INTERVAL
from airflow_provider_msgflash.readiness import check_health_policy, describe_health, instance_state, readiness_problem
from airflow_provider_msgflash.sensors.base import MsgFlashBaseSensor
from airflow_provider_msgflash.statuses import EventStatus, InstanceStatus
from airflow_provider_msgflash.version_compat import AirflowSensorTimeout, PokeReturnValue

if TYPE_CHECKING:
    from airflow_provider_msgflash.version_compat import Context


class MsgFlashInstanceReadySensor(MsgFlashBaseSensor):
    """Wait until a WhatsApp instance is ``connected`` and, optionally, healthy enough.

    Returns (XCom) ``{"instance_id", "state", "health"}`` once ready.

    :param instance_id: the instance's id, or its ``name`` or ``waNumber``. Templated.
    :param min_safety_score: also wait until the instance's ``safetyScore`` reaches this (0-100).
        None (default): health is not read here (the lookup operator reads and judges it before each
        run), which saves a request.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param start_from_trigger: with ``deferrable``, start in the triggerer where Airflow can (3.3+): the instance
        reference is resolved there, and a ready instance ends the task there (no worker slot). Default True.

    ``poke_interval`` (default 10 s), ``timeout`` and ``mode`` work as for every sensor.
    """

    template_fields: Sequence[str] = ("instance_id", "msgflash_conn_id")

    def __init__(
        self,
        *,
        instance_id: str,
        min_safety_score: float | None = None,
        poke_interval: float = READY_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        check_health_policy("warn", min_safety_score)
        self.instance_id = instance_id
        self.min_safety_score = min_safety_score
        self._resolved_id: str | None = None
        self.start_in_triggerer(
            "MsgFlashInstanceReadyTrigger",
            instance_id=instance_id,
            msgflash_conn_id=self.msgflash_conn_id,
            min_safety_score=min_safety_score,
            poll_interval=float(self.poke_interval),
        )

    def _check(self) -> tuple[str | None, dict[str, Any]]:
        if self._resolved_id is None:
            instance, state = instance_state(self.hook, self.instance_id)
            self._resolved_id = iid = str(instance["id"])
        else:
            iid = self._resolved_id
            state = self.hook.get_instance_state(iid)
        connected = isinstance(state, dict) and state.get("status") == InstanceStatus.CONNECTED
        # Health only when it decides readiness: the lookup task judges it again before its own run.
        wants_health = connected and self.min_safety_score is not None
        health = self.hook.get_instance_health(iid) if wants_health else None
        if health is not None:
            self.log.info("Instance %s health: %s", iid, describe_health(health))
        problem = readiness_problem(iid, state, health, self.min_safety_score)
        return problem, {"instance_id": iid, "state": state, "health": health}

    def poke(self, context: Context) -> PokeReturnValue:
        """One read of the state (and of the health when it decides): ready, with what was read as XCom."""
        problem, info = self._check()
        if problem:
            self.log.info("Not ready: %s", problem)
        return PokeReturnValue(is_done=problem is None, xcom_value=info if problem is None else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        problem, info = self._check()
        if problem is None:
            self.log.info("Instance %s is ready.", info["instance_id"])
            return info
        from airflow_provider_msgflash.triggers.instance import MsgFlashInstanceReadyTrigger

        self.log.info("Not ready (%s); deferring.", problem)
        trigger = MsgFlashInstanceReadyTrigger(
            instance_id=info["instance_id"],
            msgflash_conn_id=self.msgflash_conn_id,
            min_safety_score=self.min_safety_score,
            poll_interval=float(self.poke_interval),
            deadline=self.deadline(),
        )
        self.defer_to(trigger)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: ready, or fail saying why."""
        from airflow_provider_msgflash.triggers.instance import MsgFlashInstanceReadyTrigger

        status, message = self.event_status(event)
        if status == EventStatus.SUCCESS and event is not None:
            self.log.info("Instance %s is ready.", event.get("instance_id"))
            return MsgFlashInstanceReadyTrigger.task_result(event)
        if status == EventStatus.TIMEOUT:  # as in poke mode: a sensor's timeout is final, never retried
            raise AirflowSensorTimeout(f"SENSOR_TIMEOUT: instance not ready before the sensor's timeout: {message}")
        raise MsgFlashError(f"Could not check the instance: {message}", code="SENSOR_ERROR")

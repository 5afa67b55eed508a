"""Sensors for MsgFlash: wait for an instance to be ready, or for a lookup to finish.

Both poke with the sync hook, or, with ``deferrable=True``, hand the waiting to a trigger.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash._api import MIN_POLL_INTERVAL
from airflow_provider_msgflash._polling import describe_progress, lookup_status
from airflow_provider_msgflash.exceptions import MsgFlashError, MsgFlashLookupError
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashHook
from airflow_provider_msgflash.readiness import (
    check_health_policy,
    describe_health,
    readiness_problem,
)
from airflow_provider_msgflash.version_compat import BaseSensorOperator, default_deferrable

if TYPE_CHECKING:
    from airflow_provider_msgflash.version_compat import Context


def _timeout_seconds(timeout: Any) -> float | None:
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    return float(timeout) if isinstance(timeout, int | float) else None


class MsgFlashInstanceReadySensor(BaseSensorOperator):
    """Wait until a WhatsApp instance is ``connected`` and, optionally, healthy enough.

    Returns (XCom) ``{"instance_id", "state", "health"}`` once ready.

    :param instance_id: the instance's id, or its ``name`` or ``waNumber``. Templated.
    :param min_safety_score: also wait until the instance's ``safetyScore`` reaches this (0-100).
        None (default): health is read and logged but not waited for.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.

    ``poke_interval`` (default 10 s), ``timeout`` and ``mode`` work as for every sensor.
    """

    template_fields: Sequence[str] = ("instance_id", "msgflash_conn_id")
    ui_color = "#25D366"

    def __init__(
        self,
        *,
        instance_id: str,
        min_safety_score: float | None = None,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        poke_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        check_health_policy("warn", min_safety_score)
        self.instance_id = instance_id
        self.min_safety_score = min_safety_score
        self.msgflash_conn_id = msgflash_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._resolved_id: str | None = None

    @cached_property
    def hook(self) -> MsgFlashHook:
        return MsgFlashHook(self.msgflash_conn_id)

    def _id(self) -> str:
        if self._resolved_id is None:
            self._resolved_id = str(self.hook.resolve_instance(self.instance_id)["id"])
        return self._resolved_id

    def _check(self) -> tuple[str | None, dict[str, Any]]:
        iid = self._id()
        state = self.hook.get_instance_state(iid)
        health = self.hook.get_instance_health(iid) if state.get("status") == "connected" else None
        if health is not None:
            self.log.info("Instance %s health: %s", iid, describe_health(health))
        return readiness_problem(iid, state, health, self.min_safety_score), {
            "instance_id": iid,
            "state": state,
            "health": health,
        }

    def poke(self, context: Context) -> bool:
        problem, _ = self._check()
        if problem:
            self.log.info("Not ready: %s", problem)
        return problem is None

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            super().execute(context)
            return self._check()[1]
        problem, info = self._check()
        if problem is None:
            self.log.info("Instance %s is ready.", info["instance_id"])
            return info
        from airflow_provider_msgflash.triggers.msgflash import MsgFlashInstanceReadyTrigger

        limit = _timeout_seconds(self.timeout)
        self.log.info("Not ready (%s); deferring.", problem)
        self.defer(
            trigger=MsgFlashInstanceReadyTrigger(
                instance_id=info["instance_id"],
                msgflash_conn_id=self.msgflash_conn_id,
                min_safety_score=self.min_safety_score,
                poll_interval=float(self.poke_interval),
                deadline=time.time() + limit if limit else None,
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: ready, or fail saying why."""
        status = event.get("status") if isinstance(event, dict) else None
        if status == "success":
            assert event is not None
            self.log.info("Instance %s is ready.", event.get("instance_id"))
            return {k: event.get(k) for k in ("instance_id", "state", "health")}
        message = event.get("message") if isinstance(event, dict) else repr(event)
        if status == "timeout":
            raise MsgFlashError(f"Instance not ready before the sensor's timeout: {message}", code="SENSOR_TIMEOUT")
        raise MsgFlashError(f"Could not check the instance: {message}", code="SENSOR_ERROR")


class MsgFlashLookupSensor(BaseSensorOperator):
    """Wait until a number lookup has finished (``done``); fail if it ends ``failed`` or ``cancelled``.

    Returns (XCom) the lookup's progress counters once done.

    :param lookup_id: the lookup id (templated; e.g. the lookup task's ``lookup_id`` XCom).
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer (frugal adaptive polling). Default:
        ``[operators] default_deferrable``.

    ``poke_interval`` (default and minimum 2 s), ``timeout`` and ``mode`` work as for every sensor.
    """

    template_fields: Sequence[str] = ("lookup_id", "msgflash_conn_id")
    ui_color = "#25D366"

    def __init__(
        self,
        *,
        lookup_id: str,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        poke_interval: float = MIN_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=max(MIN_POLL_INTERVAL, poke_interval), **kwargs)
        self.lookup_id = lookup_id
        self.msgflash_conn_id = msgflash_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    @cached_property
    def hook(self) -> MsgFlashHook:
        return MsgFlashHook(self.msgflash_conn_id)

    def _progress(self) -> dict[str, Any]:
        progress: dict[str, Any] = self.hook.get_number_lookup_progress(self.lookup_id)
        status = lookup_status(progress)
        self.log.info("Lookup %s: %s.", self.lookup_id, describe_progress(progress))
        if status in ("failed", "cancelled"):
            detail = f": {progress.get('error')}" if progress.get("error") else ""
            raise MsgFlashLookupError(f"Lookup {self.lookup_id} {status}{detail}", code=f"LOOKUP_{status.upper()}")
        return progress

    def poke(self, context: Context) -> bool:
        return self._progress().get("status") == "done"

    def execute(self, context: Context) -> Any:
        progress = self._progress()
        if progress.get("status") == "done":
            return progress
        if not self.deferrable:
            super().execute(context)
            return self.hook.get_number_lookup_progress(self.lookup_id)
        from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger

        limit = _timeout_seconds(self.timeout)
        self.defer(
            trigger=MsgFlashLookupTrigger(
                lookup_ids=[self.lookup_id],
                msgflash_conn_id=self.msgflash_conn_id,
                requested=[int(progress.get("requestedCount") or 0)],
                deadline=time.time() + limit if limit else None,
                poll_interval=float(self.poke_interval),
                cancel_on_kill=False,
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: the lookup's counters, or fail saying why."""
        status = event.get("status") if isinstance(event, dict) else None
        if status == "success":
            assert event is not None
            lookups = event.get("lookups") or [{}]
            return lookups[0]
        message = event.get("message") if isinstance(event, dict) else repr(event)
        raise MsgFlashLookupError(f"Lookup {self.lookup_id}: {status}: {message}", code=f"LOOKUP_{str(status).upper()}")

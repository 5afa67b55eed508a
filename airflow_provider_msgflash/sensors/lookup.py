""":class:`MsgFlashLookupSensor`: wait until a number lookup has finished."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL
from airflow_provider_msgflash.api.shapes import lookup_error
from airflow_provider_msgflash.exceptions import MsgFlashLookupError, MsgFlashLookupFinalError
from airflow_provider_msgflash.polling import describe_progress, lookup_status
from airflow_provider_msgflash.sensors.base import MsgFlashBaseSensor
from airflow_provider_msgflash.statuses import EventStatus, LookupStatus
from airflow_provider_msgflash.version_compat import AirflowSensorTimeout, PokeReturnValue

if TYPE_CHECKING:
    from airflow_provider_msgflash.version_compat import Context


class MsgFlashLookupSensor(MsgFlashBaseSensor):
    """Wait until a number lookup has finished (``done``); fail if it ends ``failed`` or ``cancelled``.

    Returns (XCom) the lookup's progress counters once done.

    :param lookup_id: the lookup id (templated; e.g. the lookup task's ``lookup_id`` XCom).
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer (frugal adaptive polling). Default:
        ``[operators] default_deferrable``.
    :param start_from_trigger: with ``deferrable``, start in the triggerer where Airflow can (3.3+): a finished
        lookup then ends the task there (no worker slot). Default True. Only for a ``lookup_id`` that pulls no
        XCom (a plain id, ``{{ params.lookup_id }}``, ``{{ dag_run.conf[...] }}``): ``lookup.output[...]`` or
        ``ti.xcom_pull`` start in a worker, as the triggerer cannot pull XComs (Airflow 3.3.2).

    ``poke_interval`` (default and minimum 2 s), ``timeout`` and ``mode`` work as for every sensor.
    """

    template_fields: Sequence[str] = ("lookup_id", "msgflash_conn_id")

    def __init__(self, *, lookup_id: str, poke_interval: float = MIN_POLL_INTERVAL, **kwargs: Any) -> None:
        super().__init__(poke_interval=max(MIN_POLL_INTERVAL, poke_interval), **kwargs)
        self.lookup_id = lookup_id
        self.start_in_triggerer(
            "MsgFlashLookupTrigger",
            lookup_id=lookup_id,
            msgflash_conn_id=self.msgflash_conn_id,
            poll_interval=float(self.poke_interval),
            cancel_on_kill=False,
        )

    def _progress(self) -> dict[str, Any]:
        progress = dict(self.hook.get_number_lookup_progress(self.lookup_id))
        status = lookup_status(progress)
        self.log.info("Lookup %s: %s.", self.lookup_id, describe_progress(progress))
        if status == LookupStatus.FAILED:  # the service refused it: waiting longer cannot help
            detail = lookup_error(progress) or "no reason given"
            raise MsgFlashLookupFinalError(f"Lookup {self.lookup_id} failed: {detail}", code="LOOKUP_FAILED")
        if status == LookupStatus.CANCELLED:
            raise MsgFlashLookupError(f"Lookup {self.lookup_id} cancelled", code="LOOKUP_CANCELLED")
        return progress

    def poke(self, context: Context) -> PokeReturnValue:
        """One progress read: done, with the lookup's counters as XCom."""
        progress = self._progress()
        done = progress.get("status") == LookupStatus.DONE
        return PokeReturnValue(is_done=done, xcom_value=progress if done else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        progress = self._progress()
        if progress.get("status") == LookupStatus.DONE:
            return progress
        from airflow_provider_msgflash.triggers.lookup import MsgFlashLookupTrigger

        trigger = MsgFlashLookupTrigger(
            lookup_ids=[self.lookup_id],
            msgflash_conn_id=self.msgflash_conn_id,
            requested=[int(progress.get("requestedCount") or 0)],
            deadline=self.deadline(),
            poll_interval=float(self.poke_interval),
            cancel_on_kill=False,
        )
        self.defer_to(trigger)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: the lookup's counters, or fail saying why."""
        from airflow_provider_msgflash.triggers.lookup import MsgFlashLookupTrigger

        status, message = self.event_status(event)
        if status == EventStatus.SUCCESS and event is not None:
            return MsgFlashLookupTrigger.task_result(event)
        if status == EventStatus.TIMEOUT:  # as in poke mode: a sensor's timeout is final, never retried
            raise AirflowSensorTimeout(f"SENSOR_TIMEOUT: lookup {self.lookup_id} not done before the sensor's timeout")
        cls = (
            MsgFlashLookupFinalError
            if status == EventStatus.FAILED or (event or {}).get("final")
            else MsgFlashLookupError
        )
        raise cls(f"Lookup {self.lookup_id}: {status}: {message}", code=f"LOOKUP_{str(status).upper()}")

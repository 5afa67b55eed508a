"""What both MsgFlash sensors share, on top of :class:`~airflow_provider_msgflash.base_operator.MsgFlashBaseOperator`:
``deferrable``, the deferral with an absolute deadline, and starting in the triggerer where Airflow can."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow_provider_msgflash.arguments import seconds_of
from airflow_provider_msgflash.base_operator import MsgFlashBaseOperator
from airflow_provider_msgflash.version_compat import (
    START_FROM_TRIGGER_RENDERS,
    BaseSensorOperator,
    BaseTrigger,
    StartTriggerArgs,
    default_deferrable,
)


def renders_in_triggerer(value: Any) -> bool:
    """Whether the triggerer can render this templated argument of a task started there: a string that pulls no
    XCom. Measured on Airflow 3.3.2: an ``XComArg`` reaches the trigger unresolved (the text ``_XComRef(...)``),
    and ``ti.xcom_pull`` in a template asks the triggerer's supervisor for an XCom slice it does not serve, so
    the trigger waits for an answer forever. Such a sensor starts in a worker, where both work."""
    return isinstance(value, str) and "xcom" not in value.lower()


class MsgFlashBaseSensor(MsgFlashBaseOperator, BaseSensorOperator):
    """Base of the MsgFlash sensors (not used directly).

    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param start_from_trigger: with ``deferrable``, start the task in the triggerer, where Airflow renders
        its templated arguments there (3.3+) and they pull no XCom: it then takes no worker slot unless it fails
        (the failure, or the ``timeout``, resumes it in a worker, which raises as before). Default True; False
        starts it in a worker as on older lines, where this is always so.
    """

    def __init__(self, *, deferrable: bool | None = None, start_from_trigger: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.start_from_trigger = bool(start_from_trigger and self.deferrable and START_FROM_TRIGGER_RENDERS)

    def start_in_triggerer(self, trigger_class: str, **trigger_kwargs: Any) -> None:
        """With ``start_from_trigger``, let the scheduler hand the task straight to ``trigger_class`` built from
        ``trigger_kwargs`` (the triggerer renders those named like this sensor's template fields). The trigger
        gets no deadline: Airflow's own deferral timeout (the sensor's ``timeout``) ends the wait, and a worker
        then raises ``AirflowSensorTimeout``. The trigger ends the task itself on success, unless the task has
        outlets (their asset events are emitted by a worker). A templated argument the triggerer cannot render
        (:func:`renders_in_triggerer`) keeps the task's start in a worker."""
        templated = [v for k, v in trigger_kwargs.items() if k in self.template_fields]
        self.start_from_trigger = self.start_from_trigger and all(map(renders_in_triggerer, templated))
        if not self.start_from_trigger:
            return
        from airflow_provider_msgflash.triggers.base import PUBLIC_MODULE

        limit = seconds_of(self.timeout)
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{PUBLIC_MODULE}.{trigger_class}",
            trigger_kwargs={**trigger_kwargs, "deadline": None, "end_task": not self.outlets},
            next_method="execute_complete",
            next_kwargs=None,
            timeout=timedelta(seconds=limit) if limit else None,
        )

    def deadline(self) -> float | None:
        """Epoch seconds at which the sensor's ``timeout`` runs out, counted from now; None without one."""
        limit = seconds_of(self.timeout)
        return time.time() + limit if limit else None

    def defer_to(self, trigger: BaseTrigger) -> None:
        """Hand the waiting to ``trigger`` (it enforces the deadline itself, so Airflow's own deferral
        timeout, which would skip ``execute_complete``, is not used)."""
        self.defer(trigger=trigger, method_name="execute_complete", timeout=None)

    @staticmethod
    def event_status(event: Any) -> tuple[str | None, str]:
        """``(status, message)`` of a trigger's event, whatever it holds."""
        if not isinstance(event, dict):
            return None, repr(event)
        return event.get("status"), str(event.get("message") or "")

"""What both MsgFlash sensors share, on top of :class:`~airflow_provider_msgflash.base_operator.MsgFlashBaseOperator`:
``deferrable``, and the deferral with an absolute deadline."""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_msgflash.arguments import seconds_of
from airflow_provider_msgflash.base_operator import MsgFlashBaseOperator
from airflow_provider_msgflash.version_compat import BaseSensorOperator, BaseTrigger, default_deferrable


class MsgFlashBaseSensor(MsgFlashBaseOperator, BaseSensorOperator):
    """Base of the MsgFlash sensors (not used directly).

    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    """

    def __init__(self, *, deferrable: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = default_deferrable() if deferrable is None else deferrable

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

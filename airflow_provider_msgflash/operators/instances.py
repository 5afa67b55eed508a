"""Operators that read the account's WhatsApp instances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.base_operator import MsgFlashBaseOperator
from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.statuses import INSTANCE_STATUSES

if TYPE_CHECKING:
    from airflow_provider_msgflash.version_compat import Context


class MsgFlashListInstancesOperator(MsgFlashBaseOperator):
    """List the account's WhatsApp instances (optionally only those with a given status).

    Returns a list of ``{id, name, waNumber, status}``.

    :param status: keep only instances with this status (``connected``, ``connecting``,
        ``disconnected``). Templated. ``msgflash_conn_id`` (templated) names the connection.
    """

    template_fields: Sequence[str] = ("status", "msgflash_conn_id")

    def __init__(self, *, status: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = status

    def execute(self, context: Context) -> Any:
        if self.status is not None and self.status not in INSTANCE_STATUSES:
            raise MsgFlashConfigError(
                f"`status` must be one of {', '.join(sorted(INSTANCE_STATUSES))}, got {self.status!r}.",
                code="BAD_ARGUMENT",
            )
        instances = self.hook.list_instances() or []
        out = [
            {k: i.get(k) for k in ("id", "name", "waNumber", "status")}
            for i in instances
            if not i.get("deletedAt") and (self.status is None or i.get("status") == self.status)
        ]
        for i in out:
            self.log.info("Instance %s %r (%s): %s", i["id"], i["name"], i["waNumber"], i["status"])
        return out


class MsgFlashGetInstanceOperator(MsgFlashBaseOperator):
    """Read one instance (by id, name or waNumber) with its live state and health.

    Returns ``{"instance", "state", "health"}``.

    :param instance_id: the instance's id, name or waNumber. Templated. ``msgflash_conn_id``
        (templated) names the connection.
    """

    template_fields: Sequence[str] = ("instance_id", "msgflash_conn_id")

    def __init__(self, *, instance_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if instance_id is None or (isinstance(instance_id, str) and not instance_id.strip()):  # XComArgs pass
            raise MsgFlashConfigError(
                f"`instance_id` must be an instance's id, name or waNumber, got {instance_id!r}.", code="BAD_ARGUMENT"
            )
        self.instance_id = instance_id

    def execute(self, context: Context) -> Any:
        instance = self.hook.resolve_instance(self.instance_id)
        iid = str(instance["id"])
        state, health = self.hook.get_instance_state(iid), self.hook.get_instance_health(iid)
        return {"instance": instance, "state": state, "health": health}

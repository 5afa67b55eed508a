"""What every MsgFlash operator and sensor shares: the connection, its hook, and template fields that
keep their type.

**Plain strings are never rendered.** Airflow renders every string of a template field, and with
``render_template_as_native_obj=True`` a string without any Jinja in it is turned into a Python value:
``'+41795550000'`` becomes the int ``41795550000``. Airflow 2.11's ``dags test`` even renders fields a
second time, so a list of phone numbers rendered once (strings) would turn into ints the second time.
The MsgFlash operators and sensors render only strings that hold Jinja (``{{``, ``{%``); every other
string stays exactly as given, whatever the DAG's template settings.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow_provider_msgflash.arguments import is_template
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashHook
from airflow_provider_msgflash.version_compat import AIRFLOW_HAS_RETRY_POLICIES, BaseOperator


class MsgFlashBaseOperator(BaseOperator):
    """Base of every MsgFlash operator and sensor (not used directly).

    On Airflow 3.3+ every MsgFlash task gets :class:`~airflow_provider_msgflash.retry_policy.MsgFlashRetryPolicy`
    unless given a ``retry_policy`` of its own (``retry_policy=None`` turns it off): final errors fail at once,
    a 429 is retried after the delay MsgFlash asked for, transient errors use the task's ``retries``.

    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated where the subclass
        lists it in ``template_fields``.
    """

    ui_color = "#25D366"
    ui_fgcolor = "#FFFFFF"

    def __init__(self, *, msgflash_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        if AIRFLOW_HAS_RETRY_POLICIES and "retry_policy" not in kwargs:
            from airflow_provider_msgflash.retry_policy import MsgFlashRetryPolicy

            kwargs["retry_policy"] = MsgFlashRetryPolicy()
        super().__init__(**kwargs)
        self.msgflash_conn_id = msgflash_conn_id

    @cached_property
    def hook(self) -> MsgFlashHook:
        """The sync hook for this task's connection."""
        return MsgFlashHook(self.msgflash_conn_id)

    def annotate_outlets(self, context: Any, extra: dict[str, Any]) -> None:
        """Put ``extra`` (small, JSON-able: ids and counts) on the asset event each of this task's
        ``outlets`` emits when it succeeds, so a DAG scheduled on that asset reads what happened from
        ``triggering_asset_events`` (``triggering_dataset_events`` on Airflow 2)."""
        outlets = [o for o in (getattr(self, "outlets", None) or []) if o is not None]
        if not outlets:
            return
        events = context.get("outlet_events") if hasattr(context, "get") else None
        if events is None:
            self.log.warning("No outlet events in this Airflow context: the outlets' events carry no counts.")
            return
        for outlet in outlets:
            events[outlet].extra.update(extra)
        self.log.info("Asset event(s) for %d outlet(s) carry: %s", len(outlets), ", ".join(sorted(extra)))

    def render_template(
        self, content: Any, context: Any, jinja_env: Any = None, seen_oids: set[int] | None = None
    ) -> Any:
        if isinstance(content, str) and not is_template(content):
            return content
        return super().render_template(content, context, jinja_env, seen_oids)

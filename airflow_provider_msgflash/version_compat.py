"""Everything that differs between Airflow 2.11 and Airflow 3.x, in one place.

The rest of the provider imports Airflow's base classes and helpers from here, never from
``airflow.*`` directly, so supporting another Airflow version means editing this file only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as _AIRFLOW_VERSION
from airflow.triggers.base import BaseTrigger, TriggerEvent  # same place on both lines
from packaging.version import Version


def _version_tuple() -> tuple[int, int, int]:
    v = Version(_AIRFLOW_VERSION)
    return v.major, v.minor, v.micro


AIRFLOW_VERSION: tuple[int, int, int] = _version_tuple()
AIRFLOW_V_3_0_PLUS: bool = AIRFLOW_VERSION >= (3, 0, 0)
#: ``BaseTrigger.on_kill()`` (called when a user marks/clears a deferred task) exists from 3.3.
AIRFLOW_V_3_3_PLUS: bool = AIRFLOW_VERSION >= (3, 3, 0)

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import (
        BaseHook,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        Context,
        conf,
    )
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
    )
    from airflow.sdk.log import mask_secret
else:  # Airflow 2.11
    from airflow.configuration import conf  # type: ignore[no-redef]
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
    )
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    from airflow.models import BaseOperator  # type: ignore[no-redef]
    from airflow.models.baseoperatorlink import BaseOperatorLink  # type: ignore[no-redef]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[no-redef]
    from airflow.utils.context import Context  # type: ignore[no-redef]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey


async def aget_connection(conn_id: str) -> Any:
    """Fetch a connection from inside an event loop without blocking it.

    Airflow 3 has an async connection API (``common.compat``'s helper picks the safe variant for the
    running version); Airflow 2 fetches the connection synchronously in a worker thread.
    """
    from asgiref.sync import sync_to_async

    if AIRFLOW_V_3_0_PLUS:
        from airflow.providers.common.compat.connection import get_async_connection

        try:
            return await get_async_connection(conn_id)
        except AirflowNotFoundException:
            # `airflow dags test` / `dag.test()` run triggers through an in-process supervisor whose
            # comms have no async send: the async lookup then finds only environment and secrets-
            # backend connections. The sync lookup, in a worker thread, also finds those stored in
            # the metadata database (the real triggerer's async lookup finds them all).
            pass
    return await sync_to_async(BaseHook.get_connection)(conn_id)


async def aconnection_extras(conn: Any) -> dict[str, Any]:
    """A connection's extras, read without a blocking call to the supervisor (Airflow 3.3.2+ masks
    them asynchronously; a sync call there can deadlock a busy triggerer)."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.providers.common.compat.connection import get_async_extra_dejson

        return dict(await get_async_extra_dejson(conn))
    return dict(conn.extra_dejson)


async def amask_secret(secret: str) -> None:
    """Register a secret with the masker from inside an event loop."""
    if AIRFLOW_V_3_0_PLUS:
        import airflow.sdk.log as sdk_log

        if hasattr(sdk_log, "amask_secret"):
            await sdk_log.amask_secret(secret)
            return
    mask_secret(secret)


def default_deferrable() -> bool:
    """The ``[operators] default_deferrable`` setting (False when unset)."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "TaskInstanceKey",
    "TriggerEvent",
    "aconnection_extras",
    "aget_connection",
    "amask_secret",
    "conf",
    "default_deferrable",
    "mask_secret",
]


# -- object storage, lineage, assets, event triggers
# Where each lives, checked in the released wheels of every line:
# - ObjectStoragePath: ``airflow.io.path`` on 2.10/2.11 (its filesystems in ``airflow.io``); ``airflow.sdk`` from
#   3.0 (``airflow.io.path`` re-exports it on 3.0 and is a deprecated alias from 3.1). 3.0/3.1 build it on
#   universal-pathlib's CloudPath, 3.2+ on ProxyUPath; ``s3://conn_id@bucket/key`` names the connection on all.
# - BaseEventTrigger (``airflow.triggers.base``) and AssetWatcher (``airflow.sdk``) exist from 3.0.0; 2.x has no
#   event-driven scheduling. ``BaseEventTrigger.asset_state_store`` and shared poll streams appear in 3.3.
# - Asset (``airflow.sdk``) from 3.0; 2.x has ``airflow.datasets.Dataset`` in its place.

#: Airflow line from which DAGs can be scheduled on events (AssetWatcher + BaseEventTrigger).
EVENT_DRIVEN_SCHEDULING_MIN_VERSION = "3.0.0"
AIRFLOW_HAS_EVENT_TRIGGERS: bool = AIRFLOW_V_3_0_PLUS

if AIRFLOW_HAS_EVENT_TRIGGERS:
    from airflow.triggers.base import BaseEventTrigger
else:  # Airflow 2.x: event triggers do not exist; triggers/instance_events.py refuses to import.
    BaseEventTrigger = BaseTrigger  # type: ignore[misc,assignment]


def object_storage_path_class() -> Any:
    """Airflow's ``ObjectStoragePath`` class, imported on first use (it pulls fsspec and universal-pathlib in,
    which DAG parsing does not need)."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import ObjectStoragePath
    else:
        from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    return ObjectStoragePath


def asset_class() -> Any:
    """``Asset`` (Airflow 3) or ``Dataset`` (Airflow 2), the class of a task's ``outlets`` and of a DAG's
    data-aware ``schedule``."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Asset
    else:
        from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    return Asset


__all__ += [
    "AIRFLOW_HAS_EVENT_TRIGGERS",
    "EVENT_DRIVEN_SCHEDULING_MIN_VERSION",
    "BaseEventTrigger",
    "asset_class",
    "object_storage_path_class",
]

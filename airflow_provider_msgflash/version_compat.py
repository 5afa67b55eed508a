"""Everything that differs between the Airflow lines we support (2.11, 3.0, 3.1, 3.2, 3.3), in one place.

The rest of the provider imports Airflow's base classes and helpers from here, never from ``airflow.*``
directly. Each name is decided on its own: import it from its newest home, fall back to the older one
where it is missing (never a decision by major version alone). Measured homes:

=========================  =============================  ======================================
name                       newest home (from)             older home (lines before)
=========================  =============================  ======================================
BaseOperator, Context,     ``airflow.sdk`` (3.0)          ``airflow.models``, ``airflow.sensors``,
BaseSensorOperator                                        ``airflow.utils.context`` (2.11)
BaseHook                   ``airflow.sdk`` (3.1)          ``airflow.hooks.base`` (2.11, 3.0)
conf                       ``airflow.sdk`` (3.2)          ``airflow.configuration`` (2.11-3.1)
AirflowException           ``airflow.sdk.exceptions``     ``airflow.exceptions`` (2.11, 3.0)
                           (3.1)
AirflowFailException,      ``airflow.sdk.exceptions``     ``airflow.exceptions`` (2.11-3.1)
AirflowNotFoundException,  (3.2)
AirflowSkipException,
TaskDeferred
mask_secret                ``airflow.sdk.log`` (3.0)      ``airflow.utils.log.secrets_masker``
amask_secret               ``airflow.sdk.log`` (3.3)      ``mask_secret`` (does not block)
BaseTrigger, TriggerEvent, ``airflow.triggers.base``      (same on every line)
StartTriggerArgs,
TaskSuccessEvent
START_FROM_TRIGGER_RENDERS ``BaseTrigger.render_``       none: a sensor with templated arguments
(a templated task starts   ``template_fields`` (3.3):     starts in a worker (3.1, 3.2: the
in the triggerer)          the triggerer renders the      scheduler ignores start_from_trigger;
                           task's templated fields        3.0, 2.11: the trigger would get the
                           into its trigger               raw template strings)
BaseEventTrigger           ``airflow.triggers.base`` (3.0) none: no event-driven scheduling (2.11)
ObjectStoragePath          ``airflow.sdk`` (3.0)          ``airflow.io.path`` (2.11)
Asset                      ``airflow.sdk`` (3.0)          ``airflow.datasets.Dataset`` (2.11)
PokeReturnValue            ``airflow.sdk`` (3.0)          ``airflow.sensors.base`` (2.11)
AirflowSensorTimeout       ``airflow.sdk.exceptions``     ``airflow.exceptions`` (2.11-3.1)
                           (3.2)
RetryPolicy, RetryDecision ``airflow.sdk`` (3.3)          none: ``AirflowFailException`` alone
                                                          decides (2.11-3.2)
task_state_store           ``context`` key (3.3)          none: lookups found again by their
                                                          numbers (2.11-3.2)
=========================  =============================  ======================================
"""

from __future__ import annotations

from typing import Any

# Same home on every line (StartTriggerArgs and TaskSuccessEvent since 2.10).
from airflow.triggers.base import BaseTrigger, StartTriggerArgs, TaskSuccessEvent, TriggerEvent

try:
    from airflow.sdk import BaseOperator, BaseSensorOperator, Context
except ImportError:  # Airflow 2.11
    from airflow.models import BaseOperator  # type: ignore[no-redef]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[no-redef]
    from airflow.utils.context import Context  # type: ignore[no-redef]

try:
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 2.11, 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]

try:
    from airflow.sdk import conf
except ImportError:  # Airflow 2.11 to 3.1
    from airflow.configuration import conf  # type: ignore[no-redef]

try:
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # Airflow 2.11, 3.0
    from airflow.exceptions import AirflowException  # type: ignore[no-redef]

try:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # Airflow 2.11 to 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        TaskDeferred,
    )

try:
    from airflow.sdk import PokeReturnValue
except ImportError:  # Airflow 2.11
    from airflow.sensors.base import PokeReturnValue  # type: ignore[no-redef]

try:
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # Airflow 2.11 to 3.1
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef]

try:  # a task's retry_policy= (Airflow 3.3)
    from airflow.sdk import RetryAction, RetryDecision, RetryPolicy

    AIRFLOW_HAS_RETRY_POLICIES = True
except ImportError:  # before 3.3: final errors are AirflowFailException; the rest use the task's retries
    RetryAction = RetryDecision = None  # type: ignore[assignment,misc]
    RetryPolicy = object  # type: ignore[assignment,misc]
    AIRFLOW_HAS_RETRY_POLICIES = False

try:  # event-driven scheduling (AssetWatcher + event triggers)
    from airflow.triggers.base import BaseEventTrigger

    AIRFLOW_HAS_EVENT_TRIGGERS = True
except ImportError:  # Airflow 2.11: triggers/instance_events.py refuses to import, naming the version
    BaseEventTrigger = BaseTrigger  # type: ignore[misc,assignment]
    AIRFLOW_HAS_EVENT_TRIGGERS = False

#: Whether a task can start in the triggerer with *templated* trigger arguments (``start_from_trigger``):
#: only where the triggerer renders the task's templated fields into the trigger it starts for it
#: (``BaseTrigger.render_template_fields``, Airflow 3.3). Elsewhere the sensors start in a worker, as before:
#: 3.1 and 3.2 leave start_from_trigger out of the scheduler (the task would start in a worker anyway), and
#: 3.0 and 2.11 would hand the trigger the raw ``{{ ... }}`` strings.
START_FROM_TRIGGER_RENDERS = hasattr(BaseTrigger, "render_template_fields")

#: The Airflow version from which DAGs can be scheduled on events (AssetWatcher + BaseEventTrigger).
EVENT_DRIVEN_SCHEDULING_MIN_VERSION = "3.0.0"

try:
    from airflow.sdk.log import mask_secret
except ImportError:  # Airflow 2.11
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

try:
    from airflow.sdk.log import amask_secret as _amask_secret
except ImportError:  # before Airflow 3.3: the sync mask_secret does not wait for the supervisor
    _amask_secret = None


def _compat_helper(name: str) -> Any:
    """A helper of ``airflow.providers.common.compat.connection``, or None where the installed version
    lacks it (``get_async_extra_dejson`` needs 1.21+, which needs Python 3.11+). Imported when first
    needed: the module pulls in the whole compat SDK shim."""
    try:
        from airflow.providers.common.compat import connection
    except ImportError:
        return None
    return getattr(connection, name, None)


def _async_lookup_is_safe() -> bool:
    """Whether Airflow's own async connection lookup can run on an event loop without blocking it.

    Before Airflow 3.3.2, ``BaseHook.aget_connection`` (3.1+) masks the connection's secrets with a
    synchronous call to the supervisor, which raises ``DeadlockImminentError`` in a busy triggerer;
    ``Connection.aextra_dejson`` came with the asynchronous masking. Lines without ``aget_connection``
    (2.11, 3.0) have only the sync lookup, which ``common.compat`` runs in a worker thread.
    """
    if not hasattr(BaseHook, "aget_connection"):
        return True
    try:
        from airflow.sdk import Connection
    except ImportError:
        return False
    return hasattr(Connection, "aextra_dejson")


async def _sync_lookup_in_thread(conn_id: str) -> Any:
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


async def aget_connection(conn_id: str) -> Any:
    """Fetch a connection from inside an event loop without blocking it.

    Uses ``common.compat``'s ``get_async_connection`` where the async path is safe (see
    :func:`_async_lookup_is_safe`); otherwise the sync lookup in a worker thread. When the async lookup
    reports "not found", the sync one gets a second chance in a worker thread: ``airflow dags test``
    (Airflow 3.3) runs triggers through an in-process supervisor that answers the async lookup only
    from environment variables and secrets backends, not from the metadata database.
    """
    helper = _compat_helper("get_async_connection")
    if helper is None or not _async_lookup_is_safe():
        return await _sync_lookup_in_thread(conn_id)
    try:
        return await helper(conn_id)
    except AirflowNotFoundException:
        return await _sync_lookup_in_thread(conn_id)


async def aconnection_extras(conn: Any) -> dict[str, Any]:
    """A connection's extras, read without a blocking call to the supervisor.

    ``common.compat``'s ``get_async_extra_dejson`` where installed; otherwise the same decision made
    here: ``Connection.aextra_dejson()`` (Airflow 3.3.2+, masks asynchronously), else ``extra_dejson``
    in a worker thread (where blocking on the supervisor is safe).
    """
    helper = _compat_helper("get_async_extra_dejson")
    if helper is not None:
        return dict(await helper(conn))
    if hasattr(conn, "aextra_dejson"):
        return dict(await conn.aextra_dejson())
    from asgiref.sync import sync_to_async

    return dict(await sync_to_async(lambda: conn.extra_dejson)())


async def amask_secret(secret: str) -> None:
    """Register a secret with the masker from inside an event loop."""
    if _amask_secret is not None:
        await _amask_secret(secret)
    else:
        mask_secret(secret)


def object_storage_path_class() -> Any:
    """Airflow's ``ObjectStoragePath`` class, imported on first use (it pulls fsspec and universal-pathlib
    in, which DAG parsing does not need). ``s3://conn_id@bucket/key`` names the connection on every line."""
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # Airflow 2.11
        from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    return ObjectStoragePath


def asset_class() -> Any:
    """``Asset`` (Airflow 3) or ``Dataset`` (Airflow 2.11): the class of a task's ``outlets`` and of a
    DAG's data-aware ``schedule``."""
    try:
        from airflow.sdk import Asset
    except ImportError:  # Airflow 2.11
        from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    return Asset


def task_state_store(context: Any) -> Any:
    """The task instance's state store (Airflow 3.3: ``get``/``set``/``delete``, kept across tries, cleared
    and retried tasks alike), or None where the line has none."""
    getter = getattr(context, "get", None)
    return getter("task_state_store") if getter is not None else None


def will_retry(context: Any) -> bool:
    """Whether a failure of this try would be retried by Airflow (a try left: ``try_number <= max_tries``).
    False when the task instance does not say (then nothing is left running for a retry)."""
    ti = context.get("ti") if hasattr(context, "get") else None
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    return isinstance(try_number, int) and isinstance(max_tries, int) and try_number <= max_tries


def default_deferrable() -> bool:
    """The ``[operators] default_deferrable`` setting (False when unset)."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


__all__ = [
    "AIRFLOW_HAS_EVENT_TRIGGERS",
    "AIRFLOW_HAS_RETRY_POLICIES",
    "EVENT_DRIVEN_SCHEDULING_MIN_VERSION",
    "START_FROM_TRIGGER_RENDERS",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseEventTrigger",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "PokeReturnValue",
    "RetryAction",
    "RetryDecision",
    "RetryPolicy",
    "StartTriggerArgs",
    "TaskDeferred",
    "TaskSuccessEvent",
    "TriggerEvent",
    "aconnection_extras",
    "aget_connection",
    "amask_secret",
    "asset_class",
    "default_deferrable",
    "mask_secret",
    "object_storage_path_class",
    "task_state_store",
    "will_retry",
]

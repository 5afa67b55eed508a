"""Test-only DAGs for the e2e suite's data-platform scenarios (tests/e2e/test_07_data_platform.py).

- ``e2e_rest_connection``: a deferred lookup whose connection (``msgflash_rest``) exists only in the
  metadata database, created through the REST API the way the UI creates it.
- ``e2e_assets_producer`` → ``e2e_assets_consumer``: the import task's outlet event (counts as extra)
  starts the consumer DAG, scheduled on that asset, which returns what it read.
- ``e2e_instance_events``: an ``AssetWatcher`` with ``MsgFlashInstanceEventTrigger`` polling the
  ``events`` sandbox every 2 s; each change of the instance starts a run that returns the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task
from e2e_common import NUMBERS_250

from airflow_provider_msgflash.operators.msgflash import MsgFlashImportContactsOperator, MsgFlashNumberLookupOperator
from airflow_provider_msgflash.triggers.instance_events import MsgFlashInstanceEventTrigger

COMMON: dict[str, Any] = {"start_date": datetime(2026, 1, 1), "catchup": False, "tags": ["msgflash", "e2e"]}
FOREGROUND = {"priority_weight": 100, "weight_rule": "absolute"}

with DAG(dag_id="e2e_rest_connection", schedule=None, default_args={"retries": 0, **FOREGROUND}, **COMMON):
    MsgFlashNumberLookupOperator(
        task_id="lookup",
        msgflash_conn_id="msgflash_rest",
        instance_id="sandbox-connected",
        numbers=NUMBERS_250,
        deferrable=True,
        timeout=300,
    )

CONTACTS = Asset(name="e2e_whatsapp_contacts", uri="msgflash://e2e/contacts/verified")

with DAG(dag_id="e2e_assets_producer", schedule=None, default_args={"retries": 0, **FOREGROUND}, **COMMON):
    lookup = MsgFlashNumberLookupOperator(
        task_id="lookup", msgflash_conn_id="msgflash_assets", instance_id="sandbox-connected", numbers=NUMBERS_250[:60]
    )
    MsgFlashImportContactsOperator(
        task_id="import", msgflash_conn_id="msgflash_assets", lookup_id=lookup.output, tag="e2e", outlets=[CONTACTS]
    )

with DAG(dag_id="e2e_assets_consumer", schedule=[CONTACTS], default_args=FOREGROUND, **COMMON):

    @task
    def read_counts(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return [dict(e.extra) for events in (triggering_asset_events or {}).values() for e in events]

    read_counts()

INSTANCE_CHANGES = Asset(
    name="e2e_instance_changes",
    uri="msgflash://e2e/instances/sandbox-connected",
    watchers=[
        AssetWatcher(
            name="e2e_instance_watcher",
            trigger=MsgFlashInstanceEventTrigger(
                instance_id="sandbox-connected",
                msgflash_conn_id="msgflash_events",
                poll_interval=2,
                min_safety_score=50,
            ),
        )
    ],
)

# Airflow registers an asset's watchers when it parses the DAG file, and only for unpaused DAGs: this one
# must be created unpaused (unpausing it later starts the watcher at the file's next parse).
with DAG(
    dag_id="e2e_instance_events",
    schedule=[INSTANCE_CHANGES],
    default_args=FOREGROUND,
    is_paused_upon_creation=False,
    **COMMON,
):

    @task
    def react(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return [dict(e.extra.get("payload", {})) for events in (triggering_asset_events or {}).values() for e in events]

    react()

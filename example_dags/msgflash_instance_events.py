"""Event-driven readiness: run a DAG when a WhatsApp instance disconnects or reconnects, or when its
``safetyScore`` crosses 50, instead of polling on a schedule (Airflow 3 event-driven scheduling).

An ``AssetWatcher`` runs ``MsgFlashInstanceEventTrigger`` in the triggerer: one state request a minute (and
one health request while the instance is connected, as a threshold is set), through the key's shared rate
limiter. Each change becomes an asset event; this DAG is scheduled on the asset and reads what changed from
``triggering_asset_events``: alert on a disconnection, or start a catch-up when the instance is back.

The watcher runs only while this DAG is unpaused: Airflow registers it when it parses this file, so after
unpausing, it starts at the file's next parse. Needs Airflow 3.0+.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_msgflash.triggers.instance_events import MsgFlashInstanceEventTrigger

INSTANCE = "sandbox-connected"  # an instance id, name or waNumber

instance_changes = Asset(
    name="msgflash_instance_sandbox_connected",
    uri="msgflash://instances/sandbox-connected",
    watchers=[
        AssetWatcher(
            name="msgflash_instance_sandbox_connected_watcher",
            trigger=MsgFlashInstanceEventTrigger(
                instance_id=INSTANCE,
                msgflash_conn_id="msgflash_default",
                poll_interval=60,
                min_safety_score=50,
            ),
        )
    ],
)

with DAG(
    dag_id="msgflash_instance_events",
    description="React to a MsgFlash instance's state or safety changes, as they happen.",
    start_date=datetime(2026, 1, 1),
    schedule=[instance_changes],
    catchup=False,
    tags=["msgflash", "example", "event-driven"],
) as dag:

    @task
    def react(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Log each change and say what a team would do about it (alert, or resume the day's lookups)."""
        seen = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                change = dict(event.extra.get("payload", event.extra))
                current = change.get("current", {})
                if current.get("status") in ("disconnected", "unreachable") or current.get("healthy") is False:
                    print(f"ALERT: {change.get('message')} - reconnect it in the MsgFlash dashboard.")
                else:
                    print(f"OK again: {change.get('message')} - a catch-up run can go ahead.")
                seen.append(change)
        return seen

    react()

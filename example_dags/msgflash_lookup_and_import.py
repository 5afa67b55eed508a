"""Check 250 numbers on WhatsApp and import the ones found as contacts.

readiness sensor → number lookup (250 numbers: asynchronous, deferred to the triggerer) → import.

Runs against the embedded sandbox as is (``make demo``); for the real service, point the
``msgflash_default`` connection at MsgFlash and trigger with your instance and numbers:
``airflow dags trigger msgflash_lookup_and_import --conf '{"instance": "my-shop", "numbers": [...]}'``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2.11
    from airflow.models import DAG, Param

from airflow_provider_msgflash.operators.msgflash import (
    MsgFlashImportContactsOperator,
    MsgFlashNumberLookupOperator,
)
from airflow_provider_msgflash.sensors.msgflash import MsgFlashInstanceReadySensor

# 250 demo numbers (Swiss mobile range); in the sandbox, a number is on WhatsApp when its last digit is even.
DEMO_NUMBERS = [f"+4179555{i:04d}" for i in range(250)]

with DAG(
    dag_id="msgflash_lookup_and_import",
    description="Look 250 numbers up on WhatsApp with MsgFlash and import the ones found as contacts.",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["msgflash", "example"],
    params={
        "instance": Param("sandbox-connected", type="string", description="Instance id, name or waNumber."),
        "numbers": Param(DEMO_NUMBERS, type="array", description="Numbers in international format."),
        "tag": Param("verified-whatsapp", type="string", description="Tag for the imported contacts."),
    },
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
) as dag:
    instance_ready = MsgFlashInstanceReadySensor(
        task_id="instance_ready",
        instance_id="{{ params.instance }}",
        poke_interval=5,
        timeout=300,
        deferrable=True,
    )

    lookup = MsgFlashNumberLookupOperator(
        task_id="lookup_numbers",
        instance_id="{{ params.instance }}",
        numbers="{{ params.numbers }}",
        deferrable=True,
        timeout=1800,
        health_policy="warn",
    )

    import_contacts = MsgFlashImportContactsOperator(
        task_id="import_contacts",
        lookup_id=lookup.output,  # the lookup's summary: its ids, and that it is done (no extra check)
        tag="{{ params.tag }}",
    )

    instance_ready >> lookup >> import_contacts

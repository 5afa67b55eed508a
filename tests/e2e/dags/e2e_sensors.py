"""Test-only DAGs for the sensors started in the triggerer (tests/e2e/test_09_sensors_in_triggerer.py), on
their own sandbox connection (``msgflash_sensors``).

- ``e2e_lookup_sensor``: the lookup sensor, deferrable, its ``lookup_id`` a template of the run's params: it
  starts in the triggerer (the triggerer renders the id) and ends there.
- ``e2e_sensor_timeout``: the readiness sensor on an instance that never connects, ``timeout=6``, one retry:
  Airflow's deferral timeout ends the wait, and the sensor fails at once, without using its retry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_msgflash.sensors.msgflash import MsgFlashInstanceReadySensor, MsgFlashLookupSensor

COMMON = {"start_date": datetime(2026, 1, 1), "schedule": None, "catchup": False, "tags": ["msgflash", "e2e"]}
FOREGROUND = {"priority_weight": 100, "weight_rule": "absolute"}

with DAG(
    dag_id="e2e_lookup_sensor",
    params={"lookup_id": Param("", type="string")},
    default_args={"retries": 0, **FOREGROUND},
    **COMMON,
):
    MsgFlashLookupSensor(
        task_id="wait_lookup",
        lookup_id="{{ params.lookup_id }}",
        msgflash_conn_id="msgflash_sensors",
        deferrable=True,
        timeout=300,
    )

with DAG(
    dag_id="e2e_sensor_timeout",
    params={"instance": Param("sandbox-disconnected", type="string")},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1), **FOREGROUND},
    **COMMON,
):
    MsgFlashInstanceReadySensor(
        task_id="instance_ready",
        instance_id="{{ params.instance }}",
        msgflash_conn_id="msgflash_sensors",
        poke_interval=2,
        timeout=6,
        deferrable=True,
    )

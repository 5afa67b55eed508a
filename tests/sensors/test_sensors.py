"""Sensors against the sandbox: poke and deferrable modes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashError, MsgFlashLookupError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.sensors.msgflash import MsgFlashInstanceReadySensor, MsgFlashLookupSensor
from airflow_provider_msgflash.triggers.msgflash import MsgFlashInstanceReadyTrigger, MsgFlashLookupTrigger
from airflow_provider_msgflash.version_compat import AirflowSensorTimeout, TaskDeferred
from tests.helpers import make_context, numbers, run_trigger


def _state_reads(sb: Any) -> int:
    return sum(1 for r in sb.requests() if r["route"].endswith("/state"))


def test_ready_sensor_pokes_true_for_connected_reading_the_state_once_per_poke(msgflash_conn: Any) -> None:
    s = MsgFlashInstanceReadySensor(task_id="s", instance_id=msgflash_conn.instance_id("sandbox-connected"))
    first = s.poke(make_context())
    assert first.is_done is True and first.xcom_value["state"]["status"] == "connected"
    assert _state_reads(msgflash_conn) == 1
    assert s.poke(make_context()).is_done is True
    assert _state_reads(msgflash_conn) == 2  # one read per poke; its answer is the XCom, not read again


def test_ready_sensor_in_poke_mode_returns_what_its_last_poke_read(msgflash_conn: Any) -> None:
    s = MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-connected", poke_interval=2, timeout=30)
    out = s.execute(make_context())
    assert out["state"]["status"] == "connected" and out["instance_id"] == msgflash_conn.instance_id(
        "sandbox-connected"
    )
    assert _state_reads(msgflash_conn) == 1


def test_ready_sensor_pokes_false_for_disconnected_and_unhealthy(msgflash_conn: Any) -> None:
    poke = MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-disconnected").poke(make_context())
    assert poke.is_done is False and poke.xcom_value is None
    strict = MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-unhealthy", min_safety_score=60)
    assert strict.poke(make_context()).is_done is False


def test_ready_sensor_deferrable_returns_at_once_when_ready(msgflash_conn: Any) -> None:
    s = MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-connected", deferrable=True)
    out = s.execute(make_context())
    assert out["state"]["status"] == "connected"


def test_ready_sensor_deferrable_defers_then_completes(msgflash_conn: Any) -> None:
    s = MsgFlashInstanceReadySensor(
        task_id="s", instance_id="sandbox-warming", deferrable=True, poke_interval=1, timeout=30
    )
    with pytest.raises(TaskDeferred) as d:
        s.execute(make_context())
    assert isinstance(d.value.trigger, MsgFlashInstanceReadyTrigger)
    event = run_trigger(d.value.trigger)
    assert s.execute_complete(make_context(), event)["state"]["status"] == "connected"
    # As in poke mode, a deferred sensor's timeout is final (AirflowSensorTimeout): it never uses the retries.
    with pytest.raises(AirflowSensorTimeout, match="SENSOR_TIMEOUT: instance not ready before the sensor's timeout"):
        s.execute_complete(make_context(), {"status": "timeout", "message": "still connecting"})
    with pytest.raises(MsgFlashError, match="SENSOR_ERROR"):
        s.execute_complete(make_context(), {"status": "error", "message": "refused"})


def test_lookup_sensor_poke_and_failure(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.3)
    hook = MsgFlashHook()
    lid = hook.create_number_lookup(msgflash_conn.instance_id("sandbox-connected"), numbers(150))["lookupId"]
    sensor = MsgFlashLookupSensor(task_id="s", lookup_id=lid, deferrable=True)
    with pytest.raises(TaskDeferred) as d:
        sensor.execute(make_context())
    assert isinstance(d.value.trigger, MsgFlashLookupTrigger)
    assert d.value.trigger.cancel_on_kill is False  # the sensor does not own the lookup
    event = run_trigger(d.value.trigger)
    assert sensor.execute_complete(make_context(), event)["checkedCount"] == 150
    poke = sensor.poke(make_context())
    assert poke.is_done is True and poke.xcom_value["checkedCount"] == 150
    with pytest.raises(AirflowSensorTimeout, match="SENSOR_TIMEOUT"):
        sensor.execute_complete(make_context(), {"status": "timeout", "message": "late"})

    lid2 = hook.create_number_lookup(msgflash_conn.instance_id("sandbox-connected"), numbers(150))["lookupId"]
    hook.cancel_number_lookup(lid2)
    with pytest.raises(MsgFlashLookupError, match="cancelled"):
        MsgFlashLookupSensor(task_id="s2", lookup_id=lid2).poke(make_context())

"""Sensors against the sandbox: poke and deferrable modes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashError, MsgFlashLookupError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.sensors.msgflash import MsgFlashInstanceReadySensor, MsgFlashLookupSensor
from airflow_provider_msgflash.triggers.msgflash import MsgFlashInstanceReadyTrigger, MsgFlashLookupTrigger
from airflow_provider_msgflash.version_compat import TaskDeferred
from tests.helpers import make_context, numbers, run_trigger


def test_ready_sensor_pokes_true_for_connected(msgflash_conn: Any) -> None:
    s = MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-connected")
    assert s.poke(make_context()) is True


def test_ready_sensor_pokes_false_for_disconnected_and_unhealthy(msgflash_conn: Any) -> None:
    assert MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-disconnected").poke(make_context()) is False
    strict = MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-unhealthy", min_safety_score=60)
    assert strict.poke(make_context()) is False


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
    with pytest.raises(MsgFlashError, match="not ready before the sensor's timeout"):
        s.execute_complete(make_context(), {"status": "timeout", "message": "still connecting"})


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
    assert sensor.poke(make_context()) is True

    lid2 = hook.create_number_lookup(msgflash_conn.instance_id("sandbox-connected"), numbers(150))["lookupId"]
    hook.cancel_number_lookup(lid2)
    with pytest.raises(MsgFlashLookupError, match="cancelled"):
        MsgFlashLookupSensor(task_id="s2", lookup_id=lid2).poke(make_context())

"""The sensors started in the triggerer (``start_from_trigger``, Airflow 3.3): what the scheduler reads from a
sensor (``start_trigger_args``), the trigger it builds from it, and that trigger ending the task with what
``execute_complete`` would have returned. Both sides of the line's decision are checked on every line (the
flag is set here); the real scheduler and triggerer are in tests/e2e (scenarios 1 and 8)."""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook, close_shared_session
from airflow_provider_msgflash.sensors import base as sensors_base
from airflow_provider_msgflash.sensors.msgflash import MsgFlashInstanceReadySensor, MsgFlashLookupSensor
from airflow_provider_msgflash.triggers.msgflash import MsgFlashInstanceReadyTrigger, MsgFlashLookupTrigger
from airflow_provider_msgflash.version_compat import START_FROM_TRIGGER_RENDERS, BaseTrigger, TaskSuccessEvent
from tests.helpers import make_context, numbers

TRIGGERS = "airflow_provider_msgflash.triggers.msgflash"


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a line whose triggerer renders a task's templated fields (3.3)."""
    monkeypatch.setattr(sensors_base, "START_FROM_TRIGGER_RENDERS", True)


def build_trigger(sensor: Any) -> Any:
    """The trigger the scheduler has the triggerer start for ``sensor`` (class path and kwargs, as stored)."""
    args = sensor.start_trigger_args
    module, name = args.trigger_cls.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**args.trigger_kwargs)


def first_event(trigger: Any, timeout: float = 60) -> Any:
    async def first() -> Any:
        try:
            async for event in trigger.run():
                return event
            raise AssertionError("trigger ended without an event")
        finally:
            await close_shared_session()

    return asyncio.run(asyncio.wait_for(first(), timeout))


def test_deferrable_readiness_sensor_hands_the_scheduler_its_trigger(renders: None) -> None:
    s = MsgFlashInstanceReadySensor(
        task_id="s", instance_id="{{ params.instance }}", deferrable=True, poke_interval=3, timeout=60
    )
    assert s.start_from_trigger is True
    args = s.start_trigger_args
    assert args.trigger_cls == f"{TRIGGERS}.MsgFlashInstanceReadyTrigger"
    assert args.trigger_kwargs == {
        "instance_id": "{{ params.instance }}",  # rendered by the triggerer: the sensor's template field
        "msgflash_conn_id": "msgflash_default",
        "min_safety_score": None,
        "poll_interval": 3.0,
        "deadline": None,  # Airflow's deferral timeout ends the wait: no clock known at parse time
        "end_task": True,
    }
    assert (args.next_method, args.timeout) == ("execute_complete", timedelta(seconds=60))
    assert set(args.trigger_kwargs) & set(s.template_fields) == {"instance_id", "msgflash_conn_id"}
    t = build_trigger(s)
    assert isinstance(t, MsgFlashInstanceReadyTrigger) and t.end_task and t.deadline is None


def test_deferrable_lookup_sensor_hands_the_scheduler_its_trigger(renders: None) -> None:
    s = MsgFlashLookupSensor(task_id="s", lookup_id="{{ params.lookup_id }}", deferrable=True, timeout=90)
    args = s.start_trigger_args
    assert s.start_from_trigger is True
    assert args.trigger_cls == f"{TRIGGERS}.MsgFlashLookupTrigger"
    assert args.trigger_kwargs["lookup_id"] == "{{ params.lookup_id }}"
    assert args.trigger_kwargs["cancel_on_kill"] is False  # the sensor does not own the lookup
    assert args.timeout == timedelta(seconds=90)
    t = build_trigger(s)
    assert t.lookup_ids == [] and t.lookup_id == "{{ params.lookup_id }}" and t.end_task


def test_sensors_start_in_a_worker_when_not_deferrable_or_told_so(renders: None) -> None:
    for s in (
        MsgFlashInstanceReadySensor(task_id="a", instance_id="x", deferrable=False),
        MsgFlashInstanceReadySensor(task_id="b", instance_id="x", deferrable=True, start_from_trigger=False),
        MsgFlashLookupSensor(task_id="c", lookup_id="l", deferrable=False),
    ):
        assert s.start_from_trigger is False and s.start_trigger_args is None, s.task_id


def test_sensors_start_in_a_worker_where_the_triggerer_cannot_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sensors_base, "START_FROM_TRIGGER_RENDERS", False)
    s = MsgFlashInstanceReadySensor(task_id="s", instance_id="{{ params.instance }}", deferrable=True)
    assert s.start_from_trigger is False and s.start_trigger_args is None


def test_the_line_decides_by_what_its_triggerer_can_do() -> None:
    assert START_FROM_TRIGGER_RENDERS is hasattr(BaseTrigger, "render_template_fields")


def test_a_lookup_id_pulled_from_xcom_starts_in_a_worker(renders: None) -> None:
    # Measured on 3.3.2: the triggerer cannot pull an XCom while rendering (an XComArg arrives unresolved,
    # ti.xcom_pull waits forever), so these keep the worker start, where they work.
    from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.11
        from airflow.models import DAG  # type: ignore[no-redef]

    with DAG(dag_id="xcom_ids", schedule=None):
        lookup = MsgFlashNumberLookupOperator(task_id="lookup", instance_id="i", numbers=["+41795550000"])
        by_arg = MsgFlashLookupSensor(task_id="a", lookup_id=lookup.output["lookup_id"], deferrable=True)
        by_pull = MsgFlashLookupSensor(
            task_id="b", lookup_id="{{ ti.xcom_pull(task_ids='lookup', key='lookup_id') }}", deferrable=True
        )
    for s in (by_arg, by_pull):
        assert s.start_from_trigger is False and s.start_trigger_args is None, s.task_id


def test_a_sensor_with_outlets_ends_in_a_worker(renders: None) -> None:
    from airflow_provider_msgflash.version_compat import asset_class

    s = MsgFlashInstanceReadySensor(
        task_id="s", instance_id="x", deferrable=True, outlets=[asset_class()("msgflash://ready")]
    )
    assert s.start_from_trigger is True and s.start_trigger_args.trigger_kwargs["end_task"] is False


def test_ready_trigger_ends_the_task_with_what_execute_complete_returns(msgflash_conn: Any, renders: None) -> None:
    sensor = MsgFlashInstanceReadySensor(task_id="s", instance_id="sandbox-connected", deferrable=True)
    resumed = first_event(MsgFlashInstanceReadyTrigger(instance_id="sandbox-connected"))
    expected = sensor.execute_complete(make_context(), resumed.payload)
    assert expected["instance_id"] == msgflash_conn.instance_id("sandbox-connected")

    event = first_event(build_trigger(sensor))
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms == {"return_value": expected}


def test_lookup_trigger_follows_its_lookup_id_and_ends_the_task(msgflash_conn: Any, renders: None) -> None:
    msgflash_conn.set_faults(pace=0.02)
    lid = MsgFlashHook().create_number_lookup(msgflash_conn.instance_id("sandbox-connected"), numbers(120))["lookupId"]
    sensor = MsgFlashLookupSensor(task_id="s", lookup_id=lid, deferrable=True, poke_interval=2)
    resumed = first_event(MsgFlashLookupTrigger(lookup_id=lid))  # the id alone: read when the trigger runs
    assert resumed.payload["lookup_ids"] == [lid] and resumed.payload["status"] == "success"
    expected = sensor.execute_complete(make_context(), resumed.payload)
    assert expected["checkedCount"] == 120

    event = first_event(build_trigger(sensor))
    assert isinstance(event, TaskSuccessEvent) and event.xcoms == {"return_value": expected}


def test_only_a_success_ends_the_task_in_the_triggerer(msgflash_conn: Any) -> None:
    t = MsgFlashInstanceReadyTrigger(instance_id="sandbox-disconnected", deadline=0.0, end_task=True)
    event = first_event(t)  # past its deadline at once: one check, then timeout
    assert not isinstance(event, TaskSuccessEvent)
    assert event.payload["status"] == "timeout"  # resumed in a worker: AirflowSensorTimeout there


def test_triggerer_renders_a_wanumber_as_text() -> None:
    t = MsgFlashInstanceReadyTrigger(instance_id="{{ params.instance }}")
    if not START_FROM_TRIGGER_RENDERS:  # this line's triggerer renders nothing into a trigger
        assert not hasattr(BaseTrigger, "render_template_fields")
        return
    from jinja2.nativetypes import NativeEnvironment

    # A trigger renders to text even in a DAG with render_template_as_native_obj (it has no DAG): a waNumber
    # stays "+41...", as resolving the instance needs (a native render would give the int 41795550000).
    context = {"params": {"instance": "+41795550000"}}
    assert t.render_template("{{ params.instance }}", context, NativeEnvironment()) == "+41795550000"
    assert t.render_template("+41795550000", {}, NativeEnvironment()) == "+41795550000"

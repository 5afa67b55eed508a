"""MsgFlashInstanceEventTrigger against the sandbox: an instance flipped to disconnected and back fires one
event each way; polls stay frugal; serialization holds no secret; AssetWatcher accepts it."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.hooks.msgflash import close_shared_session
from airflow_provider_msgflash.sandbox import SEEDED_INSTANCES
from airflow_provider_msgflash.triggers.instance_events import (
    UNREACHABLE,
    MsgFlashInstanceEventTrigger,
    carry_forward,
    changes,
)
from tests.helpers import dag_bag

CONNECTED = SEEDED_INSTANCES["sandbox-connected"].id
UNHEALTHY = SEEDED_INSTANCES["sandbox-unhealthy"].id


def _calls(sb: Any, instance_id: str, what: str) -> int:
    return sum(
        1 for r in sb.requests() if r["method"] == "GET" and r["path"].endswith(f"/instances/{instance_id}/{what}")
    )


async def _until(condition: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(condition):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


class Watch:
    """Drive a trigger's endless ``run()`` as the triggerer does, one event at a time."""

    def __init__(self, trigger: MsgFlashInstanceEventTrigger) -> None:
        self.trigger = trigger
        self.gen: AsyncIterator[Any] = trigger.run()
        self.pending: asyncio.Future[Any] = asyncio.ensure_future(self.gen.__anext__())

    async def next(self, timeout: float = 20) -> dict[str, Any]:
        event = await asyncio.wait_for(asyncio.shield(self.pending), timeout)
        self.pending = asyncio.ensure_future(self.gen.__anext__())
        return dict(event.payload)

    async def close(self) -> None:
        self.pending.cancel()
        await asyncio.gather(self.pending, return_exceptions=True)
        await self.gen.aclose()
        await close_shared_session()


async def test_flip_to_disconnected_and_back_fires_one_event_each(msgflash_conn: Any) -> None:
    sb = msgflash_conn
    watch = Watch(MsgFlashInstanceEventTrigger("sandbox-connected", poll_interval=1))  # a name: resolved once
    try:
        await _until(lambda: _calls(sb, CONNECTED, "state") >= 2)  # baseline taken, nothing fired
        assert not watch.pending.done()
        await asyncio.to_thread(sb.set_instance_status, CONNECTED, "disconnected")
        down = await watch.next()
        assert down["change"] == "state" and down["instance_id"] == "sandbox-connected"
        assert down["previous"]["status"] == "connected" and down["current"]["status"] == "disconnected"
        assert down["current"]["providerState"] == "close"
        assert "is disconnected (was connected)" in down["message"]
        await asyncio.to_thread(sb.set_instance_status, CONNECTED, "connected")
        up = await watch.next()
        assert (up["previous"]["status"], up["current"]["status"]) == ("disconnected", "connected")
        await asyncio.sleep(2.5)  # more polls without a change fire nothing
        assert not watch.pending.done()
    finally:
        await watch.close()
    polls = watch.trigger.polls
    assert _calls(sb, CONNECTED, "state") == polls  # one state request per poll
    assert _calls(sb, CONNECTED, "health") == 0  # no threshold: health never read
    lists = sum(1 for r in sb.requests() if r["path"].endswith("/api/v1/instances"))
    assert lists == 1  # the name was resolved once


async def test_threshold_reads_health_only_while_connected(msgflash_conn: Any) -> None:
    sb = msgflash_conn
    watch = Watch(MsgFlashInstanceEventTrigger(UNHEALTHY, poll_interval=1, min_safety_score=50, watch=["state"]))
    try:
        await _until(lambda: _calls(sb, UNHEALTHY, "state") >= 2)
        assert _calls(sb, UNHEALTHY, "health") >= 2
        await asyncio.to_thread(sb.set_instance_status, UNHEALTHY, "disconnected")
        down = await watch.next()
        assert down["previous"]["safetyScore"] == 35 and down["previous"]["healthy"] is False
        assert down["current"]["healthy"] is None  # not connected: health not read
        health_then = _calls(sb, UNHEALTHY, "health")
        state_then = _calls(sb, UNHEALTHY, "state")
        await _until(lambda: _calls(sb, UNHEALTHY, "state") >= state_then + 2)
        assert _calls(sb, UNHEALTHY, "health") == health_then
    finally:
        await watch.close()


async def test_unreachable_when_the_key_is_refused_and_back(msgflash_conn: Any) -> None:
    sb = msgflash_conn
    watch = Watch(MsgFlashInstanceEventTrigger(CONNECTED, poll_interval=1))
    try:
        await _until(lambda: _calls(sb, CONNECTED, "state") >= 1)
        await asyncio.to_thread(sb.revoke_key, sb.api_key)
        gone = await watch.next()
        assert gone["current"]["status"] == UNREACHABLE
        assert "401" in gone["current"]["error"]
        assert sb.api_key not in str(gone)
        await asyncio.to_thread(sb.add_key, sb.api_key)
        back = await watch.next()
        assert (back["previous"]["status"], back["current"]["status"]) == (UNREACHABLE, "connected")
    finally:
        await watch.close()


class _Store:
    """The triggerer's per-asset state store accessor (``aget``/``aset``), kept in a dict here."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.data[key] = value


async def test_a_change_while_the_triggerer_was_down_still_fires(msgflash_conn: Any) -> None:
    sb = msgflash_conn
    store = _Store()
    first = MsgFlashInstanceEventTrigger(CONNECTED, poll_interval=1)
    first.asset_state_store = store  # type: ignore[assignment]
    watch = Watch(first)
    await _until(lambda: _calls(sb, CONNECTED, "state") >= 1)
    await _until(lambda: bool(store.data))
    await watch.close()  # the triggerer stops
    assert store.data == {f"msgflash_instance_{CONNECTED}": {"status": "connected", "providerState": "open"}}
    await asyncio.to_thread(sb.set_instance_status, CONNECTED, "disconnected")
    second = MsgFlashInstanceEventTrigger(**first.serialize()[1])  # rebuilt from the database row
    second.asset_state_store = store  # type: ignore[assignment]
    watch = Watch(second)
    try:
        event = await watch.next()
        assert (event["previous"]["status"], event["current"]["status"]) == ("connected", "disconnected")
    finally:
        await watch.close()


def test_safety_crossings_and_state_changes() -> None:
    # The sandbox cannot change a safetyScore yet (an admin route is coming): the comparison is checked here.
    ok = {"status": "connected", "safetyScore": 72.0, "healthy": True}
    low = {"status": "connected", "safetyScore": 41.0, "healthy": False}
    off = {"status": "disconnected", "safetyScore": None, "healthy": None}
    both = ("state", "safety")
    assert changes(None, low, both) == []  # the first observation is a baseline
    assert changes(ok, low, both) == ["safety"]
    assert changes(low, ok, both) == ["safety"]
    assert changes(ok, {**ok, "safetyScore": 90.0}, both) == []  # same side of the threshold
    assert changes(ok, off, both) == ["state"]
    assert changes(ok, low, ("state",)) == []
    assert changes(ok, off, ("safety",)) == []
    kept = carry_forward(low, off)
    assert kept["healthy"] is False and kept["safetyScore"] == 41.0 and kept["status"] == "disconnected"
    assert changes(kept, {"status": "connected", "safetyScore": 70.0, "healthy": True}, both) == ["state", "safety"]


def test_serialization_and_asset_watcher() -> None:
    from airflow.sdk import Asset, AssetWatcher

    trigger = MsgFlashInstanceEventTrigger(CONNECTED, msgflash_conn_id="msgflash_ops", min_safety_score=50)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_msgflash.triggers.instance_events.MsgFlashInstanceEventTrigger"
    assert kwargs == {
        "instance_id": CONNECTED,
        "msgflash_conn_id": "msgflash_ops",
        "poll_interval": 60.0,
        "min_safety_score": 50,
        "watch": ["state", "safety"],
    }
    assert MsgFlashInstanceEventTrigger(**kwargs).serialize() == (path, kwargs)
    asset = Asset("msgflash_instance", watchers=[AssetWatcher(name="w", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger
    assert isinstance(trigger.hash(path, kwargs), int)


def test_bad_arguments() -> None:
    for kwargs in ({"instance_id": ""}, {"instance_id": "x", "watch": ["weather"]}, {"instance_id": "x", "watch": []}):
        with pytest.raises(MsgFlashConfigError):
            MsgFlashInstanceEventTrigger(**kwargs)
    with pytest.raises(MsgFlashConfigError, match="min_safety_score"):
        MsgFlashInstanceEventTrigger("x", min_safety_score=150)
    assert MsgFlashInstanceEventTrigger("x", poll_interval=0.01).poll_interval == 2.0  # polling's one minimum


def test_import_on_an_airflow_without_event_triggers_names_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_provider_msgflash.version_compat as vc

    name = "airflow_provider_msgflash.triggers.instance_events"
    monkeypatch.setattr(vc, "AIRFLOW_HAS_EVENT_TRIGGERS", False)
    monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"needs Apache Airflow 3\.0\.0 or later .*this is Airflow 3\."):
        importlib.import_module(name)


def test_example_dag_parses_with_its_watcher(airflow_db: str) -> None:
    from tests.conftest import REPO

    bag = dag_bag(str(REPO / "example_dags" / "msgflash_instance_events.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("msgflash_instance_events")
    [asset] = dag.timetable.asset_condition.objects
    [watcher] = asset.watchers
    assert type(watcher.trigger).__name__ == "MsgFlashInstanceEventTrigger"
    assert watcher.trigger.serialize()[1]["poll_interval"] == 60.0

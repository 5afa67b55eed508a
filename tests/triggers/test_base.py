"""What every MsgFlash trigger guarantees (``triggers/base.py``): one event per run whatever is raised
inside it, and no HTTP session left open when the loop's last trigger ends."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_msgflash.hooks import msgflash as async_hook
from airflow_provider_msgflash.triggers.msgflash import MsgFlashInstanceReadyTrigger, MsgFlashLookupTrigger


def _events(trigger: Any) -> tuple[list[dict[str, Any]], bool]:
    """Every event the trigger's run() yields, and whether the loop still held a shared session after."""

    async def main() -> tuple[list[dict[str, Any]], bool]:
        events = [dict(e.payload) async for e in trigger.run()]
        return events, asyncio.get_running_loop() in async_hook._sessions

    return asyncio.run(asyncio.wait_for(main(), 60))


def test_a_missing_connection_gives_one_error_event(monkeypatch: Any) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
    trigger = MsgFlashLookupTrigger(lookup_ids=["lk-1"], msgflash_conn_id="no_such_conn", requested=[100])
    (event,), session_left = _events(trigger)
    assert event["status"] == "error"
    assert "no_such_conn" in event["message"]
    assert event["lookup_ids"] == ["lk-1"] and event["final"] is False
    assert not session_left


def test_an_unexpected_exception_gives_one_error_event(msgflash_conn: Any, monkeypatch: Any) -> None:
    """A library surprise (not a MsgFlashError) inside the wait: still exactly one event."""

    async def surprise(self: Any, instance_id: str) -> Any:
        raise KeyError("providerState")  # a fault the sandbox cannot produce: a bug in a dependency

    monkeypatch.setattr(async_hook.MsgFlashAsyncHook, "get_instance_state", surprise)
    trigger = MsgFlashInstanceReadyTrigger(instance_id=msgflash_conn.instance_id("sandbox-connected"))
    (event,), session_left = _events(trigger)
    assert event["status"] == "error" and event["message"] == "KeyError: 'providerState'"
    assert not session_left


def test_a_refused_key_is_a_final_error_event(msgflash_conn: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_DEFAULT", msgflash_conn.connection_json(key="msgf_live_" + "0" * 64))
    trigger = MsgFlashLookupTrigger(lookup_ids=["lk-1"], requested=[100], poll_interval=2)
    (event,), session_left = _events(trigger)
    assert event["status"] == "error" and "401 UNAUTHORIZED" in event["message"]
    assert event["final"] is True  # no retry of the task can fix a refused key
    assert not session_left


def test_a_successful_run_leaves_no_session_behind(msgflash_conn: Any) -> None:
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    msgflash_conn.set_faults(pace=0.05)
    iid = msgflash_conn.instance_id("sandbox-connected")
    lid = MsgFlashHook().create_number_lookup(iid, [f"+4179555{i:04d}" for i in range(120)])["lookupId"]
    (event,), session_left = _events(MsgFlashLookupTrigger(lookup_ids=[lid], requested=[120]))
    assert event["status"] == "success"
    assert not session_left

"""MsgFlashLookupTrigger and MsgFlashInstanceReadyTrigger against the sandbox, and the polling schedule."""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.polling import PollSchedule
from airflow_provider_msgflash.triggers.msgflash import MsgFlashInstanceReadyTrigger, MsgFlashLookupTrigger
from tests.helpers import numbers, run_trigger


def rebuild(trigger: Any) -> Any:
    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    # What the triggerer does: kwargs go through JSON (the trigger table) and back.
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


def test_serialize_round_trips_without_secret() -> None:
    t = MsgFlashLookupTrigger(
        lookup_ids=["a", "b"],
        msgflash_conn_id="c",
        submitted_at=123.0,
        requested=[100, 200],
        deadline=456.0,
        poll_interval=3,
        max_poll_interval=40,
        cancel_on_kill=False,
    )
    again = rebuild(t)
    assert again.serialize() == t.serialize()
    assert set(t.serialize()[1]) == {
        "lookup_ids",
        "msgflash_conn_id",
        "submitted_at",
        "requested",
        "deadline",
        "poll_interval",
        "max_poll_interval",
        "cancel_on_kill",
        "lookup_id",
        "end_task",
    }
    r = MsgFlashInstanceReadyTrigger(instance_id="i", min_safety_score=60, poll_interval=2, deadline=9.0)
    assert rebuild(r).serialize() == r.serialize()


def test_poll_interval_never_below_two_seconds() -> None:
    assert MsgFlashLookupTrigger(lookup_ids=["x"], poll_interval=0.1).poll_interval == 2.0


def test_trigger_success_event_is_small_and_has_counts(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.02)
    hook = MsgFlashHook()
    sb_id = msgflash_conn.instance_id("sandbox-connected")
    ids = [
        hook.create_number_lookup(sb_id, numbers(120))["lookupId"],
        hook.create_number_lookup(sb_id, numbers(140))["lookupId"],
    ]
    event = run_trigger(MsgFlashLookupTrigger(lookup_ids=ids, requested=[120, 140]))
    assert event["status"] == "success"
    assert event["lookup_ids"] == ids
    assert event["counts"]["requestedCount"] == 260
    assert event["counts"]["checkedCount"] == 260
    assert len(json.dumps(event)) < 2000


def test_rebuilt_trigger_continues_same_lookup(msgflash_conn: Any) -> None:
    """A trigger rebuilt from serialize() (triggerer restart) follows the same lookup, creating none."""
    msgflash_conn.set_faults(pace=0.02)
    hook = MsgFlashHook()
    lid = hook.create_number_lookup(msgflash_conn.instance_id("sandbox-connected"), numbers(200))["lookupId"]
    event = run_trigger(rebuild(MsgFlashLookupTrigger(lookup_ids=[lid], requested=[200], submitted_at=time.time())))
    assert event["status"] == "success"
    assert len(msgflash_conn.state()["lookups"]) == 1
    assert not any(
        r["method"] == "POST" and r["path"].endswith("/number-lookups") for r in msgflash_conn.requests()[1:]
    )


def test_transient_errors_do_not_fail_the_trigger(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.02)
    lid = MsgFlashHook().create_number_lookup(msgflash_conn.instance_id("sandbox-connected"), numbers(150))["lookupId"]
    msgflash_conn.set_faults(error_rate=0.4)
    event = run_trigger(MsgFlashLookupTrigger(lookup_ids=[lid], requested=[150]), timeout=90)
    assert event["status"] == "success"


def test_instance_ready_trigger_waits_for_warming_instance(msgflash_conn: Any) -> None:
    iid = msgflash_conn.instance_id("sandbox-warming")
    event = run_trigger(MsgFlashInstanceReadyTrigger(instance_id=iid, poll_interval=1, deadline=time.time() + 30))
    assert event["status"] == "success"
    assert event["state"]["status"] == "connected"


def test_instance_ready_trigger_times_out_on_disconnected(msgflash_conn: Any) -> None:
    iid = msgflash_conn.instance_id("sandbox-disconnected")
    event = run_trigger(MsgFlashInstanceReadyTrigger(instance_id=iid, poll_interval=1, deadline=time.time() + 2))
    assert event["status"] == "timeout"
    assert "disconnected" in event["message"]


def test_instance_ready_trigger_min_score_keeps_waiting(msgflash_conn: Any) -> None:
    iid = msgflash_conn.instance_id("sandbox-unhealthy")
    event = run_trigger(
        MsgFlashInstanceReadyTrigger(instance_id=iid, min_safety_score=80, poll_interval=1, deadline=time.time() + 2)
    )
    assert event["status"] == "timeout" and "safetyScore" in event["message"]


# -- the schedule ---------------------------------------------------------------------------------------
def _progress(created: float, updated: float, checked: int, total: int) -> dict[str, Any]:
    from datetime import datetime, timezone

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")

    return {
        "status": "processing",
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "checkedCount": checked,
        "normalizedCount": total,
    }


def test_schedule_first_poll_from_typical_pace_and_min_interval() -> None:
    s = PollSchedule(requested=10_000, started_at=1000.0)
    assert s.next_delay(now=1000.0) == 30.0  # a quarter of 500 s, capped at 30 s
    assert PollSchedule(requested=1000, started_at=1000.0).next_delay(now=1000.0) == 1000 / 20 * 0.25
    small = PollSchedule(requested=100, started_at=1000.0)
    assert small.next_delay(now=1000.0) == 2.0  # never below the docs' 2 s


def test_schedule_predicts_end_from_server_timestamps() -> None:
    # 20 numbers/s measured by the server: 2,000 numbers end 100 s after creation.
    s = PollSchedule(requested=2000, started_at=1000.0)
    s.observe(_progress(created=5000.0, updated=5010.0, checked=200, total=2000), now=1010.0)
    end = s.predicted_end()
    assert end is not None and abs(end - 1100.0) < 1e-6  # server clock offset removed
    delay = s.next_delay(now=1010.0)
    assert 90.0 <= delay <= 93.0  # lands just after the end, not at 2-second steps


def test_schedule_bounds_and_deadline() -> None:
    s = PollSchedule(requested=100_000, started_at=0.0, max_interval=30.0)
    s.observe(_progress(created=0.0, updated=10.0, checked=20, total=100_000))
    assert s.next_delay(now=10.0) == 30.0
    s.deadline = 15.0
    assert s.next_delay(now=10.0) == 5.0


def test_schedule_backs_off_while_nothing_moves() -> None:
    s = PollSchedule(requested=500, started_at=0.0)
    s.observe({"status": "pending", "checkedCount": 0})
    s.observe({"status": "pending", "checkedCount": 0})
    assert s.next_delay(now=40.0) == 10.0

"""MsgFlashNumberLookupOperator against the sandbox: sync path, async path (deferred and in the
worker), terminal statuses, instance gate, reuse on retry, cancel on timeout/kill, splitting,
normalisation and bad input."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from airflow_provider_msgflash import polling
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashError,
    MsgFlashLookupError,
    MsgFlashNotFoundError,
)
from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator
from airflow_provider_msgflash.sandbox import is_on_whatsapp
from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger
from airflow_provider_msgflash.version_compat import AirflowFailException, TaskDeferred
from tests.helpers import FakeTaskStateStore, make_context, numbers, run_trigger


def op(**kwargs: Any) -> MsgFlashNumberLookupOperator:
    kwargs.setdefault("task_id", "lookup")
    kwargs.setdefault("instance_id", "sandbox-connected")
    return MsgFlashNumberLookupOperator(**kwargs)


def expected_split(nums: list[str]) -> tuple[int, int]:
    on = sum(1 for n in nums if is_on_whatsapp(n))
    return on, len(nums) - on


def lookups_in(sb: Any) -> list[dict[str, Any]]:
    return sb.state()["lookups"]


# -- sync path -------------------------------------------------------------------------------------
def test_sync_lookup_under_100_numbers_one_call(msgflash_conn: Any) -> None:
    nums = numbers(40)
    ctx = make_context()
    result = op(numbers=nums).execute(ctx)
    on, off = expected_split(nums)
    assert result["status"] == "done"
    assert result["counts"]["on_whatsapp"] == on
    assert result["counts"]["not_on_whatsapp"] == off
    assert sorted(result["on_whatsapp"]) == sorted(n for n in nums if is_on_whatsapp(n))
    assert ctx["ti"].xcom["lookup_id"] == result["lookup_id"]
    # One POST creates it; no progress polling for a synchronous answer.
    paths = [r["path"] for r in msgflash_conn.requests()]
    assert sum(1 for p in paths if p.endswith("/number-lookups")) == 1
    assert not any(p.endswith("/progress") for p in paths)


def test_instance_can_be_named_by_id_name_or_wa_number(msgflash_conn: Any) -> None:
    sb = msgflash_conn
    iid = sb.instance_id("sandbox-connected")
    wa = next(i["waNumber"] for i in sb.state()["instances"] if i["id"] == iid) if "instances" in sb.state() else None
    for ref in [iid, "sandbox-connected", *([wa] if wa else [])]:
        assert op(instance_id=ref, numbers=numbers(3)).execute(make_context())["instance_id"] == iid


# -- async path ------------------------------------------------------------------------------------
def test_async_lookup_defers_then_completes_via_trigger(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.3)
    nums = numbers(250)
    task = op(numbers=nums, deferrable=True)
    ctx = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    trigger = deferred.value.trigger
    assert isinstance(trigger, MsgFlashLookupTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is None  # the trigger enforces the deadline itself
    lookup_id = ctx["ti"].xcom["lookup_id"]
    assert trigger.lookup_ids == [lookup_id]
    # The trigger's kwargs hold no secret.
    assert msgflash_conn.api_key not in json.dumps(trigger.serialize()[1])

    event = run_trigger(trigger)
    assert event["status"] == "success"
    result = task.execute_complete(ctx, event)
    on, off = expected_split(nums)
    assert result["counts"]["on_whatsapp"] == on and result["counts"]["not_on_whatsapp"] == off
    assert result["counts"]["requested"] == 250
    assert len(lookups_in(msgflash_conn)) == 1


def test_async_lookup_waits_in_worker_when_not_deferrable(msgflash_conn: Any) -> None:
    nums = numbers(150)
    result = op(numbers=nums, deferrable=False).execute(make_context())
    assert result["status"] == "done"
    assert result["counts"]["on_whatsapp"] + result["counts"]["not_on_whatsapp"] == 150


def test_a_new_lookup_is_not_polled_before_deferring(msgflash_conn: Any) -> None:
    """Even at a zero pace (done at once), a new lookup is not checked before deferring: the polling
    schedule's first check is not due yet, and the trigger makes it (one request saved per run)."""
    msgflash_conn.set_faults(pace=0.0)
    with pytest.raises(TaskDeferred) as deferred:
        op(numbers=numbers(100), deferrable=True).execute(make_context())
    assert not any(r["path"].endswith("/progress") for r in msgflash_conn.requests())
    assert run_trigger(deferred.value.trigger)["status"] == "success"


def test_a_reused_finished_lookup_does_not_defer(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.0)
    nums = numbers(150)
    first = op(numbers=nums, deferrable=False).execute(make_context())
    result = op(numbers=nums, deferrable=True).execute(make_context(try_number=2))  # no TaskDeferred
    assert result["lookup_ids"] == first["lookup_ids"] and result["status"] == "done"


def test_wait_for_completion_false_returns_ids(msgflash_conn: Any) -> None:
    ctx = make_context()
    result = op(numbers=numbers(120), wait_for_completion=False).execute(ctx)
    assert result["status"] == "submitted" and result["lookup_ids"] == ctx["ti"].xcom["lookup_ids"]


# -- terminal statuses -------------------------------------------------------------------------------
def test_failed_lookup_fails_task_with_message(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(fail_lookups=1, pace=0.05)
    task = op(numbers=numbers(200), deferrable=True)
    ctx = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "failed"
    with pytest.raises(MsgFlashLookupError, match="failed"):
        task.execute_complete(ctx, event)


def test_cancelled_lookup_is_not_success(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.1)
    task = op(numbers=numbers(300), deferrable=True)
    ctx = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    MsgFlashHook().cancel_number_lookup(ctx["ti"].xcom["lookup_id"])
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "cancelled"
    with pytest.raises(MsgFlashLookupError, match="cancelled"):
        task.execute_complete(ctx, event)


def test_timeout_cancels_lookup_then_fails(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(stall_lookups=1)
    task = op(numbers=numbers(200), deferrable=True, timeout=3)
    ctx = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "timeout" and "at the deadline" in event["message"]
    with pytest.raises(MsgFlashLookupError, match="did not finish in time"):
        task.execute_complete(ctx, event)
    (lookup,) = lookups_in(msgflash_conn)
    assert lookup["status"] == "cancelled"


def test_unknown_lookup_gives_error_event(msgflash_conn: Any) -> None:
    trigger = MsgFlashLookupTrigger(lookup_ids=["00000000-0000-4000-8000-00000000dead"], requested=[100])
    event = run_trigger(trigger)
    assert event["status"] == "error"
    assert "LOOKUP_NOT_FOUND" in event["message"]


def test_on_kill_cancels_the_lookup_of_a_task_waiting_in_the_worker(msgflash_conn: Any) -> None:
    """Airflow calls on_kill (from the task process's signal handler) while execute() runs: here while
    the task waits in the worker for its lookup (a deferred task has no running execute(), so on_kill
    is not called for it; the trigger's own on_kill covers that case). execute() stays on the main
    thread, as in a task process (Airflow 2.11's executor safeguard refuses any other thread)."""
    msgflash_conn.set_faults(pace=0.5)
    task = op(numbers=numbers(400), deferrable=False)
    seen: dict[str, Any] = {}

    def kill_once_submitted() -> None:
        deadline = time.monotonic() + 30
        while not task.owned_lookups and time.monotonic() < deadline:  # submitted, and known as its own
            time.sleep(0.05)
        seen["lookups"] = lookups_in(msgflash_conn)
        task.on_kill()

    killer = threading.Thread(target=kill_once_submitted, daemon=True)
    killer.start()
    # The wait then sees the cancellation and the task ends with it (no success, no hang).
    with pytest.raises(MsgFlashLookupError) as ended:
        task.execute(make_context())
    killer.join(60)
    assert ended.value.code == "LOOKUP_CANCELLED"
    assert len(seen["lookups"]) == 1, "on_kill ran before the lookup was submitted"
    assert lookups_in(msgflash_conn)[0]["status"] == "cancelled"


# -- instance gate -----------------------------------------------------------------------------------
def test_disconnected_instance_fails_clearly_without_submitting(msgflash_conn: Any) -> None:
    with pytest.raises(MsgFlashError, match="disconnected.*Connect it"):
        op(instance_id="sandbox-disconnected", numbers=numbers(3)).execute(make_context())
    assert lookups_in(msgflash_conn) == []


def test_readiness_timeout_waits_for_warming_instance(msgflash_conn: Any) -> None:
    result = op(instance_id="sandbox-warming", numbers=numbers(3), readiness_timeout=30).execute(make_context())
    assert result["status"] == "done"


def test_health_policy_fail_refuses_unhealthy_instance(msgflash_conn: Any) -> None:
    with pytest.raises(MsgFlashError, match="not healthy enough"):
        op(instance_id="sandbox-unhealthy", numbers=numbers(3), health_policy="fail").execute(make_context())
    assert lookups_in(msgflash_conn) == []


def test_health_policy_warn_logs_and_goes_on(msgflash_conn: Any, capfd: pytest.CaptureFixture[str]) -> None:
    result = op(instance_id="sandbox-unhealthy", numbers=numbers(3), health_policy="warn").execute(make_context())
    assert result["status"] == "done"
    assert "below min_safety_score" in capfd.readouterr().out


def test_health_policy_ignore_does_not_read_health(msgflash_conn: Any) -> None:
    op(instance_id="sandbox-unhealthy", numbers=numbers(3), health_policy="ignore").execute(make_context())
    assert not any(r["path"].endswith("/health") for r in msgflash_conn.requests())


# -- retries reuse the earlier lookup -----------------------------------------------------------------
def _list_reads(sb: Any) -> int:
    return sum(1 for r in sb.requests() if r["method"] == "GET" and r["route"] == "/api/v1/number-lookups")


def test_retry_resumes_its_own_running_lookup_from_the_task_state(msgflash_conn: Any) -> None:
    """Airflow 3.3: the lookup id is in the task state right after submitting; the retry resumes exactly it,
    with no request to the lookup list, and defers to the same lookup."""
    msgflash_conn.set_faults(pace=0.5)  # 10 batches: still running when the retry comes
    nums, state = numbers(200), FakeTaskStateStore()
    with pytest.raises(TaskDeferred):
        op(numbers=nums, deferrable=True).execute(make_context(try_number=1, task_state=state))
    assert state.writes == 1 and list(state.values) == ["msgflash_lookups"]
    # The worker died; Airflow retries with a new try (XCom cleared, task state kept).
    with pytest.raises(TaskDeferred) as deferred:
        op(numbers=nums, deferrable=True).execute(make_context(try_number=2, task_state=state))
    assert len(lookups_in(msgflash_conn)) == 1
    assert deferred.value.trigger.lookup_ids == [lookups_in(msgflash_conn)[0]["id"]]
    assert _list_reads(msgflash_conn) == 0
    msgflash_conn.set_faults(unavailable_routes=["GET /api/v1/number-lookups"])  # and without the list at all
    with pytest.raises(TaskDeferred) as again:
        op(numbers=nums, deferrable=True).execute(make_context(try_number=3, task_state=state))
    assert again.value.trigger.lookup_ids == deferred.value.trigger.lookup_ids and len(lookups_in(msgflash_conn)) == 1


def test_with_a_task_state_a_retry_never_adopts_another_runs_lookup(msgflash_conn: Any) -> None:
    """Issue 23: a worker killed before its try submitted (nothing in the task state); another run of the DAG has
    a lookup of the same numbers. The retry submits its own (no list request), never adopting the other."""
    msgflash_conn.set_faults(pace=0.5)
    nums = numbers(150)
    other = op(numbers=nums, deferrable=False, wait_for_completion=False).execute(make_context())
    with pytest.raises(TaskDeferred) as deferred:
        op(numbers=nums, deferrable=True).execute(make_context(try_number=2, task_state=FakeTaskStateStore()))
    assert deferred.value.trigger.lookup_ids != [other["lookup_id"]]
    assert len(lookups_in(msgflash_conn)) == 2 and _list_reads(msgflash_conn) == 0


def test_task_state_of_other_numbers_is_not_resumed(msgflash_conn: Any) -> None:
    state = FakeTaskStateStore()
    first = op(numbers=numbers(30)).execute(make_context(task_state=state))
    other = op(numbers=numbers(30, prefix="+4179666")).execute(make_context(try_number=2, task_state=state))
    assert other["lookup_id"] != first["lookup_id"] and len(lookups_in(msgflash_conn)) == 2


PROGRESS = "GET /api/v1/number-lookups/{id}/progress"


def _outage_of_the_progress_route(sb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lookup that keeps running, and every read of its progress failing past the hook's retries (none, here)
    and the poller's patience (2 failed reads)."""
    monkeypatch.setattr(polling, "MAX_CONSECUTIVE_ERRORS", 2)
    conn = {**json.loads(sb.connection_json()), "extra": {"max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_DEFAULT", json.dumps(conn))
    sb.set_faults(stall_lookups=1, unavailable_routes=[PROGRESS])


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-the-worker"])
def test_a_read_outage_leaves_the_lookup_running_for_the_retry_which_resumes_it(
    msgflash_conn: Any, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    """The lookup's reads fail past the hook's and the poller's retries: the try fails, but Airflow will retry it,
    so its lookup is left running (not cancelled); the retry resumes it from the task state: one lookup, no list
    request."""
    _outage_of_the_progress_route(msgflash_conn, monkeypatch)
    state, nums = FakeTaskStateStore(), numbers(150)
    first, task = make_context(try_number=1, task_state=state, max_tries=1), op(numbers=nums, deferrable=deferrable)
    if deferrable:
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(first)
        event = run_trigger(deferred.value.trigger)
        with pytest.raises(MsgFlashLookupError) as ei:
            task.execute_complete(first, event)
    else:
        with pytest.raises(MsgFlashLookupError) as ei:
            task.execute(first)
    assert ei.value.code == "LOOKUP_ERROR" and not isinstance(ei.value, AirflowFailException)
    assert "Cancelled" not in str(ei.value)
    assert [lk["status"] for lk in lookups_in(msgflash_conn)] == ["processing"]  # left running for the retry
    msgflash_conn.set_faults(unavailable_routes=[], stall_lookups=0)
    with pytest.raises(TaskDeferred) as resumed:
        op(numbers=nums, deferrable=True).execute(make_context(try_number=2, task_state=state, max_tries=1))
    assert resumed.value.trigger.lookup_ids == [lookups_in(msgflash_conn)[0]["id"]]
    assert len(lookups_in(msgflash_conn)) == 1 and _list_reads(msgflash_conn) == 0


def test_on_the_last_try_a_read_outage_cancels_the_lookup(msgflash_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _outage_of_the_progress_route(msgflash_conn, monkeypatch)
    with pytest.raises(MsgFlashLookupError, match="Cancelled"):
        op(numbers=numbers(150), deferrable=False).execute(make_context(try_number=2, max_tries=1))  # no retry left
    assert [lk["status"] for lk in lookups_in(msgflash_conn)] == ["cancelled"]


def test_retry_without_task_state_reuses_its_running_lookup_once_its_numbers_prove_it(msgflash_conn: Any) -> None:
    """Before Airflow 3.3: the running lookup is found in the list, waited for (its numbers show once done),
    compared, and reused: one lookup, and the retry ends with its results."""
    msgflash_conn.set_faults(pace=0.1)
    nums = numbers(200)
    with pytest.raises(TaskDeferred):
        op(numbers=nums, deferrable=True).execute(make_context(try_number=1))
    result = op(numbers=nums, deferrable=True).execute(make_context(try_number=2))
    assert len(lookups_in(msgflash_conn)) == 1 and result["lookup_id"] == lookups_in(msgflash_conn)[0]["id"]
    assert result["status"] == "done" and _list_reads(msgflash_conn) >= 1


def test_retry_without_task_state_never_adopts_another_runs_lookup_of_the_same_size(msgflash_conn: Any) -> None:
    """Before Airflow 3.3 (the matrix runs this on 2.11): another run's running lookup of the same size on the same
    instance is in the list when a retry looks; its numbers are compared once it is done, it is not adopted, and it
    is left alone (not cancelled): the retry submits its own."""
    theirs = msgflash_conn.create_lookup_as_other("sandbox-connected", numbers(150, prefix="+4179666"))
    result = op(numbers=numbers(150), deferrable=False).execute(make_context(try_number=2))
    by_id = {lk["id"]: lk for lk in lookups_in(msgflash_conn)}
    assert len(by_id) == 2 and result["lookup_id"] != theirs["lookupId"], result
    assert by_id[theirs["lookupId"]]["status"] == "done" and _list_reads(msgflash_conn) >= 1
    on, off = expected_split(numbers(150))  # its own numbers' results, not the other run's
    assert (result["counts"]["on_whatsapp"], result["counts"]["not_on_whatsapp"]) == (on, off)


def test_retry_reuses_finished_lookup_with_same_numbers_only(msgflash_conn: Any) -> None:
    first = op(numbers=numbers(30)).execute(make_context(try_number=1))
    again = op(numbers=numbers(30)).execute(make_context(try_number=2))
    assert again["lookup_id"] == first["lookup_id"]
    other = op(numbers=numbers(30, prefix="+4179666")).execute(make_context(try_number=2))
    assert other["lookup_id"] != first["lookup_id"]
    assert len(lookups_in(msgflash_conn)) == 2


# -- splitting, normalisation, results ---------------------------------------------------------------
def test_more_than_10000_numbers_are_split_and_merged_in_order(msgflash_conn: Any, tmp_path: Any) -> None:
    msgflash_conn.set_faults(pace=0.0)
    nums = [f"+41795{i:06d}" for i in range(10_050)]
    out = tmp_path / "results.jsonl"
    result = op(numbers=nums, deferrable=False, result_path=str(out)).execute(make_context())
    assert len(result["lookup_ids"]) == 2
    sizes = sorted(lk["requestedCount"] for lk in lookups_in(msgflash_conn))
    assert sizes == [50, 10_000]
    on, off = expected_split(nums)
    assert result["counts"]["on_whatsapp"] == on and result["counts"]["not_on_whatsapp"] == off
    assert result["on_whatsapp"] is None  # too many for XCom: the file has them
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 10_050
    assert [x["lookup_id"] for x in lines[:1]] == [result["lookup_ids"][0]]
    assert lines[-1]["lookup_id"] == result["lookup_ids"][1]


def test_split_disabled_refuses_over_10000(msgflash_conn: Any) -> None:
    with pytest.raises(MsgFlashConfigError, match="split_large"):
        op(numbers=numbers(10_001, prefix="+417955"), split_large=False).execute(make_context())


def test_normalize_accounts_for_every_input(msgflash_conn: Any, tmp_path: Any) -> None:
    raw = ["079 555 01 10", "+41 79 555 01 11", "0041795550112", "079 555 01 10", "not-a-number", "+41795550113"]
    out = tmp_path / "r.jsonl"
    result = op(numbers=raw, normalize=True, default_region="CH", result_path=str(out)).execute(make_context())
    acc = result["accounting"]
    assert acc == {"inputs": 6, "sent": 4, "invalid_before_sending": 1, "duplicates_removed": 1}
    c = result["counts"]
    assert c["on_whatsapp"] + c["not_on_whatsapp"] + c["invalid"] + acc["invalid_before_sending"] + acc[
        "duplicates_removed"
    ] == len(raw)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {x["number"] for x in lines if x["status"] != "invalid"} == {
        "+41795550110",
        "+41795550111",
        "+41795550112",
        "+41795550113",
    }
    assert next(x for x in lines if x["status"] == "invalid")["number"] == "not-a-number"


def test_numbers_from_file(msgflash_conn: Any, tmp_path: Any) -> None:
    f = tmp_path / "n.csv"
    f.write_text("name,phone\na,+41795550110\nb,+41795550111\n")
    result = op(numbers_file=str(f)).execute(make_context())
    assert result["counts"]["requested"] == 2


def test_import_tag_imports_on_completion(msgflash_conn: Any) -> None:
    nums = numbers(20)
    result = op(numbers=nums, import_tag="verified-whatsapp").execute(make_context())
    assert result["import"]["imported"] == sum(1 for n in nums if is_on_whatsapp(n))


# -- bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"numbers": []}, "no numbers to look up"),
        ({"numbers": None}, "Give the numbers"),
        ({"numbers": "+41791234567"}, "must be a list"),
        ({"numbers": ["+41791234567", 41791234568]}, "index 1"),
        ({"numbers": ["+41791234567"], "import_tag": "bad tag!"}, "import_tag"),
    ],
)
def test_bad_input_is_refused_with_clear_message(msgflash_conn: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(MsgFlashConfigError, match=match):
        op(**kwargs).execute(make_context())
    assert lookups_in(msgflash_conn) == []


def test_unknown_instance_is_named_in_error(msgflash_conn: Any) -> None:
    with pytest.raises(MsgFlashNotFoundError, match="no-such-shop.*Known instances"):
        op(instance_id="no-such-shop", numbers=numbers(2)).execute(make_context())


def test_bad_constructor_arguments_fail_at_parse_time() -> None:
    with pytest.raises(MsgFlashConfigError, match="health_policy"):
        op(numbers=["+41791234567"], health_policy="sometimes")
    with pytest.raises(MsgFlashConfigError, match="timeout"):
        op(numbers=["+41791234567"], timeout=-1)


# -- ownership, resuming, empty input --------------------------------------------------------------
def _two_parts(sb: Any) -> tuple[MsgFlashNumberLookupOperator, list[str], dict[str, Any]]:
    """A split lookup's two parts, submitted by the operator: a small one that fails early (the
    sandbox's fail_lookups switch) and a big one still running long after."""
    sb.set_faults(fail_lookups=1, pace=0.1)
    task = op(numbers=numbers(10), deferrable=True)
    ctx = make_context()
    answers, _ = task.submit(sb.instance_id("sandbox-connected"), [numbers(100), numbers(4000, "+4178")], ctx)
    ids = [a["lookupId"] for a in answers]
    deadline = time.monotonic() + 30
    while _status(sb, ids[0]) != "failed" and time.monotonic() < deadline:
        time.sleep(0.05)
    return task, ids, ctx


def _status(sb: Any, lookup_id: str) -> str:
    return next(x["status"] for x in lookups_in(sb) if x["id"] == lookup_id)


def test_a_part_failed_before_deferring_cancels_its_sibling(msgflash_conn: Any) -> None:
    task, (failed, sibling), _ = _two_parts(msgflash_conn)
    assert _status(msgflash_conn, failed) == "failed"
    with pytest.raises(MsgFlashLookupError) as ei:
        task.poll_once([failed, sibling], {}, {}, make_context(max_tries=3))  # the check made just before deferring
    assert ei.value.code == "LOOKUP_FAILED"
    assert isinstance(ei.value, AirflowFailException)  # final: no retry resumes it, so its sibling is cancelled
    assert _status(msgflash_conn, sibling) == "cancelled"


def test_a_part_failed_while_deferred_cancels_its_sibling(msgflash_conn: Any) -> None:
    task, ids, ctx = _two_parts(msgflash_conn)
    event = run_trigger(task.lookup_trigger(ids, [100, 4000], time.time()))
    assert event["status"] == "failed"
    resumed = op(numbers=numbers(10), deferrable=True)  # Airflow resumes on a fresh operator object
    with pytest.raises(MsgFlashLookupError, match="Cancelled: " + ids[1]):
        resumed.execute_complete(ctx, event)
    assert _status(msgflash_conn, ids[1]) == "cancelled"


def test_without_cancel_on_kill_a_timeout_leaves_the_lookup_running(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(stall_lookups=1)
    task = op(numbers=numbers(200), deferrable=True, timeout=3, cancel_on_kill=False)
    ctx = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    event = run_trigger(deferred.value.trigger)
    with pytest.raises(MsgFlashLookupError, match="did not finish in time"):
        op(numbers=numbers(200), cancel_on_kill=False).execute_complete(ctx, event)
    (lookup,) = lookups_in(msgflash_conn)
    assert lookup["status"] == "processing"


def test_a_numbers_file_gone_while_deferred_does_not_fail_a_done_lookup(msgflash_conn: Any, tmp_path: Any) -> None:
    """execute_complete reads what it needs from XCom pushed before deferring, never the inputs again
    (the file may be moved by then, or on another worker)."""
    msgflash_conn.set_faults(pace=0.05)
    src = tmp_path / "numbers.txt"
    src.write_text("\n".join([*numbers(150), "+41 not a number"]) + "\n")
    out = tmp_path / "results.jsonl"
    task = op(numbers_file=str(src), normalize=True, default_region="CH", deferrable=True, result_path=str(out))
    ctx = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    src.unlink()
    event = run_trigger(deferred.value.trigger)
    resumed = op(numbers_file=str(src), normalize=True, default_region="CH", deferrable=True, result_path=str(out))
    summary = resumed.execute_complete(ctx, event)
    assert summary["accounting"] == {"inputs": 151, "sent": 150, "invalid_before_sending": 1, "duplicates_removed": 0}
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 151 and lines[-1]["status"] == "invalid" and lines[-1]["lookup_id"] is None


@pytest.mark.parametrize("numbers_arg", [[], "file"])
def test_empty_input_fails_by_default_and_is_skipped_on_request(
    msgflash_conn: Any, tmp_path: Any, numbers_arg: Any
) -> None:
    from airflow_provider_msgflash.version_compat import AirflowSkipException

    if numbers_arg == "file":
        empty = tmp_path / "empty.csv"
        empty.write_text("phone\n")
        kwargs: dict[str, Any] = {"numbers_file": str(empty)}
    else:
        kwargs = {"numbers": numbers_arg}
    with pytest.raises(MsgFlashConfigError, match="if_empty='skip'") as ei:
        op(**kwargs).execute(make_context())
    assert ei.value.code == "NO_NUMBERS"
    with pytest.raises(AirflowSkipException, match="nothing sent"):
        op(if_empty="skip", **kwargs).execute(make_context())
    assert msgflash_conn.requests() == []
    with pytest.raises(MsgFlashConfigError, match="if_empty"):
        op(numbers=numbers(3), if_empty="ignore")

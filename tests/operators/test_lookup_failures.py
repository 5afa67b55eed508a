"""Failures no retry can fix fail the lookup task at once, naming the lookup and the service's reason as text;
retries are opt-in (``retry_failed_lookups``) and never submit again what already failed for the same reason;
a daily file that is not there skips when asked. Against the sandbox's lookup switches."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashError,
    MsgFlashLookupError,
    MsgFlashLookupFinalError,
)
from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator
from airflow_provider_msgflash.version_compat import AirflowFailException, AirflowSkipException
from tests.helpers import FakeTaskStateStore, make_context, numbers

BLOCKED = "ACCOUNT_BLOCKED: The WhatsApp account behind this instance was blocked"


def op(**kwargs: Any) -> MsgFlashNumberLookupOperator:
    kwargs.setdefault("task_id", "lookup")
    kwargs.setdefault("instance_id", "sandbox-connected")
    kwargs.setdefault("deferrable", False)
    return MsgFlashNumberLookupOperator(**kwargs)


def api_lookups(sb: Any) -> list[dict[str, Any]]:
    return [lk for lk in sb.state()["lookups"] if lk.get("origin", "api") == "api"]


@pytest.mark.parametrize("dialect", [None, "error-object"], ids=["error-as-text", "error-as-object"])
def test_a_failed_lookup_fails_the_task_at_once_naming_it_and_the_reason(msgflash_conn: Any, dialect: Any) -> None:
    """The service refused the lookup (the account): a retry would submit the numbers again to be refused again,
    so the task fails at once (final: AirflowFailException), whatever ``retries`` says."""
    msgflash_conn.set_dialect(dialect)
    msgflash_conn.set_faults(fail_lookups=1, fail_error=BLOCKED, pace="fast")
    with pytest.raises(MsgFlashLookupFinalError) as ei:
        op(numbers=numbers(150)).execute(make_context(max_tries=3))  # retries left: they are not used
    (lookup,) = api_lookups(msgflash_conn)
    assert isinstance(ei.value, AirflowFailException) and ei.value.code == "LOOKUP_FAILED"
    message = str(ei.value)
    assert lookup["id"] in message and BLOCKED in message and "{" not in message  # text, never a dict repr


def test_an_instance_that_disconnects_during_the_lookup_fails_at_once_naming_both(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(disconnect_during_lookup=1, pace="fast")
    with pytest.raises(MsgFlashLookupFinalError) as ei:
        op(numbers=numbers(150), deferrable=True).execute_complete(*_deferred_event(msgflash_conn))
    (lookup,) = api_lookups(msgflash_conn)
    assert lookup["id"] in str(ei.value) and "INSTANCE_DISCONNECTED" in str(ei.value)


def _deferred_event(sb: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the lookup deferred to its trigger's event (the instance disconnects meanwhile)."""
    from airflow_provider_msgflash.version_compat import TaskDeferred
    from tests.helpers import run_trigger

    ctx = make_context(max_tries=3)
    with pytest.raises(TaskDeferred) as deferred:
        op(numbers=numbers(150), deferrable=True).execute(ctx)
    return ctx, run_trigger(deferred.value.trigger)


def test_opted_in_retries_submit_again_but_not_after_the_same_reason_twice(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(fail_lookups=3, fail_error=BLOCKED, pace="fast")
    state, nums = FakeTaskStateStore(), numbers(150)
    with pytest.raises(MsgFlashLookupError) as first:
        op(numbers=nums, retry_failed_lookups=True).execute(make_context(1, state, max_tries=3))
    assert not isinstance(first.value, AirflowFailException)  # opted in: the task's retries are used
    with pytest.raises(MsgFlashLookupFinalError, match="failed again for the same reason") as second:
        op(numbers=nums, retry_failed_lookups=True).execute(make_context(2, state, max_tries=3))
    assert len(api_lookups(msgflash_conn)) == 2  # the third try never comes: no third lookup
    assert api_lookups(msgflash_conn)[0]["id"] in str(second.value)


def test_opted_in_retry_that_meets_the_disconnected_instance_names_the_earlier_lookup(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(disconnect_during_lookup=1, pace="fast")
    state, nums = FakeTaskStateStore(), numbers(150)
    with pytest.raises(MsgFlashLookupError):
        op(numbers=nums, retry_failed_lookups=True).execute(make_context(1, state, max_tries=3))
    (lookup,) = api_lookups(msgflash_conn)
    with pytest.raises(MsgFlashError) as ei:
        op(numbers=nums, retry_failed_lookups=True).execute(make_context(2, state, max_tries=3))
    assert ei.value.code == "INSTANCE_NOT_READY"
    assert f"An earlier try's lookup {lookup['id']} failed" in str(ei.value) and "INSTANCE_DISCONNECTED" in str(
        ei.value
    )
    assert len(api_lookups(msgflash_conn)) == 1


def test_a_missing_daily_file_skips_when_asked_and_fails_clearly_otherwise(msgflash_conn: Any, tmp_path: Any) -> None:
    missing = str(tmp_path / "leads" / "20261206.csv")
    with pytest.raises(AirflowSkipException, match="does not exist"):
        op(numbers_file=missing, if_missing="skip").execute(make_context())
    with pytest.raises(MsgFlashConfigError) as ei:
        op(numbers_file=missing).execute(make_context())
    assert ei.value.code == "STORAGE_NOT_FOUND"
    assert api_lookups(msgflash_conn) == []  # nothing sent either way
    with pytest.raises(MsgFlashConfigError, match="if_missing"):
        op(numbers_file=missing, if_missing="maybe")

"""The operators' critical flows against a service answering the undocumented routes in other shapes (the
sandbox's dialects, docs/sandbox.md): sync, async (deferred) and split lookups, reuse on a retry, the import
and the instance health gate, each under every dialect. The summary the operators return is the same as
under the canonical shapes, or says what is unknown: never a false figure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.operators.msgflash import MsgFlashImportContactsOperator, MsgFlashNumberLookupOperator
from airflow_provider_msgflash.sandbox import DIALECTS, is_on_whatsapp
from airflow_provider_msgflash.version_compat import TaskDeferred
from tests.helpers import make_context, numbers, run_trigger

CASES = [None, *DIALECTS, "all"]
IDS = ["canonical", *DIALECTS, "all"]


def op(**kwargs: Any) -> MsgFlashNumberLookupOperator:
    kwargs.setdefault("task_id", "lookup")
    kwargs.setdefault("instance_id", "sandbox-connected")
    return MsgFlashNumberLookupOperator(**kwargs)


def on_whatsapp(nums: list[str]) -> list[str]:
    return [n for n in nums if is_on_whatsapp(n)]


def expected_counts(nums: list[str]) -> dict[str, int]:
    on = len(on_whatsapp(nums))
    return {
        "requested": len(nums),
        "normalized": len(nums),
        "checked": len(nums),
        "on_whatsapp": on,
        "not_on_whatsapp": len(nums) - on,
        "invalid": 0,
        "invalid_before_sending": 0,
        "duplicates_removed": 0,
    }


def lookups_in(sb: Any) -> list[dict[str, Any]]:
    return sb.state()["lookups"]


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_sync_lookup(msgflash_conn: Any, dialect: str | None) -> None:
    msgflash_conn.set_dialect(dialect)
    nums = numbers(40)
    result = op(numbers=nums).execute(make_context())
    assert result["counts"] == expected_counts(nums)
    assert result["on_whatsapp"] == on_whatsapp(nums)


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_async_lookup_deferred_then_results(msgflash_conn: Any, dialect: str | None, tmp_path: Any) -> None:
    """Polled on progress (its timestamps shifted or moving in some dialects), results read from the
    lookup detail (result items as objects, no mode, no updatedAt in some dialects)."""
    msgflash_conn.set_dialect(dialect)
    msgflash_conn.set_faults(pace=0.02)
    nums = numbers(250)
    out = tmp_path / "results.jsonl"
    task = op(numbers=nums, deferrable=True, result_path=str(out))
    ctx = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success"
    result = task.execute_complete(ctx, event)
    assert result["counts"] == expected_counts(nums)
    assert result["on_whatsapp"] == on_whatsapp(nums)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["number"] for x in lines) == sorted(nums)
    assert {x["number"] for x in lines if x["status"] == "on_whatsapp"} == set(on_whatsapp(nums))


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_split_lookup(msgflash_conn: Any, dialect: str | None, tmp_path: Any) -> None:
    msgflash_conn.set_dialect(dialect)
    msgflash_conn.set_faults(pace=0.0)
    nums = [f"+41795{i:06d}" for i in range(10_050)]
    out = tmp_path / "results.jsonl"
    result = op(numbers=nums, deferrable=False, result_path=str(out)).execute(make_context())
    assert len(result["lookup_ids"]) == 2 == len(lookups_in(msgflash_conn))
    assert result["counts"] == expected_counts(nums)
    assert result["on_whatsapp"] is None  # more than xcom_numbers_limit: the file has them
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["lookup_id"] for x in (lines[0], lines[-1])] == result["lookup_ids"]
    assert {x["number"] for x in lines if x["status"] == "on_whatsapp"} == set(on_whatsapp(nums))
    assert len(lines) == len(nums)


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_retry_reuses_the_earlier_try_lookup(msgflash_conn: Any, dialect: str | None) -> None:
    msgflash_conn.set_dialect(dialect)
    nums = numbers(30)
    first = op(numbers=nums).execute(make_context(try_number=1))
    again = op(numbers=nums).execute(make_context(try_number=2))
    assert again["lookup_id"] == first["lookup_id"]
    assert again["counts"] == first["counts"] == expected_counts(nums)
    assert len(lookups_in(msgflash_conn)) == 1


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_import_counts_are_read_or_said_unknown_never_zero(msgflash_conn: Any, dialect: str | None) -> None:
    in_force = msgflash_conn.set_dialect(dialect)
    nums = numbers(20)
    on = len(on_whatsapp(nums))
    summary = op(numbers=nums, import_tag="verified").execute(make_context())["import"]
    again = MsgFlashImportContactsOperator(task_id="i", lookup_id=summary["lookup_ids"], tag="verified").execute(
        make_context()
    )
    if "import-summary" in in_force:  # {"summary": {"new", "existing"}}: no skipped count at all
        assert (summary["imported"], summary["alreadyExisting"], summary["skipped"]) == (on, 0, None)
        assert summary["api_answers"] == [
            {"lookupId": summary["lookup_ids"][0], "tag": "verified", "summary": {"new": on, "existing": 0}}
        ]
        assert (again["imported"], again["alreadyExisting"], again["skipped"]) == (0, on, None)
    else:
        assert (summary["imported"], summary["alreadyExisting"], summary["skipped"]) == (on, 0, 20 - on)
        assert (again["imported"], again["alreadyExisting"], again["skipped"]) == (0, on, 20 - on)
        assert "api_answers" not in summary


def test_import_counts_under_other_names_are_not_claimed_zero(msgflash_conn: Any) -> None:
    """Issue 13's second case: reading only ``imported`` (before api/shapes.py), the summary claimed
    ``imported: 0``."""
    msgflash_conn.set_dialect("import-counts")
    nums = numbers(20)
    lookup_id = op(numbers=nums).execute(make_context())["lookup_id"]
    out = MsgFlashImportContactsOperator(task_id="i", lookup_id=lookup_id, tag="t").execute(make_context())
    assert out["imported"] == len(on_whatsapp(nums))


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_health_gate(msgflash_conn: Any, dialect: str | None, capfd: pytest.CaptureFixture[str]) -> None:
    """``health_policy='fail'`` lets a healthy instance (92) through and stops an unhealthy one (35),
    whatever the shape of the health fields; the log shows the state and the recommendations as text."""
    msgflash_conn.set_dialect(dialect)
    result = op(numbers=numbers(3), health_policy="fail", min_safety_score=50).execute(make_context())
    assert result["status"] == "done"
    assert "safetyState=healthy, safetyScore=92" in capfd.readouterr().out
    with pytest.raises(MsgFlashError, match="not healthy enough") as ei:
        op(instance_id="sandbox-unhealthy", numbers=numbers(3), health_policy="fail").execute(make_context())
    assert "safetyScore is 35 (below min_safety_score 50)" in str(ei.value)
    assert "safetyState=at_risk" in str(ei.value) and "recommendations: " in str(ei.value)
    assert "{" not in str(ei.value).split("recommendations: ")[1]  # text, not raw objects
    assert len(lookups_in(msgflash_conn)) == 1

"""Operators acting on lookups another task submitted (``operators/contacts.py``): import, cancel."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashLookupError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.operators.msgflash import (
    MsgFlashCancelLookupOperator,
    MsgFlashImportContactsOperator,
)
from airflow_provider_msgflash.sandbox import is_on_whatsapp
from tests.helpers import make_context, numbers


def submit(sb: Any, n: int) -> str:
    return str(MsgFlashHook().create_number_lookup(sb.instance_id("sandbox-connected"), numbers(n))["lookupId"])


def test_import_waits_for_lookup_then_imports_without_duplicates(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.02)
    lid = submit(msgflash_conn, 120)
    expected = sum(1 for n in numbers(120) if is_on_whatsapp(n))
    op = MsgFlashImportContactsOperator(task_id="imp", lookup_id=lid, tag="verified-whatsapp", deferrable=False)
    first = op.execute(make_context())
    assert first == {
        "lookup_ids": [lid],
        "tag": "verified-whatsapp",
        "imported": expected,
        "alreadyExisting": 0,
        "skipped": 120 - expected,
    }
    again = op.execute(make_context())
    assert again["imported"] == 0 and again["alreadyExisting"] == expected
    contacts = list(MsgFlashHook().iter_contacts())
    assert len(contacts) == expected
    assert all("verified-whatsapp" in c["tags"] for c in contacts)


def test_import_accepts_lookup_summary_and_id_lists(msgflash_conn: Any) -> None:
    a, b = submit(msgflash_conn, 10), submit(msgflash_conn, 12)
    summary = {"lookup_id": a, "lookup_ids": [a, b]}
    out = MsgFlashImportContactsOperator(task_id="i", lookup_id=summary, tag="t1").execute(make_context())
    assert out["lookup_ids"] == [a, b]
    out = MsgFlashImportContactsOperator(task_id="i", lookup_id=f'["{a}"]', tag="t2").execute(make_context())
    assert out["lookup_ids"] == [a]


def test_import_of_cancelled_lookup_fails_clearly(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.5)
    lid = submit(msgflash_conn, 200)
    MsgFlashHook().cancel_number_lookup(lid)
    with pytest.raises(MsgFlashLookupError, match="cancelled.*nothing to import"):
        MsgFlashImportContactsOperator(task_id="i", lookup_id=lid, tag="x").execute(make_context())


@pytest.mark.parametrize("tag", ["", "has space", "x" * 65, None, 42])
def test_import_bad_tag_refused_at_parse_time(tag: Any) -> None:
    with pytest.raises(MsgFlashConfigError, match="tag"):
        MsgFlashImportContactsOperator(task_id="i", lookup_id="abc", tag=tag)


def test_import_bad_lookup_id(msgflash_conn: Any) -> None:
    with pytest.raises(MsgFlashConfigError, match="lookup_id"):
        MsgFlashImportContactsOperator(task_id="i", lookup_id=[], tag="ok").execute(make_context())


def test_cancel_operator_running_and_finished(msgflash_conn: Any) -> None:
    msgflash_conn.set_faults(pace=0.5)
    lid = submit(msgflash_conn, 200)
    out = MsgFlashCancelLookupOperator(task_id="c", lookup_id=lid).execute(make_context())
    assert out == {"lookup_id": lid, "cancelled": True, "status": "cancelled"}
    again = MsgFlashCancelLookupOperator(task_id="c", lookup_id=lid).execute(make_context())
    assert again["cancelled"] is False and again["status"] == "cancelled"


@pytest.mark.parametrize(
    "form",
    ["summary", "id", "list", "json_list", "python_list", "summary_text"],
)
def test_import_accepts_every_lookup_id_form(msgflash_conn: Any, form: str) -> None:
    """What a DAG may hand over: the lookup task's output (its summary), an id, a list, or their text
    form as a template renders them without native objects (``"['...']"``)."""
    a = submit(msgflash_conn, 10)
    value = {
        "summary": {"lookup_id": a, "lookup_ids": [a], "status": "done"},
        "id": a,
        "list": [a],
        "json_list": f'["{a}"]',
        "python_list": f"['{a}']",
        "summary_text": str({"lookup_id": a, "lookup_ids": [a]}),
    }[form]
    out = MsgFlashImportContactsOperator(task_id="i", lookup_id=value, tag="t1").execute(make_context())
    assert out["lookup_ids"] == [a]
    assert out["imported"] == sum(1 for n in numbers(10) if is_on_whatsapp(n))


def test_import_timeout_never_cancels_the_lookup_it_waits_for(msgflash_conn: Any) -> None:
    """The lookup belongs to the task that submitted it: the import task's own timeout fails the
    import, and the lookup goes on."""
    msgflash_conn.set_faults(pace=1.0)
    lid = submit(msgflash_conn, 400)
    op = MsgFlashImportContactsOperator(task_id="i", lookup_id=lid, tag="late", deferrable=False, timeout=3)
    with pytest.raises(MsgFlashLookupError) as ei:
        op.execute(make_context())
    assert ei.value.code == "LOOKUP_TIMEOUT" and "Cancelled" not in str(ei.value)
    assert MsgFlashHook().get_number_lookup_progress(lid)["status"] in ("pending", "processing")
    assert not [r for r in msgflash_conn.requests() if r["path"].endswith("/cancel")]


def test_import_refuses_cancel_on_kill() -> None:
    with pytest.raises(MsgFlashConfigError, match="never cancels lookups it did not submit"):
        MsgFlashImportContactsOperator(task_id="i", lookup_id="abc", tag="ok", cancel_on_kill=True)


def test_import_trusts_a_summary_that_reports_done(msgflash_conn: Any) -> None:
    """Given the lookup task's summary (``lookup.output``) saying done, the import asks for no progress."""
    a = submit(msgflash_conn, 10)
    before = len(msgflash_conn.requests())
    summary = {"lookup_id": a, "lookup_ids": [a], "status": "done"}
    MsgFlashImportContactsOperator(task_id="i", lookup_id=summary, tag="t1").execute(make_context())
    paths = [r["path"] for r in msgflash_conn.requests()[before:]]
    assert paths == [f"/api/v1/number-lookups/{a}/import-contacts"]

"""Import, cancel, list and get operators against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashLookupError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.operators.msgflash import (
    MsgFlashCancelLookupOperator,
    MsgFlashGetInstanceOperator,
    MsgFlashImportContactsOperator,
    MsgFlashListInstancesOperator,
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


def test_list_and_get_instances(msgflash_conn: Any) -> None:
    everything = MsgFlashListInstancesOperator(task_id="l").execute(make_context())
    assert {"sandbox-connected", "sandbox-disconnected"} <= {i["name"] for i in everything}
    connected = MsgFlashListInstancesOperator(task_id="l", status="connected").execute(make_context())
    assert connected and all(i["status"] == "connected" for i in connected)
    with pytest.raises(MsgFlashConfigError, match="status"):
        MsgFlashListInstancesOperator(task_id="l", status="online").execute(make_context())
    got = MsgFlashGetInstanceOperator(task_id="g", instance_id="sandbox-unhealthy").execute(make_context())
    assert got["health"]["safetyScore"] < 50 and got["state"]["status"] == "connected"

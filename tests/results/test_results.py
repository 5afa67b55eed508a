"""Results of finished lookups (``results.py``), against real answers from the sandbox: each lookup's
numbers are streamed to the file as soon as it is added (nothing keeps every result in memory: what
bench_big_lookup.py's memory figure relies on), counts are summed in order, the XCom list is dropped
past its limit, and a failure leaves no half-written file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashFinalError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.results import LookupResults
from airflow_provider_msgflash.sandbox import is_on_whatsapp
from airflow_provider_msgflash.storage import JsonLinesWriter
from tests.helpers import numbers


def test_result_writer_file_grows_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    writer = JsonLinesWriter(str(path))
    part = str(path) + ".part"
    sizes = []
    for i in range(3):
        writer.write([f"+4179{i}{n:06d}" for n in range(5_000)], "on_whatsapp", f"lk{i}")
        writer._sink.f.flush()  # what the OS holds, not Python's buffer
        sizes.append(os.path.getsize(part))
    assert sizes[0] > 0 and sizes[0] < sizes[1] < sizes[2]  # on disk while writing, not at close
    assert not path.exists()  # readers never see a half-written file
    writer.close()
    assert sum(1 for _ in path.open()) == 15_000


def _finished_lookups(sb: Any, sizes: list[int]) -> tuple[list[str], list[dict[str, Any]]]:
    """Sync lookups (under 100 numbers each) in the sandbox: their ids and their full answers."""
    hook = MsgFlashHook()
    iid = sb.instance_id("sandbox-connected")
    ids, sent = [], []
    for i, n in enumerate(sizes):
        nums = numbers(n, prefix=f"+417955{i}")
        ids.append(hook.create_number_lookup(iid, nums)["lookupId"])
        sent.append(nums)
    return ids, [hook.get_number_lookup(lid) for lid in ids]


def test_each_lookup_is_on_disk_before_the_next_is_added(msgflash_conn: Any, tmp_path: Path) -> None:
    ids, answers = _finished_lookups(msgflash_conn, [60, 70, 80])
    path = tmp_path / "out.jsonl"
    lines_after_each = []
    with LookupResults(JsonLinesWriter(str(path)), xcom_limit=50) as results:
        for lid, data in zip(ids, answers, strict=True):
            results.add(lid, data)
            lines_after_each.append(results.writer.lines if results.writer else -1)
    assert lines_after_each == [60, 130, 210]
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["lookup_id"] for x in lines[:60]] == [ids[0]] * 60  # in order, lookup by lookup
    assert {x["status"] for x in lines} <= {"on_whatsapp", "not_on_whatsapp", "invalid"}
    on = [x["number"] for x in lines if x["status"] == "on_whatsapp"]
    assert all(is_on_whatsapp(n) for n in on)
    assert results.counts["requested"] == results.counts["checked"] == 210
    assert results.counts["on_whatsapp"] == len(on)
    # Only counts for XCom past the limit: the list is dropped, not accumulated.
    assert results.on_whatsapp is None


def test_a_failure_while_collecting_leaves_no_file(msgflash_conn: Any, tmp_path: Path) -> None:
    ids, answers = _finished_lookups(msgflash_conn, [40])
    path = tmp_path / "out.jsonl"

    def collect() -> None:
        with LookupResults(JsonLinesWriter(str(path)), xcom_limit=1000) as results:
            results.add(ids[0], answers[0])
            raise RuntimeError("the next lookup could not be read")

    with pytest.raises(RuntimeError):
        collect()
    assert not path.exists()
    assert not Path(str(path) + ".part").exists()


def test_small_results_keep_the_on_whatsapp_list_and_local_invalid_inputs(msgflash_conn: Any, tmp_path: Path) -> None:
    ids, answers = _finished_lookups(msgflash_conn, [30])
    path = tmp_path / "out.jsonl"
    with LookupResults(JsonLinesWriter(str(path)), xcom_limit=1000) as results:
        results.add(ids[0], answers[0])
        results.add_local_invalid([("07x", "unparseable")])
    summary = results.summary(
        ids, {"inputs": 31, "sent": 30, "invalid_before_sending": 1, "duplicates_removed": 0}, str(path)
    )
    assert summary["on_whatsapp"] == answers[0]["result"]["onWhatsApp"]
    assert summary["counts"]["invalid_before_sending"] == 1
    last = json.loads(path.read_text().splitlines()[-1])
    assert last == {"number": "07x", "status": "invalid", "lookup_id": None, "reason": "unparseable"}


# -- answers in other shapes ---------------------------------------------------------------------------
def test_result_items_as_objects_are_written_as_numbers(msgflash_conn: Any, tmp_path: Path) -> None:
    msgflash_conn.set_dialect("result-objects")
    ids, answers = _finished_lookups(msgflash_conn, [30])
    assert isinstance(answers[0]["result"]["onWhatsApp"][0], dict)  # the shape under test
    path = tmp_path / "out.jsonl"
    with LookupResults(JsonLinesWriter(str(path)), xcom_limit=1000) as results:
        results.add(ids[0], answers[0])
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert sorted(x["number"] for x in lines) == sorted(numbers(30, prefix="+4179550"))
    assert results.on_whatsapp == [n for n in numbers(30, prefix="+4179550") if is_on_whatsapp(n)]


def test_counts_missing_from_the_answer_are_counted_from_the_result_or_unknown(msgflash_conn: Any) -> None:
    ids, answers = _finished_lookups(msgflash_conn, [30, 20])
    bare = {k: v for k, v in answers[1].items() if not k.endswith("Count")}
    with LookupResults(None, xcom_limit=1000) as results:
        results.add(ids[0], answers[0])
        results.add(ids[1], bare)
    on = sum(1 for n in numbers(30, prefix="+4179550") + numbers(20, prefix="+4179551") if is_on_whatsapp(n))
    assert results.counts == {
        "requested": None,  # not in the answer: unknown, not 30
        "normalized": None,
        "checked": None,
        "on_whatsapp": on,  # counted from the result lists
        "not_on_whatsapp": 50 - on,
        "invalid": 0,
    }
    acc = {"inputs": 50, "sent": 50, "invalid_before_sending": 0, "duplicates_removed": 0}
    line, warning = results.outcome(acc)
    assert line.endswith(f"{on} on WhatsApp, {50 - on} not on WhatsApp, 0 invalid (server) + 0 invalid before "
                         "sending + 0 duplicate(s) = 50 of 50 input(s).")  # fmt: skip
    assert warning == "MsgFlash did not give the count(s) requested, normalized, checked: they are unknown (None)."
    assert results.summary(ids, acc, None)["counts"]["requested"] is None


def test_a_done_lookup_without_result_is_unknown_not_empty(msgflash_conn: Any, tmp_path: Path) -> None:
    ids, answers = _finished_lookups(msgflash_conn, [30])
    bare = {k: v for k, v in answers[0].items() if k not in ("result", "onWhatsAppCount")}
    with LookupResults(None, xcom_limit=1000) as results:
        results.add(ids[0], bare)
    assert results.on_whatsapp is None and results.counts["on_whatsapp"] is None
    assert results.counts["requested"] == 30 and results.accounted() is None
    writer = JsonLinesWriter(str(tmp_path / "out.jsonl"))
    with (
        pytest.raises(MsgFlashFinalError, match="holds no readable result") as ei,
        LookupResults(writer, 1000) as results,
    ):
        results.add(ids[0], bare)
    assert ei.value.code == "UNEXPECTED_SHAPE"
    assert not (tmp_path / "out.jsonl").exists()


def test_counts_that_add_up_give_no_warning(msgflash_conn: Any) -> None:
    ids, answers = _finished_lookups(msgflash_conn, [30])
    with LookupResults(None, xcom_limit=1000) as results:
        results.add(ids[0], answers[0])
    assert results.outcome({"inputs": 30, "sent": 30, "invalid_before_sending": 0, "duplicates_removed": 0})[1] is None
    assert results.outcome({"inputs": 31, "sent": 31, "invalid_before_sending": 0, "duplicates_removed": 0})[1] == (
        "Counts do not add up: sent 31, MsgFlash requested 30, results 30."
    )

"""The readers of what MsgFlash's docs do not show (``api/shapes.py`` and the readers beside their users:
``results.py``, ``readiness.py``, ``operators/contacts.py``, ``hooks/lookups.py``): each plausible
alternative shape is read, what cannot be read is said (never guessed), and each unexpected shape is
logged once per process. Pure functions: no server needed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_msgflash import readiness, results
from airflow_provider_msgflash.api import shapes
from airflow_provider_msgflash.api.shapes import (
    lookup_counts,
    lookup_error,
    lookup_error_code,
    lookup_id_of,
    parse_time,
)
from airflow_provider_msgflash.exceptions import MsgFlashFinalError
from airflow_provider_msgflash.hooks.lookups import MAX_CLOCK_SKEW, is_candidate, submitted
from airflow_provider_msgflash.operators.contacts import read_import_counts
from airflow_provider_msgflash.readiness import describe_health, readiness_problem, safety_score, small_health
from airflow_provider_msgflash.results import iter_result, same_numbers

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _fresh_notes() -> Iterator[None]:
    shapes.forget_noted_shapes()
    yield
    shapes.forget_noted_shapes()


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- lists ----------------------------------------------------------------------------------------
LOOKUPS = [{"id": "a"}, {"id": "b"}]


@pytest.mark.parametrize(
    ("data", "cursor", "shape"),
    [
        ({"lookups": LOOKUPS, "nextCursor": "c2", "hasMore": True}, "c2", None),
        ({"lookups": LOOKUPS, "nextCursor": None, "hasMore": False}, None, None),
        ({"items": LOOKUPS, "nextCursor": "c2", "hasMore": True}, "c2", "the list under 'items' instead of 'lookups'"),
        ({"results": LOOKUPS}, None, "the list under 'results' instead of 'lookups'"),  # no paging fields: one page
        (LOOKUPS, None, "a plain array in data, no paging (read as one page)"),
        ({"lookups": LOOKUPS, "nextCursor": "c2"}, "c2", None),  # a cursor without hasMore is followed
        ({"lookups": LOOKUPS, "nextCursor": "c2", "hasMore": False}, None, None),  # hasMore false wins
        ({"items": LOOKUPS, "warnings": [], "total": 2}, None, "the list under 'items' instead of 'lookups'"),
    ],
)
def test_read_page_reads_every_plausible_list_shape(data: Any, cursor: str | None, shape: str | None) -> None:
    page = shapes.read_page(data, "lookups")
    assert page.items == LOOKUPS
    assert (page.next or {}).get("cursor") == cursor
    assert page.shape == shape
    assert page.problem is None


@pytest.mark.parametrize(
    ("data", "nxt", "last", "shape"),
    [
        ({"lookups": LOOKUPS, "next": "c2", "hasMore": True}, {"cursor": "c2"}, False, "the cursor under 'next'"),
        ({"lookups": LOOKUPS, "nextPageToken": "t"}, {"cursor": "t"}, False, "the cursor under 'nextPageToken'"),
        ({"lookups": LOOKUPS, "page": 1, "totalPages": 3}, {"page": 2}, False, "page numbers with totals"),
        ({"lookups": LOOKUPS, "page": 3, "totalPages": 3}, None, True, "page numbers with totals"),
        ({"lookups": LOOKUPS, "page": 1, "total": 250}, {"page": 2}, False, "page numbers with totals"),
        ({"lookups": LOOKUPS, "page": 3, "total": 250}, None, True, "page numbers with totals"),
        ({"lookups": LOOKUPS, "hasMore": True}, None, False, "hasMore without a cursor"),  # cannot go on
        ({"lookups": LOOKUPS, "nextCursor": None, "hasMore": False}, None, True, None),
        ({"lookups": LOOKUPS}, None, True, None),  # no paging fields, a short page: the last one
        ({"lookups": LOOKUPS * 50}, None, False, None),  # no paging fields, a full page: more may exist
    ],
)
def test_read_page_follows_every_paging_style(data: Any, nxt: Any, last: bool, shape: str | None) -> None:
    page = shapes.read_page(data, "lookups", limit=100)
    assert (page.next, page.last, page.shape) == (nxt, last, shape)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"count": 2, "nextCursor": None}, "no list in the answer (keys: count, nextCursor)"),
        ({"items": LOOKUPS, "recent": LOOKUPS}, "several lists and none named 'lookups' (items, recent)"),
        (["a", "b"], "the list holds no objects"),
        ("lookups", "the answer is str, not a list or an object"),
        (None, "the answer is NoneType"),
    ],
)
def test_read_page_says_why_it_cannot_read_a_list(data: Any, problem: str) -> None:
    page = shapes.read_page(data, "lookups")
    assert page.items is None
    assert page.problem is not None and page.problem.startswith(problem)


def test_read_page_leaves_out_items_that_are_not_objects_and_says_so() -> None:
    page = shapes.read_page({"lookups": [{"id": "a"}, "b", 3]}, "lookups")
    assert page.items == [{"id": "a"}]
    assert page.shape == "2 item(s) not objects (left out)"


# -- result items ---------------------------------------------------------------------------------
@pytest.mark.parametrize("field", results.NUMBER_FIELDS)
def test_result_item_objects_hold_the_number_under_any_known_field(field: str) -> None:
    assert results.result_number({field: "+41795550000", "status": "ok"}) == "+41795550000"


@pytest.mark.parametrize(
    ("item", "number"),
    [
        ("+41795550000", "+41795550000"),
        ({"value": "+41 79 555 00 00", "checkedAt": "2026-11-24T09:00:00Z"}, "+41 79 555 00 00"),  # the one phone
        ({"a": "+41795550000", "b": "+41795550001"}, None),  # two phone-like strings: cannot tell
        ({"ok": True}, None),
        (41795550000, None),
    ],
)
def test_result_number(item: Any, number: str | None) -> None:
    assert results.result_number(item) == number


def test_iter_result_reads_objects_and_notes_the_shape_once(caplog: pytest.LogCaptureFixture) -> None:
    result = {
        "onWhatsApp": [{"number": "+41795550000"}],
        "notOnWhatsApp": [{"phone": "+41795550001"}],
        "invalid": ["x"],
    }
    with caplog.at_level(logging.WARNING, logger=shapes.__name__):
        first = list(iter_result(result))
        assert list(iter_result(result)) == first
    assert first == [("on_whatsapp", ["+41795550000"]), ("not_on_whatsapp", ["+41795550001"]), ("invalid", ["x"])]
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "result items as objects" in notes[0]


def test_iter_result_refuses_an_item_without_a_number_instead_of_losing_it() -> None:
    with pytest.raises(MsgFlashFinalError) as ei:
        list(iter_result({"onWhatsApp": [{"number": "+41795550000"}, {"ok": True}]}))
    assert ei.value.code == shapes.UNEXPECTED_SHAPE
    assert "{'ok': True}" in str(ei.value) and "onWhatsApp" in str(ei.value)


def test_same_numbers_says_when_it_cannot_tell() -> None:
    result = {"onWhatsApp": [{"number": "+41795550000"}], "notOnWhatsApp": ["0041795550001"], "invalid": []}
    assert same_numbers(result, ["+41795550001", "+41795550000"]) is True
    assert same_numbers(result, ["+41795550002", "+41795550000"]) is False
    assert same_numbers(None, ["+41795550000"]) is None
    assert same_numbers({"summary": {}}, ["+41795550000"]) is None
    assert same_numbers({"onWhatsApp": [{"ok": 1}]}, ["+41795550000"]) is None


# -- counts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "counts", "shape"),
    [
        ({"lookupId": "l", "tag": "t", "imported": 3, "alreadyExisting": 1, "skipped": 2}, (3, 1, 2), None),
        (
            {"importedCount": 3, "alreadyExistingCount": 1, "skippedCount": 2},
            (3, 1, 2),
            "imported as importedCount; alreadyExisting as alreadyExistingCount; skipped as skippedCount",
        ),
        ({"created": 3, "existing": 0, "ignored": 4}, (3, 0, 4), None),
        ({"lookupId": "l", "summary": {"new": 3, "existing": 1}}, (3, 1, None), None),
        ({"lookupId": "l", "tag": "t", "ok": True}, (None, None, None), None),
        ({"imported": True, "alreadyExisting": "1", "skipped": 2.0}, (None, None, None), None),  # not counts
        ("done", (None, None, None), None),
    ],
)
def test_import_counts_under_any_plausible_name_unknown_is_none(answer: Any, counts: tuple, shape: str | None) -> None:
    read = read_import_counts(answer)
    assert tuple(read.counts.values()) == counts
    assert read.complete is (None not in counts)
    if shape is not None:
        assert read.shape == shape
    if None in counts:  # the log names the keys that came back
        assert read.shape is not None and "keys:" in read.shape


def test_import_counts_from_a_summary_object_name_where_they_were_found() -> None:
    read = read_import_counts({"lookupId": "l", "tag": "t", "summary": {"new": 60, "existing": 1}})
    assert (
        read.shape == "imported as summary.new; alreadyExisting as summary.existing; no skipped count "
        "(keys: lookupId, summary, tag)"
    )


def test_lookup_counts_missing_are_unknown_not_zero() -> None:
    counts = lookup_counts({"requestedCount": 5, "checked": 4, "onWhatsAppCount": 0})
    assert counts == {
        "requested": 5,
        "normalized": None,
        "checked": 4,
        "on_whatsapp": 0,
        "not_on_whatsapp": None,
        "invalid": None,
    }


def test_small_answer_keeps_small_answers_and_cuts_big_ones() -> None:
    assert shapes.small_answer({"a": 1}) == {"a": 1}
    big = shapes.small_answer({"numbers": ["+41795550000"] * 500}, limit=100)
    assert isinstance(big, str) and len(big) == 103 and big.endswith("...")


# -- health ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "value"),
    [
        (72, 72.0),
        (72.5, 72.5),
        ("72", 72.0),
        ({"value": 72, "max": 100}, 72.0),
        ({"value": 7.2, "max": 10}, 72.0),
        ({"score": 72}, 72.0),
        ({"max": 100}, None),
        (True, None),
        (None, None),
        ("high", None),
    ],
)
def test_safety_score_as_a_number_or_an_object(score: Any, value: float | None) -> None:
    assert readiness.safety_score({"safetyScore": score}) == value
    assert safety_score({"safetyScore": score}) == value


def test_health_fields_as_objects_are_read_and_described() -> None:
    health = {
        "safetyState": {"level": "at_risk"},
        "safetyScore": {"value": 35, "max": 100},
        "recommendations": [{"code": "SLOW_DOWN", "message": "Send fewer messages"}, "Warm up"],
    }
    assert readiness.health_state(health) == "at_risk"
    assert readiness.health_recommendations(health) == ["Send fewer messages (SLOW_DOWN)", "Warm up"]
    text = describe_health(health)
    assert text == "safetyState=at_risk, safetyScore=35; recommendations: Send fewer messages (SLOW_DOWN); Warm up"
    assert small_health(health) == {"safetyState": "at_risk", "safetyScore": 35.0}
    problem = readiness_problem("i", {"status": "connected"}, health, 50)
    assert problem is not None and "safetyScore is 35 (below min_safety_score 50)" in problem
    assert readiness_problem("i", {"status": "connected"}, {**health, "safetyScore": {"value": 92}}, 50) is None


def test_health_unreadable_parts_are_shown_not_hidden() -> None:
    health = {"safetyState": {"colour": "green"}, "safetyScore": "high", "recommendations": "Rest a day"}
    assert describe_health(health) == (
        'safetyState={"colour": "green"}, safetyScore unreadable (\'high\'); recommendations: Rest a day'
    )
    assert describe_health({"warmupPolicy": {}}) == "no safety figures (keys: warmupPolicy)"
    problem = readiness_problem("i", {"status": "connected"}, health, 50)
    assert problem is not None and problem.startswith("instance i safetyScore is unknown (min_safety_score 50 cannot")


def test_event_trigger_snapshot_reads_health_objects() -> None:
    from airflow_provider_msgflash.triggers.instance_events import snapshot

    health = {"safetyState": {"level": "healthy"}, "safetyScore": {"value": 92, "max": 100}}
    snap = snapshot({"status": "connected", "providerState": "open"}, health, 50)
    assert (snap["safetyScore"], snap["safetyState"], snap["healthy"]) == (92.0, "healthy", True)


def test_a_shape_is_noted_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=shapes.__name__):
        for _ in range(3):
            shapes.note_shape("GET /x", "odd")
        shapes.note_shape("GET /x", "odder")
        shapes.forget_noted_shapes()
        shapes.note_shape("GET /x", "odd")
    assert [r.getMessage().split(": ", 1)[1].split(".")[0] for r in caplog.records] == ["odd", "odder", "odd"]


# -- timestamps and "the lookup we submitted" -------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T09:00:00.000Z", NOW),
        ("2026-11-24T09:00:00", NOW),
        ("2026-11-24T10:00:00+01:00", NOW),
        (NOW.timestamp(), NOW),
        (NOW.timestamp() * 1000, NOW),
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def _item(**fields: Any) -> dict[str, Any]:
    base = {"id": "l1", "instanceId": "i1", "requestedCount": 3, "status": "done", "createdAt": _iso(NOW)}
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


@pytest.mark.parametrize(
    ("fields", "candidate"),
    [
        ({}, True),
        ({"createdAt": _iso(NOW - timedelta(seconds=50))}, True),
        ({"requestedCount": None, "requested": 3}, True),
        ({"id": None, "lookupId": "l1"}, True),
        ({"instanceId": None}, True),  # not said: proven (or not) by its numbers
        ({"requestedCount": None}, True),
        ({"createdAt": None}, True),
        ({"createdAt": _iso(NOW - timedelta(minutes=7))}, True),  # server clock behind, or an older lookup
        ({"createdAt": _iso(NOW - timedelta(minutes=20))}, False),
        ({"instanceId": "i2"}, False),
        ({"requestedCount": 4}, False),
        ({"status": "cancelled"}, False),
        ({"status": "failed"}, False),
        ({"id": None}, False),
    ],
)
def test_which_listed_lookups_are_candidates(fields: dict[str, Any], candidate: bool) -> None:
    assert is_candidate(_item(**fields), "i1", 3, NOW - MAX_CLOCK_SKEW) is candidate


def test_a_server_clock_ahead_never_hides_our_lookup() -> None:
    """Created "in the future" (the server's clock 7 minutes ahead), our lookup is still a candidate, and so
    is an older one of the same size: their numbers decide, not their times."""
    ahead = timedelta(minutes=7)
    items = [
        _item(id="mine", createdAt=_iso(NOW + ahead)),
        _item(id="older", createdAt=_iso(NOW + ahead - timedelta(minutes=3))),
    ]
    assert [is_candidate(i, "i1", 3, NOW - MAX_CLOCK_SKEW) for i in items] == [True, True]


def test_a_failed_lookups_error_as_text_and_code() -> None:
    assert lookup_error({"error": {"code": "ACCOUNT_BLOCKED", "message": "blocked"}}) == "ACCOUNT_BLOCKED: blocked"
    assert lookup_error({"error": "INSTANCE_DISCONNECTED: the instance went away"}).startswith("INSTANCE_")
    assert lookup_error({"error": None}) is None and lookup_error({}) is None
    assert lookup_error_code({"error": {"code": "ACCOUNT_BLOCKED", "message": "blocked"}}) == "ACCOUNT_BLOCKED"
    assert lookup_error_code({"error": "INSTANCE_DISCONNECTED: the instance went away"}) == "INSTANCE_DISCONNECTED"
    assert lookup_error_code({"error": "the provider stopped answering"}) is None
    assert "{" not in lookup_error({"error": {"code": "X_Y", "message": "m"}})  # never a Python dict repr


def test_recovered_submission_without_mode() -> None:
    item = _item(mode=None, requestedCount=150, status="processing")
    assert submitted(item) == {
        "mode": "async",
        "lookupId": "l1",
        "status": "processing",
        "requested": 150,
        "recovered": True,
    }
    assert submitted(_item(mode="sync", requestedCount=None))["mode"] == "sync"
    assert submitted(_item(requestedCount=None))["mode"] is None
    assert lookup_id_of({"lookupId": "x"}) == "x" and lookup_id_of({"id": 3}) is None

"""The documented contract of each route under /api/v1 (MsgFlash's public API docs and their examples):
fields, status codes, envelopes and validation errors. Every test runs under every dialect (and none):
dialects change only what the docs do not show. The assumed shapes are tested in test_dialects.py."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import (
    SEEDED_INSTANCES,
    SandboxHandle,
    is_on_whatsapp,
    normalize_number,
)
from tests.sandbox.sandbox_testkit import (
    INSTANCE_FIELDS,
    ISO_RE,
    PROGRESS_FIELDS,
    SYNC_FIELDS,
    Api,
    assert_consistent,
    envelope,
    error_of,
    nums,
    wait_status,
)

pytestmark = pytest.mark.usefixtures("each_dialect")


def test_list_instances_plain_array_with_documented_fields(api: Api) -> None:
    data = api.data("GET", "/instances")
    assert isinstance(data, list)
    by_name = {i["name"]: i for i in data}
    assert set(by_name) == set(SEEDED_INSTANCES)
    for item in data:
        assert set(item) == INSTANCE_FIELDS
        assert item["status"] in ("disconnected", "connecting", "connected")
        assert item["deletedAt"] is None
        assert item["createdAt"] and item["updatedAt"]
        uuid.UUID(item["id"])
    assert len({i["waNumber"] for i in data}) == len(data)
    assert all(normalize_number(i["waNumber"]) == i["waNumber"] for i in data)
    for name, seed in SEEDED_INSTANCES.items():
        assert by_name[name]["id"] == seed.id
        assert by_name[name]["status"] == seed.status
    assert by_name["sandbox-connected"]["status"] == "connected"
    assert by_name["sandbox-unhealthy"]["status"] == "connected"
    assert by_name["sandbox-disconnected"]["status"] == "disconnected"
    assert by_name["sandbox-connecting"]["status"] == "connecting"
    assert by_name["sandbox-warming"]["status"] == "connecting"


def test_list_instances_timestamps_are_iso_millis(api: Api) -> None:

    for item in api.data("GET", "/instances"):
        assert re.match(ISO_RE, item["createdAt"]) and re.match(ISO_RE, item["updatedAt"])


def test_get_instance_and_state(api: Api, sb: SandboxHandle) -> None:
    expected = {"connected": "open", "connecting": "connecting", "disconnected": "close"}
    for name in SEEDED_INSTANCES:
        iid = sb.instance_id(name)
        inst = api.data("GET", f"/instances/{iid}")
        assert inst["id"] == iid and inst["name"] == name and set(inst) == INSTANCE_FIELDS
        state = api.data("GET", f"/instances/{iid}/state")
        assert state == {"instanceId": iid, "status": inst["status"], "providerState": expected[inst["status"]]}


def test_health_fields(api: Api, sb: SandboxHandle) -> None:
    """The documented field names (their shapes are assumed: see test_dialects.py)."""
    for name in SEEDED_INSTANCES:
        h = api.data("GET", f"/instances/{sb.instance_id(name)}/health")
        assert {"safetyState", "safetyScore", "warmupPolicy", "usageWindowSummary", "recommendations"} <= set(h)


# A stable id for the random UUID: pytest-xdist's workers must collect the same test ids.
@pytest.mark.parametrize(
    "iid", [pytest.param(str(uuid.uuid4()), id="random-uuid"), "not-a-uuid", "sandbox-connected", "%20", "x" * 300]
)
@pytest.mark.parametrize("suffix", ["", "/state", "/health"])
def test_unknown_or_malformed_instance_is_404(api: Api, iid: str, suffix: str) -> None:
    error_of(api.get(f"/instances/{iid}{suffix}"), 404, "NOT_FOUND")


def test_sync_lookup_documented_example(api: Api, connected: str) -> None:
    r = api.post("/number-lookups", json={"instanceId": connected, "numbers": ["+41791234567", "+81476222311"]})
    assert r.status_code == 200
    data = envelope(r)["data"]
    assert set(data) == SYNC_FIELDS
    assert data["mode"] == "sync" and data["status"] == "done"
    uuid.UUID(data["lookupId"])
    # The docs' example: 2 requested, 2 normalized, 2 checked, one on and one off WhatsApp.
    assert (data["requested"], data["normalized"], data["checked"], data["invalidCount"]) == (2, 2, 2, 0)
    assert (data["onWhatsAppCount"], data["notOnWhatsAppCount"]) == (0, 2)  # both end in an odd digit
    assert data["result"] == {"onWhatsApp": [], "notOnWhatsApp": ["+41791234567", "+81476222311"], "invalid": []}


def test_sync_lookup_normalises_keeps_duplicates_and_reports_invalid(api: Api, connected: str) -> None:
    raw = ["+41 79 123 45 68", "0041-79-123.45.68", "(+41)791234567", "+41791234567", "079 123 45 67", "abc", ""]
    data = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": raw})
    assert data["requested"] == 7 == data["normalized"] + data["invalidCount"]
    assert data["result"]["onWhatsApp"] == ["+41791234568", "+41791234568"]
    assert data["result"]["notOnWhatsApp"] == ["+41791234567", "+41791234567"]
    assert data["result"]["invalid"] == ["079 123 45 67", "abc", ""]
    assert data["checked"] == data["onWhatsAppCount"] + data["notOnWhatsAppCount"] == 4


def test_sync_lookup_99_numbers_and_rule(api: Api, connected: str) -> None:
    numbers = nums(99)
    data = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": numbers})
    assert data["mode"] == "sync"
    assert data["result"]["onWhatsApp"] == [n for n in numbers if is_on_whatsapp(n)]
    assert data["result"]["notOnWhatsApp"] == [n for n in numbers if not is_on_whatsapp(n)]
    progress = api.data("GET", f"/number-lookups/{data['lookupId']}/progress")
    assert (progress["status"], progress["progress"], progress["checkedCount"]) == ("done", 100, 99)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"numbers": ["+41791234567"]}, "instanceId"),
        ({"instanceId": 5, "numbers": ["+41791234567"]}, "instanceId"),
        ({"instanceId": "", "numbers": ["+41791234567"]}, "instanceId"),
        ({"instanceId": "i"}, "numbers"),
        ({"instanceId": "i", "numbers": []}, "numbers"),
        ({"instanceId": "i", "numbers": "+41791234567"}, "numbers"),
        ({"instanceId": "i", "numbers": ["+41791234567", 41791234567]}, "numbers.1"),
        ({"instanceId": "i", "numbers": ["+41790000000"] * 10_001}, "numbers"),
        ([1, 2], "body"),
        ("text", "body"),
        (None, "instanceId"),
    ],
)
def test_lookup_body_validation_names_field(api: Api, body: Any, field: str) -> None:
    r = api.post("/number-lookups", json=body) if body is not None else api.post("/number-lookups")
    err = error_of(r, 400, "VALIDATION_ERROR")
    assert field in err["message"]
    if "details" in err:
        assert any(d["field"] == field for d in err["details"]), err


def test_malformed_json_is_bad_request(api: Api) -> None:
    r = api.post("/number-lookups", data=b'{"instanceId": ', headers={"Content-Type": "application/json"})
    error_of(r, 400, "BAD_REQUEST")


def test_unknown_instance_on_create_is_not_found(api: Api) -> None:
    error_of(api.post("/number-lookups", json={"instanceId": str(uuid.uuid4()), "numbers": nums(3)}), 404, "NOT_FOUND")


@pytest.mark.parametrize("name", ["sandbox-disconnected", "sandbox-connecting"])
def test_lookup_on_not_connected_instance_is_conflict(api: Api, sb: SandboxHandle, name: str) -> None:
    iid = sb.instance_id(name)
    err = error_of(api.post("/number-lookups", json={"instanceId": iid, "numbers": nums(3)}), 409, "CONFLICT")
    status = SEEDED_INSTANCES[name].status
    assert "not connected" in err["message"] and f"status: {status}" in err["message"]
    assert sb.state()["lookups"] == []


def test_async_lookup_answer_and_counters_at_every_poll(api: Api, connected: str, sb: SandboxHandle) -> None:
    numbers = [*nums(900), "bad", "00417955512345", "+0123456789", "12"]
    r = api.post("/number-lookups", json={"instanceId": connected, "numbers": numbers})
    assert r.status_code == 202
    data = envelope(r)["data"]
    assert set(data) == {"mode", "lookupId", "status", "requested", "message"}
    assert (data["mode"], data["status"], data["requested"]) == ("async", "pending", 904)
    assert isinstance(data["message"], str) and data["message"]
    lid = data["lookupId"]
    uuid.UUID(lid)

    seen: list[str] = []
    last_checked = -1
    polls = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        polls += 1
        p = api.data("GET", f"/number-lookups/{lid}/progress")
        assert set(p) == PROGRESS_FIELDS
        assert_consistent(p)
        assert (p["requestedCount"], p["normalizedCount"], p["invalidCount"]) == (904, 901, 3)
        assert p["checkedCount"] >= last_checked
        last_checked = p["checkedCount"]
        if not seen or seen[-1] != p["status"]:
            seen.append(p["status"])
        if p["status"] == "done":
            break
        assert p["completedAt"] is None
    assert seen[-1] == "done" and set(seen) <= {"pending", "processing", "done"}
    assert "processing" in seen and polls > 5
    assert p["progress"] == 100 and p["completedAt"] and p["error"] is None
    valid = [n for n in numbers if normalize_number(n)]
    assert p["onWhatsAppCount"] == sum(map(is_on_whatsapp, valid)) and p["checkedCount"] == len(valid)


def test_unknown_lookup_is_lookup_not_found(api: Api) -> None:
    lid = str(uuid.uuid4())
    for path in (f"/number-lookups/{lid}", f"/number-lookups/{lid}/progress"):
        error_of(api.get(path), 404, "LOOKUP_NOT_FOUND")
    error_of(api.post(f"/number-lookups/{lid}/cancel"), 404, "LOOKUP_NOT_FOUND")
    error_of(api.post(f"/number-lookups/{lid}/import-contacts", json={"tag": "x"}), 404, "LOOKUP_NOT_FOUND")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"), ({"cursor": "nope"}, "cursor")],
)
def test_list_lookups_bad_parameters(api: Api, each_dialect: str, params: dict[str, Any], field: str) -> None:
    if field == "cursor" and each_dialect == "list-page-numbers":
        # That dialect pages by number and ignores cursor (test_dialects.py checks its page parameter).
        assert api.get("/number-lookups", params=params).status_code == 200
        return
    err = error_of(api.get("/number-lookups", params=params), 400, "VALIDATION_ERROR")
    assert field in err["message"]


def test_cancel_pending_and_processing(api: Api, connected: str, sb: SandboxHandle) -> None:
    sb.set_faults(pace=0.2)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(200)})["lookupId"]
    out = api.data("POST", f"/number-lookups/{lid}/cancel")
    assert set(out) == {"id", "status", "completedAt"} and out["id"] == lid and out["status"] == "cancelled"
    sb.set_faults(pace=0.02)
    lid2 = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(2000)})["lookupId"]
    p = wait_status(api, lid2, {"processing"})
    deadline = time.monotonic() + 10
    while p["checkedCount"] == 0 and time.monotonic() < deadline:
        p = api.data("GET", f"/number-lookups/{lid2}/progress")
    assert api.data("POST", f"/number-lookups/{lid2}/cancel")["status"] == "cancelled"
    first = api.data("GET", f"/number-lookups/{lid2}/progress")
    time.sleep(0.1)  # five batch intervals: nothing moves any more
    later = api.data("GET", f"/number-lookups/{lid2}/progress")
    assert later["status"] == "cancelled" and later["checkedCount"] == first["checkedCount"] < 2000
    assert later["completedAt"]
    assert_consistent(later)


def test_cancel_finished_lookup_cannot_be_cancelled(api: Api, connected: str, sb: SandboxHandle) -> None:
    sync_id = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(3)})["lookupId"]
    error_of(api.post(f"/number-lookups/{sync_id}/cancel"), 400, "LOOKUP_CANNOT_BE_CANCELLED")
    sb.set_faults(pace=0.2)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(150)})["lookupId"]
    api.data("POST", f"/number-lookups/{lid}/cancel")
    error_of(api.post(f"/number-lookups/{lid}/cancel"), 400, "LOOKUP_CANNOT_BE_CANCELLED")
    sb.set_faults(fail_lookups=1, pace=0)
    failed = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(150)})
    assert api.data("GET", f"/number-lookups/{failed['lookupId']}/progress")["status"] == "failed"
    error_of(api.post(f"/number-lookups/{failed['lookupId']}/cancel"), 400, "LOOKUP_CANNOT_BE_CANCELLED")


@pytest.mark.parametrize(
    "body", [{}, {"tag": ""}, {"tag": "has space"}, {"tag": "x" * 65}, {"tag": 5}, {"tag": "ä"}, None]
)
def test_import_tag_validation(api: Api, connected: str, body: Any) -> None:
    lid = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(3)})["lookupId"]
    r = (
        api.post(f"/number-lookups/{lid}/import-contacts", json=body)
        if body is not None
        else api.post(f"/number-lookups/{lid}/import-contacts")
    )
    err = error_of(r, 400, "VALIDATION_ERROR")
    assert "tag" in err["message"]


def test_import_of_unfinished_lookup_is_conflict(api: Api, connected: str, sb: SandboxHandle) -> None:
    sb.set_faults(pace=0.5)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(200)})["lookupId"]
    err = error_of(api.post(f"/number-lookups/{lid}/import-contacts", json={"tag": "t"}), 409, "CONFLICT")
    assert "pending" in err["message"] or "processing" in err["message"]
    assert "wait until it is done" in err["message"]
    api.data("POST", f"/number-lookups/{lid}/cancel")
    err = error_of(api.post(f"/number-lookups/{lid}/import-contacts", json={"tag": "t"}), 409, "CONFLICT")
    assert "cancelled" in err["message"]


def test_me_with_personal_key(api: Api) -> None:
    me = api.data("GET", "/me")
    assert {"id", "name", "email", "plan"} <= set(me)

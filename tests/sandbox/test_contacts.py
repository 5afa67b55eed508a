"""Contacts: create, get, conflicts, paging, search and sort; import from a lookup with a tag. Every test
runs under every dialect (and none)."""

from __future__ import annotations

import uuid

import pytest

from airflow_provider_msgflash.sandbox import (
    SandboxHandle,
    is_on_whatsapp,
)
from tests.sandbox.sandbox_testkit import (
    Api,
    envelope,
    error_of,
    nums,
    wait_status,
)

pytestmark = pytest.mark.usefixtures("each_dialect")


def test_import_only_on_whatsapp_with_tag_and_no_duplicates(api: Api, connected: str, sb: SandboxHandle) -> None:
    numbers = [*nums(120), "bad", "+41 79 555 0002"]  # the last one duplicates +41795550002
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": numbers})["lookupId"]
    wait_status(api, lid, {"done"})
    on = [n for n in nums(120) if is_on_whatsapp(n)]
    # The answer's shape is assumed (see test_dialects.py); what the import did is read from the contacts.
    for tag in ("verified-whatsapp", "verified-whatsapp", "campaign:2026.04_x"):
        api.data("POST", f"/number-lookups/{lid}/import-contacts", json={"tag": tag})
    contacts = api.data("GET", "/contacts", params={"limit": 100})
    assert contacts["total"] == 60
    assert sorted(c["phone"] for c in contacts["contacts"]) == sorted(on)
    for c in contacts["contacts"]:
        assert {"id", "name", "phone", "tags"} <= set(c)
        assert c["tags"] == ["verified-whatsapp", "campaign:2026.04_x"]
        assert c["name"] == c["phone"]
    assert sb.state()["contacts"] == 60


def test_contacts_create_get_conflict(api: Api) -> None:
    r = api.post("/contacts", json={"name": "Ada", "phone": "+41791112233", "tags": ["vip"], "meta": {"k": 1}})
    assert r.status_code == 201
    c = envelope(r)["data"]
    assert (c["name"], c["phone"], c["tags"], c["meta"]) == ("Ada", "+41791112233", ["vip"], {"k": 1})
    assert api.data("GET", f"/contacts/{c['id']}") == c
    err = error_of(api.post("/contacts", json={"name": "Other", "phone": "+41791112233"}), 409, "CONFLICT")
    assert "+41791112233" in err["message"]
    error_of(api.get(f"/contacts/{uuid.uuid4()}"), 404, "NOT_FOUND")
    for body, field in [
        ({"phone": "+41791112234"}, "name"),
        ({"name": "x", "phone": "0791112233"}, "phone"),
        ({"name": "x"}, "phone"),
        ({"name": "x", "phone": "+41791112235", "tags": ["bad tag"]}, "tags"),
    ]:
        assert field in error_of(api.post("/contacts", json=body), 400, "VALIDATION_ERROR")["message"]


def test_contacts_paging_search_sort(api: Api) -> None:
    phones = [f"+4179000{i:04d}" for i in range(130)]
    for i, p in enumerate(phones):
        api.data("POST", "/contacts", 201, json={"name": f"Person {i:03d}", "phone": p})
    page = api.data("GET", "/contacts")
    assert set(page) == {"contacts", "total", "limit", "sort", "nextCursor", "hasMore"}
    assert (page["total"], page["limit"], len(page["contacts"]), page["hasMore"]) == (130, 50, 50, True)
    assert page["sort"] == "-createdAt"
    assert [c["phone"] for c in page["contacts"]] == phones[::-1][:50]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        pg = api.data("GET", "/contacts", params={"limit": 40, "cursor": cursor, "sort": "phone"})
        seen += [c["phone"] for c in pg["contacts"]]
        cursor = pg["nextCursor"]
        if not pg["hasMore"]:
            assert cursor is None
            break
    assert seen == sorted(phones)
    found = api.data("GET", "/contacts", params={"search": "person 12"})
    assert found["total"] == 10 and all("Person 12" in c["name"] for c in found["contacts"])
    names = api.data("GET", "/contacts", params={"sort": "-name", "limit": 3})
    assert [c["name"] for c in names["contacts"]] == ["Person 129", "Person 128", "Person 127"]
    assert api.data("GET", "/contacts", params={"limit": 100})["hasMore"] is True
    error_of(api.get("/contacts", params={"limit": 101}), 400, "VALIDATION_ERROR")
    error_of(api.get("/contacts", params={"sort": "random"}), 400, "VALIDATION_ERROR")
    # A cursor of one sort order is refused by another.
    error_of(api.get("/contacts", params={"cursor": page["nextCursor"], "sort": "name"}), 400, "VALIDATION_ERROR")

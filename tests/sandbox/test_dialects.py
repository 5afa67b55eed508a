"""Dialects: the shape of each undocumented answer, canonical and in each dialect; dialect names and
their errors; switching while running; each dialect's answers checked against that dialect's model."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import (
    ALL_DIALECTS,
    DIALECTS,
    SEEDED_INSTANCES,
    SandboxAdminError,
    SandboxConfig,
    SandboxHandle,
    is_on_whatsapp,
    normalize_number,
    running_sandbox,
)
from airflow_provider_msgflash.sandbox.dialects import CLOCK_SKEW, SHORT_PAGE, parse_dialect
from airflow_provider_msgflash.sandbox.models import Lookup
from airflow_provider_msgflash.sandbox.seeds import SEED_CREATED
from tests.sandbox.sandbox_testkit import PROGRESS_FIELDS, Api, assert_consistent, error_of, nums, wait_status

LIST_ITEM_FIELDS = PROGRESS_FIELDS | {"mode", "instanceId"}


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def create(api: Api, instance: str, numbers: list[str]) -> str:
    status = 200 if len(numbers) < 100 else 202
    lookup_id: str = api.data("POST", "/number-lookups", status, json={"instanceId": instance, "numbers": numbers})[
        "lookupId"
    ]
    return lookup_id


# -- names ------------------------------------------------------------------------------------------
def test_parse_dialect() -> None:
    assert parse_dialect(None) == parse_dialect("") == parse_dialect("none") == parse_dialect([]) == ()
    assert parse_dialect(" clock-ahead , LIST-ITEMS ") == ("list-items", "clock-ahead")  # in the order they apply
    assert parse_dialect(["import-summary", "import-summary"]) == ("import-summary",)
    assert parse_dialect("all") == ALL_DIALECTS
    assert ALL_DIALECTS == (
        "updated-now",
        "no-mode",
        "result-objects",
        "error-object",
        "list-short-pages",
        "list-items",
        "health-objects",
        "import-counts",
        "clock-ahead",
    )
    assert set(DIALECTS) == {
        "updated-now",
        "updated-missing",
        "no-mode",
        "result-objects",
        "error-object",
        "list-short-pages",
        "list-cursor-renamed",
        "list-no-has-more",
        "list-page-numbers",
        "list-items",
        "list-array",
        "health-objects",
        "import-counts",
        "import-summary",
        "clock-ahead",
        "clock-behind",
    }
    with pytest.raises(ValueError, match=r"unknown 'items'; known: updated-now, .*all \(= updated-now,"):
        parse_dialect("items")
    with pytest.raises(ValueError, match="list-items and list-array are two shapes of the same thing"):
        parse_dialect("list-array,list-items")
    with pytest.raises(ValueError, match="clock-ahead and clock-behind"):
        parse_dialect("all,clock-behind")
    with pytest.raises(ValueError, match="list-short-pages and list-page-numbers are two shapes of the same thing"):
        parse_dialect("list-page-numbers,list-short-pages")
    with pytest.raises(ValueError, match="list-array cannot be combined with list-cursor-renamed: it has no paging"):
        parse_dialect("list-array,list-cursor-renamed")
    assert parse_dialect("list-items,list-page-numbers,error-object") == (
        "error-object",
        "list-page-numbers",
        "list-items",
    )
    with pytest.raises(ValueError, match="dialect"):
        SandboxConfig(dialect="nonsense")
    assert SandboxConfig(dialect="all,").dialect == ALL_DIALECTS


# -- the lookup list --------------------------------------------------------------------------------
def _pages(api: Api, key: str | None, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(10):
        page = api.data("GET", "/number-lookups", params={"limit": limit, "cursor": cursor})
        if key is None:
            assert isinstance(page, list)
            return [page]
        assert set(page) == {key, "nextCursor", "hasMore"}
        pages.append(page[key])
        cursor = page["nextCursor"]
        assert page["hasMore"] is (cursor is not None)
        if cursor is None:
            break
    return pages


@pytest.mark.parametrize(("dialect", "key"), [("none", "lookups"), ("list-items", "items"), ("list-array", None)])
def test_list_shapes(api: Api, sb: SandboxHandle, connected: str, dialect: str, key: str | None) -> None:
    sb.set_dialect(dialect)
    created = [create(api, connected, nums(2 + i)) for i in range(25)]
    newest_first = created[::-1]
    first = _pages(api, key, 20)
    assert [x["id"] for x in first[0]] == newest_first[:20]
    for item in first[0]:
        assert set(item) == LIST_ITEM_FIELDS
        assert_consistent(item)
    paged = [x["id"] for page in _pages(api, key, 7) for x in page]
    assert paged == (newest_first if key else newest_first[:7])  # a plain array has no next page
    assert len(_pages(api, key, 100)[0]) == 25


def test_list_items_lose_mode_and_updated_at_in_those_dialects(api: Api, sb: SandboxHandle, connected: str) -> None:
    lid = create(api, connected, nums(3))
    sb.set_dialect("no-mode,updated-missing")
    (item,) = api.data("GET", "/number-lookups")["lookups"]
    assert item["id"] == lid and set(item) == LIST_ITEM_FIELDS - {"mode", "updatedAt"}


# -- how the lookup list pages ----------------------------------------------------------------------
def _walk(api: Api, cursor_key: str, limit: int, has_more: bool = True) -> list[list[str]]:
    """Every page (ids) of the list, following ``cursor_key``; checks ``hasMore`` agrees when present."""
    pages: list[list[str]] = []
    cursor = None
    for _ in range(30):
        page = api.data("GET", "/number-lookups", params={"limit": limit, "cursor": cursor})
        assert set(page) == {"lookups", cursor_key, *(["hasMore"] if has_more else [])}
        pages.append([x["id"] for x in page["lookups"]])
        cursor = page[cursor_key]
        if has_more:
            assert page["hasMore"] is (cursor is not None)
        if cursor is None:
            return pages
    raise AssertionError("more than 30 pages")


def test_list_short_pages(api: Api, sb: SandboxHandle, connected: str) -> None:
    newest_first = [create(api, connected, nums(2)) for _ in range(20)][::-1]
    sb.set_dialect("list-short-pages")
    first = api.data("GET", "/number-lookups", params={"limit": 20})
    assert len(first["lookups"]) == SHORT_PAGE < 20 and first["hasMore"] is True and first["nextCursor"]
    pages = _walk(api, "nextCursor", 100)
    assert [len(p) for p in pages] == [7, 7, 6] and [i for p in pages for i in p] == newest_first
    assert [len(p) for p in _walk(api, "nextCursor", 5)] == [5, 5, 5, 5]  # a smaller limit is kept


def test_list_cursor_renamed(api: Api, sb: SandboxHandle, connected: str) -> None:
    newest_first = [create(api, connected, nums(2)) for _ in range(12)][::-1]
    sb.set_dialect("list-cursor-renamed")
    pages = _walk(api, "nextPageToken", 5)  # the request parameter is still cursor
    assert [i for p in pages for i in p] == newest_first and len(pages) == 3


def test_list_no_has_more(api: Api, sb: SandboxHandle, connected: str) -> None:
    newest_first = [create(api, connected, nums(2)) for _ in range(12)][::-1]
    sb.set_dialect("list-no-has-more")
    pages = _walk(api, "nextCursor", 5, has_more=False)
    assert [i for p in pages for i in p] == newest_first and len(pages) == 3


def test_list_page_numbers(api: Api, sb: SandboxHandle, connected: str) -> None:
    newest_first = [create(api, connected, nums(2)) for _ in range(17)][::-1]
    sb.set_dialect("list-page-numbers")
    first = api.data("GET", "/number-lookups", params={"limit": 5})
    assert set(first) == {"lookups", "page", "totalPages", "total"}
    assert (first["page"], first["totalPages"], first["total"]) == (1, 4, 17)
    assert all(set(x) == LIST_ITEM_FIELDS for x in first["lookups"])
    walked: list[str] = []
    for number in range(1, first["totalPages"] + 1):
        page = api.data("GET", "/number-lookups", params={"page": number, "limit": 5})
        assert (page["page"], page["totalPages"], page["total"]) == (number, 4, 17)
        walked += [x["id"] for x in page["lookups"]]
    assert walked == newest_first  # walking pages by number reaches every lookup
    ignored = api.data("GET", "/number-lookups", params={"limit": 5, "cursor": "anything"})
    assert ignored == first  # no cursor in this dialect: ignored, page 1
    past = api.data("GET", "/number-lookups", params={"page": 9, "limit": 5})
    assert (past["lookups"], past["page"], past["totalPages"]) == ([], 9, 4)
    assert len(api.data("GET", "/number-lookups")["lookups"]) == 17  # limit 20 by default
    for bad in (0, -1, "x"):
        err = error_of(api.get("/number-lookups", params={"page": bad}), 400, "VALIDATION_ERROR")
        assert "page" in err["message"]


def test_list_page_numbers_under_items(api: Api, sb: SandboxHandle, connected: str) -> None:
    lid = create(api, connected, nums(2))
    sb.set_dialect("list-page-numbers,list-items")
    page = api.data("GET", "/number-lookups")
    assert [x["id"] for x in page.pop("items")] == [lid] and page == {"page": 1, "totalPages": 1, "total": 1}
    assert api.data("GET", "/number-lookups", params={"page": 2})["items"] == []


def test_empty_list_in_each_paging_dialect(api: Api, sb: SandboxHandle) -> None:
    expected = {
        "list-short-pages": {"lookups": [], "nextCursor": None, "hasMore": False},
        "list-cursor-renamed": {"lookups": [], "nextPageToken": None, "hasMore": False},
        "list-no-has-more": {"lookups": [], "nextCursor": None},
        "list-page-numbers": {"lookups": [], "page": 1, "totalPages": 0, "total": 0},
    }
    assert set(expected) == {n for n, d in DIALECTS.items() if d.group == "paging"}
    for name, answer in expected.items():
        sb.set_dialect(name)
        assert api.data("GET", "/number-lookups") == answer


# -- the lookup detail ------------------------------------------------------------------------------
def test_detail_canonical(api: Api, sb: SandboxHandle, connected: str) -> None:
    numbers = [*nums(120), "bad", "+0123456789"]
    sync = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(5)})
    detail = api.data("GET", f"/number-lookups/{sync['lookupId']}")
    assert set(detail) == LIST_ITEM_FIELDS | {"result"}
    assert (detail["mode"], detail["instanceId"], detail["status"]) == ("sync", connected, "done")
    assert detail["result"] == sync["result"]  # as in the (documented) sync answer
    sb.set_faults(pace=0.005)
    lid = create(api, connected, numbers)
    wait_status(api, lid, {"done"})
    final = api.data("GET", f"/number-lookups/{lid}")
    valid = [e for e in map(normalize_number, numbers) if e]
    assert final["result"] == {
        "onWhatsApp": [n for n in valid if is_on_whatsapp(n)],
        "notOnWhatsApp": [n for n in valid if not is_on_whatsapp(n)],
        "invalid": ["bad", "+0123456789"],
    }
    assert (final["mode"], final["progress"]) == ("async", 100)
    sb.set_faults(pace="realistic")
    running = create(api, connected, nums(100))
    assert "result" not in api.data("GET", f"/number-lookups/{running}")  # only once done
    api.data("POST", f"/number-lookups/{running}/cancel")
    assert "result" not in api.data("GET", f"/number-lookups/{running}")


def test_detail_result_objects(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_dialect("result-objects")
    sync = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": [*nums(4), "x"]})
    detail = api.data("GET", f"/number-lookups/{sync['lookupId']}")
    assert detail["result"] == {
        "onWhatsApp": [{"number": "+41795550000"}, {"number": "+41795550002"}],
        "notOnWhatsApp": [{"number": "+41795550001"}, {"number": "+41795550003"}],
        "invalid": [{"number": "x"}],
    }
    assert sync["result"]["onWhatsApp"] == ["+41795550000", "+41795550002"]  # the documented answer keeps strings


@pytest.mark.parametrize(("dialect", "gone"), [("no-mode", "mode"), ("updated-missing", "updatedAt")])
def test_detail_without_a_field(api: Api, sb: SandboxHandle, connected: str, dialect: str, gone: str) -> None:
    sb.set_dialect(dialect)
    lid = create(api, connected, nums(3))
    detail = api.data("GET", f"/number-lookups/{lid}")
    assert set(detail) == (LIST_ITEM_FIELDS | {"result"}) - {gone}
    assert set(api.data("GET", f"/number-lookups/{lid}/progress")) == PROGRESS_FIELDS  # documented: unchanged


# -- a lookup's error -------------------------------------------------------------------------------
def test_error_canonical_string_and_error_object(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(fail_lookups=1, fail_error="ACCOUNT_BLOCKED: The account was blocked", pace=0)
    failed = create(api, connected, nums(100))
    ok = create(api, connected, nums(3))
    canonical = api.data("GET", f"/number-lookups/{failed}/progress")["error"]
    assert canonical == "ACCOUNT_BLOCKED: The account was blocked"
    sb.set_dialect("error-object")
    expected = {"code": "ACCOUNT_BLOCKED", "message": "The account was blocked"}
    assert api.data("GET", f"/number-lookups/{failed}/progress")["error"] == expected
    assert api.data("GET", f"/number-lookups/{failed}")["error"] == expected
    listed = api.data("GET", "/number-lookups")["lookups"]
    assert [x["error"] for x in listed] == [None, expected]
    assert api.data("GET", f"/number-lookups/{ok}/progress")["error"] is None  # no error: still null
    sb.set_faults(fail_lookups=1, fail_error=None)
    default = api.data("GET", f"/number-lookups/{create(api, connected, nums(100))}/progress")["error"]
    assert default["code"] == "PROVIDER_TIMEOUT" and "stopped answering" in default["message"]
    sb.set_faults(disconnect_during_lookup=1)
    gone = api.data("GET", f"/number-lookups/{create(api, connected, nums(100))}/progress")["error"]
    assert gone["code"] == "INSTANCE_DISCONNECTED" and connected in gone["message"]
    assert sb.state()["lookups"][0]["error"] == "ACCOUNT_BLOCKED: The account was blocked"  # admin: canonical


# -- timestamps -------------------------------------------------------------------------------------
def test_updated_now_moves_on_every_read(api: Api, sb: SandboxHandle, connected: str) -> None:
    lid = create(api, connected, nums(3))
    before = api.data("GET", f"/number-lookups/{lid}/progress")
    sb.set_dialect("updated-now")
    reads = []
    for path in ("/progress", "", "/progress"):
        time.sleep(0.01)
        reads.append(api.data("GET", f"/number-lookups/{lid}{path}")["updatedAt"])
    listed = api.data("GET", "/number-lookups")["lookups"][0]["updatedAt"]
    times = [epoch(t) for t in [before["updatedAt"], *reads, listed]]
    assert times == sorted(times) and len(set(times)) == 5  # each read later than the one before
    assert abs(times[-1] - time.time()) < 60  # the time of the read, not of the lookup's last step


@pytest.mark.parametrize(("dialect", "sign"), [("clock-ahead", 1), ("clock-behind", -1)])
def test_clock_off_on_every_timestamp(api: Api, sb: SandboxHandle, connected: str, dialect: str, sign: int) -> None:
    sb.set_faults(pace="realistic")
    lid = create(api, connected, nums(100))
    contact = api.data("POST", "/contacts", 201, json={"name": "Ada", "phone": "+41791112233"})
    canonical = api.data("GET", f"/number-lookups/{lid}/progress")
    sb.set_dialect(dialect)
    skew = sign * CLOCK_SKEW
    progress = api.data("GET", f"/number-lookups/{lid}/progress")
    detail = api.data("GET", f"/number-lookups/{lid}")
    listed = api.data("GET", "/number-lookups")["lookups"][0]
    for view in (progress, detail, listed):
        assert epoch(view["createdAt"]) - epoch(canonical["createdAt"]) == pytest.approx(skew, abs=0.002)
        assert epoch(view["updatedAt"]) - epoch(canonical["updatedAt"]) == pytest.approx(skew, abs=0.002)
        assert view["completedAt"] is None
    cancelled = api.data("POST", f"/number-lookups/{lid}/cancel")
    assert epoch(cancelled["completedAt"]) - time.time() == pytest.approx(skew, abs=30)
    instance = api.data("GET", f"/instances/{connected}")
    assert epoch(instance["createdAt"]) == pytest.approx(SEED_CREATED + skew, abs=0.002)
    got = api.data("GET", f"/contacts/{contact['id']}")
    assert epoch(got["createdAt"]) - epoch(contact["createdAt"]) == pytest.approx(skew, abs=0.002)
    assert got["meta"] is None and got["phone"] == contact["phone"]


# -- import answer ---------------------------------------------------------------------------------
def _import_counts(answer: dict[str, Any], dialect: str) -> tuple[int, int, int | None]:
    if dialect == "import-counts":
        assert set(answer) == {"lookupId", "tag", "importedCount", "alreadyExistingCount", "skippedCount"}
        return answer["importedCount"], answer["alreadyExistingCount"], answer["skippedCount"]
    if dialect == "import-summary":
        assert set(answer) == {"lookupId", "tag", "summary"} and set(answer["summary"]) == {"new", "existing"}
        return answer["summary"]["new"], answer["summary"]["existing"], None
    assert set(answer) == {"lookupId", "tag", "imported", "alreadyExisting", "skipped"}
    return answer["imported"], answer["alreadyExisting"], answer["skipped"]


@pytest.mark.parametrize("dialect", ["none", "import-counts", "import-summary"])
def test_import_answer_shapes(api: Api, sb: SandboxHandle, connected: str, dialect: str) -> None:
    sb.set_dialect(dialect)
    sb.set_faults(pace=0.005)
    lid = create(api, connected, [*nums(120), "bad", "+41 79 555 0002"])  # the last one duplicates +41795550002
    wait_status(api, lid, {"done"})
    first = api.data("POST", f"/number-lookups/{lid}/import-contacts", json={"tag": "verified-whatsapp"})
    assert (first["lookupId"], first["tag"]) == (lid, "verified-whatsapp")
    skipped = 61 if dialect != "import-summary" else None
    assert _import_counts(first, dialect) == (60, 1, skipped)
    again = api.data("POST", f"/number-lookups/{lid}/import-contacts", json={"tag": "verified-whatsapp"})
    assert _import_counts(again, dialect) == (0, 61, skipped)


# -- health ------------------------------------------------------------------------------------------
def test_health_canonical(api: Api, sb: SandboxHandle) -> None:
    for name, seed in SEEDED_INSTANCES.items():
        h = api.data("GET", f"/instances/{sb.instance_id(name)}/health")
        assert (h["safetyState"], h["safetyScore"]) == (seed.safety_state, seed.safety_score)
        assert isinstance(h["warmupPolicy"], dict) and isinstance(h["usageWindowSummary"], dict)
        assert h["recommendations"] and all(isinstance(r, str) for r in h["recommendations"])


def test_health_objects(api: Api, sb: SandboxHandle) -> None:
    iid = sb.instance_id("sandbox-unhealthy")
    canonical = api.data("GET", f"/instances/{iid}/health")
    sb.set_dialect("health-objects")
    h = api.data("GET", f"/instances/{iid}/health")
    assert h["safetyState"] == {"level": "at_risk"} and h["safetyScore"] == {"value": 35, "max": 100}
    assert [r["message"] for r in h["recommendations"]] == canonical["recommendations"]
    assert all(set(r) == {"code", "message"} and r["code"].isupper() for r in h["recommendations"])
    assert (h["warmupPolicy"], h["usageWindowSummary"]) == (canonical["warmupPolicy"], canonical["usageWindowSummary"])


# -- all, switching, models, OpenAPI -----------------------------------------------------------------
def test_all_combines_one_of_each_group(api: Api, sb: SandboxHandle, connected: str) -> None:
    assert sb.set_dialect("all") == list(ALL_DIALECTS)
    sb.set_faults(fail_lookups=1, pace=0)
    failed = create(api, connected, nums(100))
    lid = create(api, connected, nums(4))
    page = api.data("GET", "/number-lookups")
    assert set(page) == {"items", "nextCursor", "hasMore"}  # list-items, cursor paging (list-short-pages)
    item = page["items"][0]
    assert "mode" not in item and item["id"] == lid
    assert page["items"][1]["error"]["code"] == "PROVIDER_TIMEOUT"  # error-object
    assert api.data("GET", f"/number-lookups/{failed}/progress")["error"]["code"] == "PROVIDER_TIMEOUT"
    detail = api.data("GET", f"/number-lookups/{lid}")
    assert detail["result"]["onWhatsApp"] == [{"number": "+41795550000"}, {"number": "+41795550002"}]
    assert epoch(detail["createdAt"]) - time.time() == pytest.approx(CLOCK_SKEW, abs=30)
    assert "importedCount" in api.data("POST", f"/number-lookups/{lid}/import-contacts", json={"tag": "t"})
    assert api.data("GET", f"/instances/{connected}/health")["safetyScore"] == {"value": 92, "max": 100}
    for _ in range(10):
        create(api, connected, nums(2))
    short = api.data("GET", "/number-lookups", params={"limit": 20})
    assert len(short["items"]) == SHORT_PAGE and short["hasMore"] is True  # list-short-pages


def test_switch_while_running_and_reset(api: Api, sb: SandboxHandle) -> None:
    assert sb.set_dialect(["list-array", "clock-behind"]) == ["list-array", "clock-behind"]
    assert sb.admin("GET", "config")["dialect"] == ["list-array", "clock-behind"]
    assert sb.state()["dialect"] == ["list-array", "clock-behind"]
    assert api.data("GET", "/number-lookups") == []
    sb.reset()  # keeps the dialect
    assert api.data("GET", "/number-lookups") == []
    with pytest.raises(SandboxAdminError) as info:
        sb.set_dialect("list-items,list-array")
    assert info.value.status == 400 and "dialect" in str(info.value) and "keep one" in str(info.value)
    with pytest.raises(SandboxAdminError) as info:
        sb.admin("POST", "config", {"pace": "fast"})
    assert info.value.status == 400 and "only 'dialect'" in str(info.value)
    assert sb.admin("GET", "config")["dialect"] == ["list-array", "clock-behind"]  # unchanged by refusals
    sb.reset(faults=True)  # back to the starting dialect (none)
    assert api.data("GET", "/number-lookups") == {"lookups": [], "nextCursor": None, "hasMore": False}
    assert sb.set_dialect(None) == []


def test_a_dialect_answer_is_checked_against_that_dialect_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transform that forgets its shape (here: list-items answering the canonical page) is refused."""
    broken = dataclasses.replace(DIALECTS["list-items"], apply=lambda view, page: page)
    monkeypatch.setitem(DIALECTS, "list-items", broken)
    with running_sandbox(rate_limit=0, dialect="list-items") as other:
        api = Api(other)
        error_of(api.get("/number-lookups"), 500, "INTERNAL_ERROR")
        assert api.data("GET", "/instances")  # the other routes answer as usual
        api.close()


def test_the_canonical_model_refuses_a_dialect_shape(
    api: Api, sb: SandboxHandle, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lid = create(api, connected, nums(3))
    real = Lookup.detail_view
    monkeypatch.setattr(Lookup, "detail_view", lambda self: {**real(self), "result": {"onWhatsApp": [{"number": "1"}]}})
    error_of(api.get(f"/number-lookups/{lid}"), 500, "INTERNAL_ERROR")
    sb.set_dialect("no-mode")  # no-mode's model has no mode: the canonical view is trimmed by the dialect
    monkeypatch.setattr(Lookup, "detail_view", real)
    assert "mode" not in api.data("GET", f"/number-lookups/{lid}")


@pytest.mark.parametrize(
    ("dialect", "schema", "field"),
    [
        ("none", "LookupPageOut", "lookups"),
        ("list-items", "LookupItemsPageOut", "items"),
        ("health-objects", "InstanceHealthObjectsOut", "safetyScore"),
        ("import-summary", "ImportSummaryOut", "summary"),
        ("list-page-numbers", "LookupPageOut", "totalPages"),
        ("list-cursor-renamed", "LookupPageOut", "nextPageToken"),
        ("error-object", "LookupProgressErrorObjectOut", "error"),
    ],
)
def test_openapi_publishes_the_models_in_force(
    api: Api, sb: SandboxHandle, dialect: str, schema: str, field: str
) -> None:
    sb.set_dialect(dialect)
    doc = api.session.get(sb.base_url + "/openapi.json", timeout=10).json()
    assert field in doc["components"]["schemas"][schema]["required"]
    assert ("LookupItemsPageOut" in doc["components"]["schemas"]) is (dialect == "list-items")


def test_subprocess_sandbox_gets_the_dialect() -> None:
    with running_sandbox(subprocess=True, rate_limit=0, dialect="list-array,import-summary") as other:
        assert other.admin("GET", "config")["dialect"] == ["list-array", "import-summary"]
        api = Api(other)
        assert api.data("GET", "/number-lookups") == []
        api.close()


@pytest.mark.parametrize(
    ("dialect", "params"), [("none", {"limit", "cursor"}), ("list-page-numbers", {"limit", "page"})]
)
def test_openapi_publishes_the_list_parameters_in_force(api: Api, sb: SandboxHandle, dialect: str, params: set) -> None:
    sb.set_dialect(dialect)
    doc = api.session.get(sb.base_url + "/openapi.json", timeout=10).json()
    listed = doc["paths"]["/api/v1/number-lookups"]["get"]["parameters"]
    assert {p["name"] for p in listed} == params

"""Every route of the sync and the async hook against the sandbox, with personal and team keys."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashError, MsgFlashNotFoundError, MsgFlashPermissionError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from airflow_provider_msgflash.sandbox import SEEDED_INSTANCES, is_on_whatsapp

CONNECTED = SEEDED_INSTANCES["sandbox-connected"]
DISCONNECTED = SEEDED_INSTANCES["sandbox-disconnected"]
INVALID = ["12345", "not a number"]


def numbers(n: int, start: int = 0) -> list[str]:
    """``n`` distinct valid Swiss mobile numbers; half of them (even last digit) are on WhatsApp."""
    return [f"+4179{start + i:07d}" for i in range(n)]


def wait_done(hook: MsgFlashHook, lookup_id: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        p = hook.get_number_lookup_progress(lookup_id)
        if p["status"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
            return p
        time.sleep(0.05)


def api_requests(sb, method: str, path: str) -> list[dict]:
    return [r for r in sb.requests() if r["method"] == method and r["path"] == path]


# --------------------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------------------
def test_instances(sb):
    hook = MsgFlashHook()
    instances = hook.list_instances()
    assert {i["name"] for i in instances} == set(SEEDED_INSTANCES)
    by_name = {i["name"]: i for i in instances}
    for name, seeded in SEEDED_INSTANCES.items():
        item = by_name[name]
        assert (item["id"], item["waNumber"]) == (seeded.id, seeded.wa_number)
        one = hook.get_instance(seeded.id)
        assert (one["id"], one["name"], one["status"]) == (seeded.id, name, item["status"])
    state = hook.get_instance_state(CONNECTED.id)
    assert state == {"instanceId": CONNECTED.id, "status": "connected", "providerState": "open"}
    assert hook.get_instance_state(DISCONNECTED.id)["status"] == "disconnected"
    health = hook.get_instance_health(SEEDED_INSTANCES["sandbox-unhealthy"].id)
    assert health["safetyState"] == "at_risk" and 0 <= health["safetyScore"] <= 100
    assert health["recommendations"] and all(isinstance(r, str) for r in health["recommendations"])
    with pytest.raises(MsgFlashNotFoundError) as ei:
        hook.get_instance("no-such-instance")
    assert (ei.value.code, ei.value.status_code) == ("NOT_FOUND", 404)


async def test_async_instances(sb):
    hook = MsgFlashAsyncHook()
    instances = await hook.list_instances()
    assert {i["name"] for i in instances} == set(SEEDED_INSTANCES)
    one, state, health = await asyncio.gather(
        hook.resolve_instance("sandbox-connected"),
        hook.get_instance_state(CONNECTED.id),
        hook.get_instance_health(CONNECTED.id),
    )
    assert one["id"] == CONNECTED.id
    assert state["providerState"] == "open"
    assert health["safetyState"] == "healthy" and health["instanceId"] == CONNECTED.id
    with pytest.raises(MsgFlashNotFoundError):
        await hook.get_instance_health("no-such-instance")


def test_resolve_instance(sb):
    hook = MsgFlashHook()
    assert hook.resolve_instance(CONNECTED.id)["name"] == "sandbox-connected"
    assert hook.resolve_instance("sandbox-unhealthy")["id"] == SEEDED_INSTANCES["sandbox-unhealthy"].id
    assert hook.resolve_instance(f" {DISCONNECTED.wa_number} ")["id"] == DISCONNECTED.id
    with pytest.raises(MsgFlashNotFoundError) as ei:
        hook.resolve_instance("sandbox-nope")
    assert "'sandbox-nope'" in str(ei.value) and "sandbox-connected" in str(ei.value)  # lists known instances
    assert len(api_requests(sb, "GET", "/api/v1/instances")) == 4  # one list call per resolve


# --------------------------------------------------------------------------------------------------
# Number lookups
# --------------------------------------------------------------------------------------------------
def test_sync_lookup_under_100_numbers(sb):
    hook = MsgFlashHook()
    nums = numbers(10) + INVALID
    answer = hook.create_number_lookup(CONNECTED.id, nums)
    on = [n for n in nums if is_on_whatsapp(n)]
    assert (answer["mode"], answer["status"]) == ("sync", "done")
    assert (answer["requested"], answer["normalized"], answer["invalidCount"]) == (12, 10, 2)
    assert answer["onWhatsAppCount"] == len(on) == 5
    assert answer["result"] == {
        "onWhatsApp": on,
        "notOnWhatsApp": [n for n in numbers(10) if n not in on],
        "invalid": INVALID,
    }
    assert "recovered" not in answer
    lookup = hook.get_number_lookup(answer["lookupId"])
    assert (lookup["mode"], lookup["instanceId"], lookup["status"]) == ("sync", CONNECTED.id, "done")
    assert lookup["result"] == answer["result"]
    progress = hook.get_number_lookup_progress(answer["lookupId"])
    assert (progress["status"], progress["progress"], progress["requestedCount"]) == ("done", 100, 12)
    posts = api_requests(sb, "POST", "/api/v1/number-lookups")
    assert [p["status"] for p in posts] == [200]


def test_async_lookup_from_100_numbers(sb):
    hook = MsgFlashHook()
    nums = numbers(120, start=1000)
    answer = hook.create_number_lookup(CONNECTED.id, nums)
    assert (answer["mode"], answer["status"], answer["requested"]) == ("async", "pending", 120)
    final = wait_done(hook, answer["lookupId"])
    assert final["status"] == "done" and final["progress"] == 100
    assert (final["checkedCount"], final["onWhatsAppCount"], final["notOnWhatsAppCount"]) == (120, 60, 60)
    lookup = hook.get_number_lookup(answer["lookupId"])
    assert lookup["mode"] == "async"
    assert lookup["result"]["onWhatsApp"] == [n for n in nums if is_on_whatsapp(n)]
    assert [p["status"] for p in api_requests(sb, "POST", "/api/v1/number-lookups")] == [202]


def test_lookup_on_a_disconnected_instance_is_refused(sb):
    with pytest.raises(MsgFlashError) as ei:  # the contract only says "some 4xx/502"
        MsgFlashHook(max_retries=0).create_number_lookup(DISCONNECTED.id, numbers(3))
    assert ei.value.status_code in range(400, 600)
    assert len(api_requests(sb, "POST", "/api/v1/number-lookups")) == 1


def test_list_and_iterate_lookups_with_paging(sb):
    hook = MsgFlashHook()
    created = [hook.create_number_lookup(CONNECTED.id, numbers(i + 1, start=100 * i))["lookupId"] for i in range(5)]
    newest_first = created[::-1]
    page = hook.list_number_lookups(limit=2)
    assert [x["id"] for x in page["lookups"]] == newest_first[:2]
    assert page["hasMore"] is True and isinstance(page["nextCursor"], str)
    page2 = hook.list_number_lookups(limit=2, cursor=page["nextCursor"])
    assert [x["id"] for x in page2["lookups"]] == newest_first[2:4]

    before = len(api_requests(sb, "GET", "/api/v1/number-lookups"))
    items = list(hook.iter_number_lookups(page_size=2))
    assert [x["id"] for x in items] == newest_first
    assert all(x["instanceId"] == CONNECTED.id for x in items)
    assert len(api_requests(sb, "GET", "/api/v1/number-lookups")) - before == 3  # 2 + 2 + 1

    assert [x["id"] for x in hook.iter_number_lookups(page_size=2, max_pages=2)] == newest_first[:4]


def test_cancel_running_and_finished(sb):
    hook = MsgFlashHook()
    sb.set_faults(stall_lookups=1)  # the next async lookup stays "processing"
    running = hook.create_number_lookup(CONNECTED.id, numbers(150, start=5000))["lookupId"]
    answer = hook.cancel_number_lookup(running)
    assert answer["id"] == running and answer["status"] == "cancelled" and answer["completedAt"]
    assert hook.get_number_lookup_progress(running)["status"] == "cancelled"
    assert hook.cancel_number_lookup(running) is None  # already cancelled: not a failure
    done = hook.create_number_lookup(CONNECTED.id, numbers(2))["lookupId"]
    assert hook.cancel_number_lookup(done) is None
    with pytest.raises(MsgFlashNotFoundError) as ei:
        hook.cancel_number_lookup("no-such-lookup")
    assert ei.value.code == "LOOKUP_NOT_FOUND"
    cancels = [r for r in sb.requests() if r["route"].endswith("/cancel")]
    assert [r["status"] for r in cancels] == [200, 400, 400, 404]  # each sent once


async def test_async_lookup_routes(sb):
    sync_hook, hook = MsgFlashHook(), MsgFlashAsyncHook()
    sb.set_faults(stall_lookups=1)
    running = (await asyncio.to_thread(sync_hook.create_number_lookup, CONNECTED.id, numbers(150)))["lookupId"]
    done = (await asyncio.to_thread(sync_hook.create_number_lookup, CONNECTED.id, numbers(4)))["lookupId"]
    progress = await hook.get_number_lookup_progress(running)
    assert progress["status"] in ("pending", "processing") and progress["requestedCount"] == 150
    assert (await hook.get_number_lookup_progress(done))["status"] == "done"
    cancelled = await hook.cancel_number_lookup(running)
    assert cancelled["status"] == "cancelled"
    assert await hook.cancel_number_lookup(running) is None
    assert await hook.cancel_number_lookup(done) is None
    with pytest.raises(MsgFlashNotFoundError):
        await hook.get_number_lookup_progress("no-such-lookup")


# --------------------------------------------------------------------------------------------------
# Contacts
# --------------------------------------------------------------------------------------------------
def test_import_and_contacts(sb):
    hook = MsgFlashHook()
    nums = numbers(10, start=700) + INVALID
    on = [n for n in nums if is_on_whatsapp(n)]
    lookup_id = hook.create_number_lookup(CONNECTED.id, nums)["lookupId"]
    first = hook.import_contacts(lookup_id, " verified-whatsapp ")
    assert first == {
        "lookupId": lookup_id,
        "tag": "verified-whatsapp",
        "imported": 5,
        "alreadyExisting": 0,
        "skipped": 7,
    }
    again = hook.import_contacts(lookup_id, "verified-whatsapp")
    assert (again["imported"], again["alreadyExisting"]) == (0, 5)

    page = hook.list_contacts(limit=2)
    assert len(page["contacts"]) == 2 and page["hasMore"] is True and page["total"] == 5
    contacts = list(hook.iter_contacts(page_size=2))
    assert sorted(c["phone"] for c in contacts) == sorted(on)
    assert all(c["tags"] == ["verified-whatsapp"] for c in contacts)
    assert len(api_requests(sb, "GET", "/api/v1/contacts")) == 1 + 3  # list + 3 pages of 2
    found = list(hook.iter_contacts(search=on[0]))
    assert [c["phone"] for c in found] == [on[0]]
    one = hook.get_contact(contacts[0]["id"])
    assert one["phone"] == contacts[0]["phone"]
    with pytest.raises(MsgFlashNotFoundError):
        hook.get_contact("no-such-contact")


# --------------------------------------------------------------------------------------------------
# Account, team keys
# --------------------------------------------------------------------------------------------------
def test_get_me_personal_key(sb):
    me = MsgFlashHook().get_me()
    assert me["id"] and "monthlyRequestsUsed" in me


def test_get_me_team_key_is_not_allowed(sb_team):
    with pytest.raises(MsgFlashPermissionError) as ei:
        MsgFlashHook().get_me()
    assert (ei.value.code, ei.value.status_code) == ("TEAM_KEY_NOT_ALLOWED", 403)
    assert "personal key" in ei.value.message
    assert len(api_requests(sb_team, "GET", "/api/v1/me")) == 1


def test_team_key_works_for_instances_and_lookups(sb_team):
    hook = MsgFlashHook()
    assert hook.settings.is_team_key and hook.settings.team_id == sb_team.team_id
    assert len(hook.list_instances()) == len(SEEDED_INSTANCES)
    answer = hook.create_number_lookup(CONNECTED.id, numbers(3))
    assert answer["status"] == "done"
    assert hook.cancel_number_lookup(answer["lookupId"]) is None
    assert hook.import_contacts(answer["lookupId"], "team")["imported"] == 2
    ok, message = hook.test_connection()
    assert ok and "(team key)" in message
    assert {r["status"] for r in sb_team.requests()} <= {200, 400}  # the 400 is the cancel of a done lookup


async def test_async_team_key_works(sb_team):
    hook = MsgFlashAsyncHook()
    assert len(await hook.list_instances()) == len(SEEDED_INSTANCES)
    assert (await hook.get_instance_state(CONNECTED.id))["status"] == "connected"


def test_test_connection_against_the_sandbox(sb):
    def connected() -> int:
        return sum(1 for i in MsgFlashHook().list_instances() if i["status"] == "connected")

    before = connected()
    ok, message = MsgFlashHook().test_connection()
    after = connected()  # sandbox-warming may turn connected in between
    assert ok is True
    assert message in {
        f"Connected to MsgFlash at {sb.base_url} (personal key): {len(SEEDED_INSTANCES)} instance(s), {n} connected."
        for n in (before, after)
    }


def test_the_async_hook_has_exactly_what_the_triggers_use():
    public = {n for n in vars(MsgFlashAsyncHook) if not n.startswith("_") and callable(getattr(MsgFlashAsyncHook, n))}
    assert public == {
        "get_settings",
        "list_instances",
        "resolve_instance",
        "get_instance_state",
        "get_instance_health",
        "get_number_lookup_progress",
        "cancel_number_lookup",
    }

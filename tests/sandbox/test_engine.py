"""The lookup engine: async lookups advance one batch of 20 per pace interval, independently; pace
presets; failing (with a chosen error), stalling (for good or for a while) and disconnecting lookups;
other clients' lookups (busy_account); 10,000 numbers."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import (
    SandboxAdminError,
    SandboxHandle,
)
from tests.sandbox.sandbox_testkit import (
    Api,
    nums,
    wait_status,
)


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_async_lookups_progress_independently(api: Api, connected: str, sb: SandboxHandle) -> None:
    ids = [
        api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(n)})["lookupId"]
        for n in (100, 300, 120)
    ]
    done = [wait_status(api, lid, {"done"}) for lid in ids]
    assert [d["checkedCount"] for d in done] == [100, 300, 120]


def test_pace_zero_is_done_at_first_poll(api: Api, connected: str, sb: SandboxHandle) -> None:
    sb.set_faults(pace=0)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    assert api.data("GET", f"/number-lookups/{lid}/progress")["status"] == "done"


def test_lookup_accepts_10000_numbers(api: Api, connected: str, sb: SandboxHandle) -> None:
    sb.set_faults(pace=0)
    r = api.post(
        "/number-lookups", json={"instanceId": connected, "numbers": [f"+41795{i:06d}" for i in range(10_000)]}
    )
    assert r.status_code == 202
    p = api.data("GET", f"/number-lookups/{r.json()['data']['lookupId']}/progress")
    assert p["status"] == "done" and p["checkedCount"] == 10_000


def test_realistic_pace_is_one_batch_per_second(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(pace="realistic")
    connected = sb.instance_id("sandbox-connected")
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    time.sleep(0.3)
    assert api.data("GET", f"/number-lookups/{lid}/progress")["checkedCount"] == 0
    api.data("POST", f"/number-lookups/{lid}/cancel")


def test_fail_lookups(api: Api, sb: SandboxHandle) -> None:
    connected = sb.instance_id("sandbox-connected")
    sb.set_faults(fail_lookups=1)
    # Sync lookups never fail and do not use the switch up.
    assert api.post("/number-lookups", json={"instanceId": connected, "numbers": nums(5)}).status_code == 200
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(400)})["lookupId"]
    deadline = time.monotonic() + 20
    while (p := api.data("GET", f"/number-lookups/{lid}/progress"))["status"] != "failed":
        assert p["status"] in ("pending", "processing") and time.monotonic() < deadline
        time.sleep(0.02)
    assert isinstance(p["error"], str) and p["error"]
    assert 0 < p["checkedCount"] < 400 and p["completedAt"]
    assert p["checkedCount"] == p["onWhatsAppCount"] + p["notOnWhatsAppCount"]
    assert sb.faults()["fail_lookups"] == 0
    ok = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    deadline = time.monotonic() + 20
    while api.data("GET", f"/number-lookups/{ok}/progress")["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_stall_lookups(api: Api, sb: SandboxHandle) -> None:
    connected = sb.instance_id("sandbox-connected")
    sb.set_faults(stall_lookups=1)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(300)})["lookupId"]
    time.sleep(0.3)  # fifteen batch intervals
    first = api.data("GET", f"/number-lookups/{lid}/progress")
    time.sleep(0.2)
    later = api.data("GET", f"/number-lookups/{lid}/progress")
    assert first["status"] == later["status"] == "processing"
    assert first["checkedCount"] == later["checkedCount"] < 300
    assert later["updatedAt"] == first["updatedAt"]
    assert api.data("POST", f"/number-lookups/{lid}/cancel")["status"] == "cancelled"


def test_a_new_pace_applies_to_running_lookups(api: Api, sb: SandboxHandle, connected: str) -> None:
    """The polling benchmark's "pace that changes mid-lookup": a slower pace holds a running lookup back
    from its next step on, a faster one (or 0) speeds it up at once, without waiting out the old pace."""
    sb.set_faults(pace=0.01)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(2000)})["lookupId"]
    deadline = time.monotonic() + 10
    while api.data("GET", f"/number-lookups/{lid}/progress")["checkedCount"] < 100:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sb.set_faults(pace=3600)  # from now on, one step an hour
    time.sleep(0.05)  # any step already under way lands
    held = api.data("GET", f"/number-lookups/{lid}/progress")
    time.sleep(0.3)  # thirty old steps
    assert api.data("GET", f"/number-lookups/{lid}/progress")["checkedCount"] == held["checkedCount"] < 2000
    sb.set_faults(pace=0.01)  # wakes the lookup: it does not wait out the hour
    done = wait_status(api, lid, {"done"}, timeout=20)
    assert done["checkedCount"] == 2000

    slow = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(300)})["lookupId"]
    sb.set_faults(pace=3600)
    time.sleep(0.1)
    assert api.data("GET", f"/number-lookups/{slow}/progress")["status"] == "pending"
    sb.set_faults(pace=0)  # pace 0: finished at once
    assert wait_status(api, slow, {"done"}, timeout=5)["checkedCount"] == 300


# -- stall_seconds ----------------------------------------------------------------------------------
def test_a_stall_with_a_duration_freezes_the_lookup_then_it_finishes(api: Api, sb: SandboxHandle) -> None:
    connected = sb.instance_id("sandbox-connected")
    assert sb.set_faults(stall_lookups=1, stall_seconds=2.0)["stall_seconds"] == 2.0
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(300)})["lookupId"]
    deadline = time.monotonic() + 20
    while (frozen := api.data("GET", f"/number-lookups/{lid}/progress"))["checkedCount"] < 20:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # fifteen batch intervals, well inside the stall
    still = api.data("GET", f"/number-lookups/{lid}/progress")
    assert (still["status"], still["checkedCount"], still["updatedAt"]) == ("processing", 20, frozen["updatedAt"])
    done = wait_status(api, lid, {"done"}, timeout=30)
    assert done["checkedCount"] == 300 and done["error"] is None
    # The step after the stall came at least stall_seconds after the last one before it (server times).
    assert epoch(done["updatedAt"]) - epoch(frozen["updatedAt"]) >= 2.0 - 0.005
    assert sb.faults()["stall_lookups"] == 0


def test_a_stall_with_a_duration_at_pace_zero(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(stall_lookups=1, stall_seconds=0.5, pace=0)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    first = api.data("GET", f"/number-lookups/{lid}/progress")
    assert (first["status"], first["checkedCount"]) == ("processing", 20)  # pace 0, yet held at the stall
    assert wait_status(api, lid, {"done"}, timeout=30)["checkedCount"] == 100


# -- fail_error -------------------------------------------------------------------------------------
BLOCKED = "ACCOUNT_BLOCKED: The WhatsApp account behind this instance was blocked"


def test_fail_error_is_the_error_the_failed_lookup_carries(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(fail_lookups=2, fail_error=BLOCKED, pace=0)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(200)})["lookupId"]
    progress = api.data("GET", f"/number-lookups/{lid}/progress")
    assert (progress["status"], progress["checkedCount"], progress["error"]) == ("failed", 100, BLOCKED)
    assert api.data("GET", f"/number-lookups/{lid}")["error"] == BLOCKED
    assert api.data("GET", "/number-lookups")["lookups"][0]["error"] == BLOCKED
    sb.set_faults(fail_error=None)  # the default: a provider that stops answering
    other = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    error = api.data("GET", f"/number-lookups/{other}/progress")["error"]
    assert error.startswith("PROVIDER_TIMEOUT: The WhatsApp provider stopped answering after 40 of 100 numbers")
    assert api.data("GET", f"/number-lookups/{lid}/progress")["error"] == BLOCKED  # chosen when it was created


@pytest.mark.parametrize(
    "bad", ["blocked", "blocked: lower case code", "CODE:", "CODE: two\nlines", 5, "X: " + "m" * 500]
)
def test_fail_error_must_be_code_and_message(sb: SandboxHandle, bad: object) -> None:
    with pytest.raises(SandboxAdminError) as info:
        sb.set_faults(fail_error=bad)
    assert info.value.status == 400 and "fail_error must be 'CODE: message'" in str(info.value)
    assert sb.faults()["fail_error"] is None


# -- disconnect_during_lookup -------------------------------------------------------------------------
def test_disconnect_during_lookup(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(disconnect_during_lookup=1, pace=3600)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(200)})["lookupId"]
    assert api.data("GET", f"/instances/{connected}/state")["status"] == "connected"  # not before halfway
    sb.set_faults(pace="fast")
    failed = wait_status(api, lid, {"failed"})
    assert failed["checkedCount"] == 100 and failed["completedAt"]
    assert failed["error"].startswith(f"INSTANCE_DISCONNECTED: Instance {connected} (sandbox-connected) disconnected")
    state = api.data("GET", f"/instances/{connected}/state")
    assert state == {"instanceId": connected, "status": "disconnected", "providerState": "close"}
    assert api.data("GET", f"/instances/{connected}")["status"] == "disconnected"
    refused = api.post("/number-lookups", json={"instanceId": connected, "numbers": nums(3)})
    assert refused.status_code == 409  # a disconnected instance refuses lookups, as ever
    assert sb.faults()["disconnect_during_lookup"] == 0
    sb.set_instance_status("sandbox-connected", "connected")
    ok = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    assert wait_status(api, ok, {"done"})["error"] is None  # used up: the next lookup runs normally


def test_sync_lookups_never_use_the_lookup_faults(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(disconnect_during_lookup=1, stall_lookups=1, fail_lookups=1)
    assert api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(5)})["status"] == "done"
    f = sb.faults()
    assert (f["disconnect_during_lookup"], f["stall_lookups"], f["fail_lookups"]) == (1, 1, 1)


# -- busy_account and other clients' lookups ----------------------------------------------------------
def _all_lookups(api: Api) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = api.data("GET", "/number-lookups", params={"limit": 100, "cursor": cursor})
        listed += page["lookups"]
        cursor = page["nextCursor"]
        if cursor is None:
            return listed
    raise AssertionError("more than 50 pages")


def test_busy_account_pushes_the_own_lookup_past_the_first_page(api: Api, sb: SandboxHandle, connected: str) -> None:
    assert sb.set_faults(busy_account=25)["busy_account"] == 25
    own_numbers = nums(4)
    own = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": own_numbers})["lookupId"]
    first_page = api.data("GET", "/number-lookups")["lookups"]  # 20, newest first
    assert len(first_page) == 20 and own not in [x["id"] for x in first_page]
    listed = _all_lookups(api)
    assert [x["id"] for x in listed][-1] == own  # every other one is newer
    others = listed[:-1]
    assert all(x["instanceId"] == connected and x["status"] == "done" for x in others)
    look_alikes = [x for x in others if x["requestedCount"] == 4]
    assert len(look_alikes) == 25
    assert sorted(x["requestedCount"] for x in others if x["requestedCount"] != 4) == [3, 5]
    for x in look_alikes[:3]:
        result = api.data("GET", f"/number-lookups/{x['id']}")["result"]
        theirs = set(result["onWhatsApp"] + result["notOnWhatsApp"])
        assert len(theirs) == 4 and not theirs & set(own_numbers)  # the same size, other numbers
    origins = [(x["id"], x["origin"]) for x in sb.state()["lookups"]]
    assert origins[0] == (own, "api") and {o for _, o in origins[1:]} == {"other"}
    assert [r["method"] for r in sb.requests()].count("POST") == 1


def test_busy_account_lookups_progress_with_the_pace(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(busy_account=2, fail_lookups=1, pace=3600)
    own = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    lookups = sb.state()["lookups"]
    assert [(x["requestedCount"], x["status"]) for x in lookups] == [
        (100, "pending"),  # the client's
        (101, "pending"),  # then the other clients': one number more,
        (100, "pending"),  # two of the same size,
        (100, "pending"),
        (99, "done"),  # one number fewer (under 100: answered at once)
    ]
    sb.set_faults(pace="fast")
    deadline = time.monotonic() + 30
    while {x["status"] for x in sb.state()["lookups"]} - {"done", "failed"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    statuses = {x["id"]: x["status"] for x in sb.state()["lookups"]}
    assert statuses.pop(own) == "failed"  # the fault switches apply to the client's own lookups only
    assert set(statuses.values()) == {"done"}


def test_create_lookup_as_other(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(fail_lookups=1, busy_account=3, pace=0)
    sync = sb.create_lookup_as_other("sandbox-connected", nums(3, "+4176111"))
    assert (sync["mode"], sync["status"], sync["requested"]) == ("sync", "done", 3)
    other = sb.create_lookup_as_other(connected, nums(100, "+4176222"))
    assert (other["mode"], other["status"]) == ("async", "pending")
    listed = api.data("GET", "/number-lookups")["lookups"]
    assert [x["id"] for x in listed] == [other["lookupId"], sync["lookupId"]]  # no busy_account after them
    assert listed[0]["status"] == "done"  # not failed: the switches are the API clients'
    assert sb.faults()["fail_lookups"] == 1
    assert [(r["method"], r["route"]) for r in sb.requests()] == [("GET", "/api/v1/number-lookups")]  # no POST
    with pytest.raises(SandboxAdminError) as info:
        sb.create_lookup_as_other("sandbox-disconnected", nums(3))
    assert info.value.status == 409
    with pytest.raises(SandboxAdminError) as info:
        sb.create_lookup_as_other("nope", nums(3))
    assert info.value.status == 404
    with pytest.raises(SandboxAdminError) as info:
        sb.create_lookup_as_other(connected, [])
    assert info.value.status == 400


def test_busy_account_is_bounded_and_reset(sb: SandboxHandle) -> None:
    with pytest.raises(SandboxAdminError, match="busy_account must be a whole number of at least 0 and at most 1000"):
        sb.set_faults(busy_account=1001)
    sb.set_faults(busy_account=5, stall_seconds=3, fail_error=BLOCKED, disconnect_during_lookup=2)
    sb.reset(faults=True)
    f = sb.faults()
    assert (f["busy_account"], f["stall_seconds"], f["fail_error"], f["disconnect_during_lookup"]) == (0, 0, None, 0)

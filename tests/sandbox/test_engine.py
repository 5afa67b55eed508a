"""The lookup engine: async lookups advance one batch of 20 per pace interval, independently; pace
presets; failing and stalling lookups; 10,000 numbers."""

from __future__ import annotations

import time

from airflow_provider_msgflash.sandbox import (
    SandboxHandle,
)
from tests.sandbox.sandbox_testkit import (
    Api,
    nums,
    wait_status,
)


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

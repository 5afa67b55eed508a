"""The fault switches (error rate, latency, failing and stalling lookups, dropped connections, 429 storm,
pace) and the instance switches (warm-up, status flips), through the Python handle and the admin API."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest
import requests

from airflow_provider_msgflash.sandbox import FAULT_FIELDS, SandboxAdminError, SandboxHandle, running_sandbox
from tests.sandbox.sandbox_testkit import Api, envelope, error_of, nums


def test_error_rate_all_and_some(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(error_rate=1.0)
    codes = Counter()
    for _ in range(30):
        r = api.get("/instances")
        err = envelope(r)["error"]
        assert (r.status_code, err["code"]) in {
            (500, "INTERNAL_ERROR"),
            (502, "PROVIDER_ERROR"),
            (502, "PROVIDER_UNAVAILABLE"),
        }
        codes[err["code"]] += 1
    assert len(codes) >= 2
    # An injected error means the request was not processed: no lookup was created.
    connected = sb.instance_id("sandbox-connected")
    assert api.post("/number-lookups", json={"instanceId": connected, "numbers": nums(3)}).status_code >= 500
    assert sb.state()["lookups"] == []
    sb.set_faults(error_rate=0.5)
    statuses = [api.get("/instances").status_code for _ in range(200)]
    failures = sum(s >= 500 for s in statuses)
    assert 50 < failures < 150 and set(statuses) <= {200, 500, 502}
    sb.set_faults(error_rate=0)
    assert all(api.get("/instances").status_code == 200 for _ in range(20))


def test_latency_and_jitter(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(latency=0.15)
    started = time.monotonic()
    assert api.get("/instances").status_code == 200
    assert error_of(api.get("/instances", key=None), 401, "UNAUTHORIZED")
    assert time.monotonic() - started >= 0.3
    sb.set_faults(latency=0, latency_jitter=0.05)
    started = time.monotonic()
    for _ in range(5):
        api.get("/me")
    assert time.monotonic() - started < 2
    # The admin API is never slowed down.
    sb.set_faults(latency=5)
    started = time.monotonic()
    sb.state()
    assert time.monotonic() - started < 1
    sb.set_faults(latency=0)


def test_drop_rate_gives_connection_errors_not_statuses(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(drop_rate=1.0)
    connected = sb.instance_id("sandbox-connected")
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            api.get("/instances")
    # The request was processed, only the answer was lost (like a connection dropped on the way back).
    with pytest.raises(requests.ConnectionError):
        api.post("/number-lookups", json={"instanceId": connected, "numbers": nums(3)})
    assert len(sb.state()["lookups"]) == 1
    dropped = [r for r in sb.requests() if r["dropped"]]
    assert len(dropped) == 4

    async def with_aiohttp() -> None:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.get(sb.api_url + "/instances", headers=sb.headers()) as resp:
                    await resp.read()

    asyncio.run(with_aiohttp())
    sb.set_faults(drop_rate=0.3)
    outcomes = Counter()
    for _ in range(60):
        try:
            outcomes[api.get("/instances").status_code] += 1
        except requests.ConnectionError:
            outcomes["dropped"] += 1
    assert outcomes["dropped"] > 5 and outcomes[200] > 20 and set(outcomes) == {200, "dropped"}
    sb.set_faults(drop_rate=0)
    assert api.get("/instances").status_code == 200


def test_storm_429(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(storm_429=1.5)
    started = time.monotonic()
    r = api.get("/instances")
    err = error_of(r, 429, "API_RATE_LIMIT_EXCEEDED")
    assert err["message"] and int(r.headers["Retry-After"]) >= 1
    error_of(api.get("/me", team=True), 429, "API_RATE_LIMIT_EXCEEDED")
    deadline = started + 5
    while api.get("/instances").status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert 1.3 <= time.monotonic() - started < 5
    assert api.get("/instances").status_code == 200
    assert sb.state()["total_429"] >= 2


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


def test_pace_presets_and_numbers(sb: SandboxHandle) -> None:
    assert sb.set_faults(pace="realistic")["batch_interval"] == 1.0
    assert sb.set_faults(pace="fast")["batch_interval"] == 0.02
    assert sb.set_faults(pace=0.5)["batch_interval"] == 0.5
    assert sb.set_faults(pace="0.25")["batch_interval"] == 0.25
    with pytest.raises(SandboxAdminError):
        sb.set_faults(pace="warp")
    with pytest.raises(SandboxAdminError):
        sb.set_faults(error_rate=2)
    with pytest.raises(TypeError):
        sb.set_faults(nonsense=1)
    assert set(sb.faults()) >= set(FAULT_FIELDS)


def test_realistic_pace_is_one_batch_per_second(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(pace="realistic")
    connected = sb.instance_id("sandbox-connected")
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    time.sleep(0.3)
    assert api.data("GET", f"/number-lookups/{lid}/progress")["checkedCount"] == 0
    api.data("POST", f"/number-lookups/{lid}/cancel")


def test_set_instance_status(api: Api, sb: SandboxHandle) -> None:
    iid = sb.instance_id("sandbox-connected")
    out = sb.set_instance_status("sandbox-connected", "disconnected")
    assert out["status"] == "disconnected"
    assert api.data("GET", f"/instances/{iid}/state")["providerState"] == "close"
    error_of(api.post("/number-lookups", json={"instanceId": iid, "numbers": nums(3)}), 409, "CONFLICT")
    sb.set_instance_status(iid, "connected")
    assert api.post("/number-lookups", json={"instanceId": iid, "numbers": nums(3)}).status_code == 200
    with pytest.raises(SandboxAdminError):
        sb.set_instance_status(iid, "online")
    with pytest.raises(SandboxAdminError):
        sb.set_instance_status("nope", "connected")
    sb.reset()
    assert api.data("GET", f"/instances/{sb.instance_id('sandbox-disconnected')}")["status"] == "disconnected"


def test_warming_instance_flips_to_connected() -> None:
    with running_sandbox(warmup_delay=0.4, rate_limit=0) as sb:
        api = Api(sb)
        iid = sb.instance_id("sandbox-warming")
        before = api.data("GET", f"/instances/{iid}/state")
        assert (before["status"], before["providerState"]) == ("connecting", "connecting")
        error_of(api.post("/number-lookups", json={"instanceId": iid, "numbers": nums(3)}), 409, "CONFLICT")
        deadline = time.monotonic() + 10
        while api.data("GET", f"/instances/{iid}/state")["status"] != "connected":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert api.data("GET", f"/instances/{iid}/state")["providerState"] == "open"
        assert api.post("/number-lookups", json={"instanceId": iid, "numbers": nums(3)}).status_code == 200
        # A reset starts the warm-up again.
        sb.reset()
        assert api.data("GET", f"/instances/{iid}")["status"] == "connecting"
        api.close()


def test_fixture_warming_instance_starts_connecting(api: Api, sb: SandboxHandle) -> None:
    """The shared fixture's default warm-up (3 s) starts over at each test's reset."""
    assert api.data("GET", f"/instances/{sb.instance_id('sandbox-warming')}")["status"] == "connecting"


def test_faults_from_config_and_reset_restores_them() -> None:
    with running_sandbox(error_rate=1.0, rate_limit=0, seed=7) as sb:
        api = Api(sb)
        assert api.get("/instances").status_code >= 500
        sb.set_faults(error_rate=0)
        assert api.get("/instances").status_code == 200
        sb.reset()  # keeps the switches as they are
        assert api.get("/instances").status_code == 200
        sb.reset(faults=True)  # back to the configuration
        assert api.get("/instances").status_code >= 500
        api.close()

"""Instances: the warming instance, status and health set through the admin API."""

from __future__ import annotations

import time

import pytest

from airflow_provider_msgflash.sandbox import (
    SandboxAdminError,
    SandboxHandle,
    running_sandbox,
)
from tests.sandbox.sandbox_testkit import (
    Api,
    error_of,
    nums,
)


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


def test_set_instance_health(api: Api, sb: SandboxHandle) -> None:
    iid = sb.instance_id("sandbox-connected")
    assert api.data("GET", f"/instances/{iid}/health")["safetyScore"] == 92
    out = sb.set_instance_health("sandbox-connected", 40)  # crosses below the 50 a health gate may use
    assert (out["safetyScore"], out["safetyState"]) == (40, "at_risk")
    h = api.data("GET", f"/instances/{iid}/health")
    assert (h["safetyScore"], h["safetyState"]) == (40, "at_risk") and len(h["recommendations"]) == 3
    assert api.data("GET", f"/instances/{iid}")["status"] == "connected"  # health is guidance only
    assert sb.set_instance_health(iid, 75)["safetyState"] == "warning"
    assert sb.set_instance_health(iid, 80)["safetyState"] == "healthy"
    assert sb.set_instance_health(iid, 30, "healthy")["safetyState"] == "healthy"  # a given state wins
    sb.set_dialect("health-objects")
    assert api.data("GET", f"/instances/{iid}/health")["safetyScore"] == {"value": 30, "max": 100}
    for score, state, field in [(101, None, "safetyScore"), (-1, None, "safetyScore"), (50, "fine", "safetyState")]:
        with pytest.raises(SandboxAdminError) as info:
            sb.set_instance_health(iid, score, state)
        assert info.value.status == 400 and field in str(info.value)
    with pytest.raises(SandboxAdminError) as info:
        sb.admin("POST", f"instances/{iid}/health", {"safetyScore": "40"})
    assert info.value.status == 400
    with pytest.raises(SandboxAdminError) as info:
        sb.set_instance_health("nope", 50)
    assert info.value.status == 404
    sb.reset()  # the seeded health comes back (the dialect stays)
    assert api.data("GET", f"/instances/{iid}/health")["safetyScore"] == {"value": 92, "max": 100}

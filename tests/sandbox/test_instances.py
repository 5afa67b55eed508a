"""Instances: the warming instance, status flips through the admin API."""

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

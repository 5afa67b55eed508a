"""What happens to a request before its route: 429 storm, rate limit, monthly quota, injected errors,
latency, dropped connections; and the request log."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest
import requests

from airflow_provider_msgflash.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TEAM_KEY,
    SandboxHandle,
    key_fingerprint,
    running_sandbox,
)
from tests.sandbox.sandbox_testkit import (
    Api,
    envelope,
    error_of,
    nums,
)

OTHER_KEY = "msgf_live_" + "0123456789abcdef" * 4


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
    for _ in range(5):
        assert api.get("/me").status_code == 200
    # The admin API is never slowed down: with 60 s of latency on the API, it still answers at once
    # (the 20 s client timeout would trip otherwise).
    sb.set_faults(latency=60)
    assert sb.admin("GET", "/state", timeout=20)["lookups"] == []
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
    assert time.monotonic() - started >= 1.3  # the storm lasted (the loop above ends it at 5 s at most)
    assert api.get("/instances").status_code == 200
    assert sb.state()["total_429"] >= 2


def test_request_log_has_fingerprints_never_keys(api: Api, sb: SandboxHandle) -> None:
    api.get("/instances")
    api.get("/instances", team=True)
    api.get("/instances", key=None)
    log = sb.requests()
    assert [r["key"] for r in log] == [key_fingerprint(SANDBOX_API_KEY), key_fingerprint(SANDBOX_TEAM_KEY), None]
    assert [r["status"] for r in log] == [200, 200, 401]
    assert {"time", "method", "path", "status", "key"} <= set(log[0])
    dump = str(log) + str(sb.state())
    assert SANDBOX_API_KEY not in dump and SANDBOX_TEAM_KEY not in dump


def test_eleventh_request_in_a_second_is_rate_limited(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(rate_limit=10)
    for _attempt in range(5):  # a loaded machine may spread 11 requests over more than a second: try again
        time.sleep(1.05)  # an empty window
        started = time.monotonic()
        statuses = [api.get("/instances") for _ in range(11)]
        if time.monotonic() - started < 0.9:
            break
    else:
        raise AssertionError("5 tries to send 11 requests within 0.9 s all took longer: the machine is overloaded")
    assert [r.status_code for r in statuses[:10]] == [200] * 10
    err = error_of(statuses[10], 429, "API_RATE_LIMIT_EXCEEDED")
    assert err["message"]
    retry_after = statuses[10].headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    # Per key: the team key still has its own window.
    assert api.get("/instances", team=True).status_code == 200
    # Rejected requests do not count: after the window, the key works again.
    time.sleep(int(retry_after) + 0.05)
    assert api.get("/instances").status_code == 200
    assert sb.state()["total_429"] >= 1


def test_rate_limit_off(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(rate_limit=0)
    assert all(api.get("/instances").status_code == 200 for _ in range(40))


def test_rate_limit_ignores_unauthenticated_requests(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(rate_limit=3)
    time.sleep(1.05)
    for _ in range(10):
        api.get("/instances", key=OTHER_KEY)
    assert api.get("/instances").status_code == 200


def test_monthly_quota(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(monthly_quota=5)
    answers = [api.get(path) for path in ["/instances", "/me", "/nothing", "/contacts", "/number-lookups"]]
    assert [r.status_code for r in answers] == [200, 200, 404, 200, 200]  # every call counts, even a 404
    r = api.get("/instances")
    err = error_of(r, 429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED")
    assert "quota" in err["message"]
    assert "Retry-After" not in r.headers
    error_of(api.get("/instances", team=True), 429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED")  # per account
    error_of(api.get("/instances", key=None), 401, "UNAUTHORIZED")  # auth first
    st = sb.state()
    assert st["quota_used"] == 5 and st["monthly_quota"] == 5
    sb.set_faults(monthly_quota=None)
    assert api.get("/instances").status_code == 200
    sb.reset()
    assert sb.state()["quota_used"] == 0


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

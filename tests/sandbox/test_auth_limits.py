"""Authentication (personal and team keys, revocation, Bearer), the rate limit and the monthly quota."""

from __future__ import annotations

import time

import pytest

from airflow_provider_msgflash.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TEAM_ID,
    SANDBOX_TEAM_KEY,
    SandboxAdminError,
    SandboxHandle,
    key_fingerprint,
)
from tests.sandbox.sandbox_testkit import Api, error_of

OTHER_KEY = "msgf_live_" + "0123456789abcdef" * 4
ROUTES = ["/instances", "/number-lookups", "/contacts", "/me"]


# -- auth -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ROUTES)
def test_missing_key_is_unauthorized(api: Api, path: str) -> None:
    err = error_of(api.get(path, key=None), 401, "UNAUTHORIZED")
    assert "x-api-key" in err["message"]


@pytest.mark.parametrize(
    "key",
    [
        "msgf_live_" + "5A" * 32,  # upper-case hex
        "msgf_live_" + "5a" * 31,  # too short
        "msgf_live_" + "5a" * 33,  # too long
        "msgf_test_" + "5a" * 32,
        "5a" * 32,
        "Bearer " + SANDBOX_API_KEY,
        "garbage",
    ],
)
def test_malformed_key_is_unauthorized(api: Api, key: str) -> None:
    error_of(api.get("/instances", key=key), 401, "UNAUTHORIZED")


def test_unknown_well_formed_key_is_unauthorized(api: Api) -> None:
    error_of(api.get("/instances", key=OTHER_KEY), 401, "UNAUTHORIZED")


def test_bearer_is_never_accepted(api: Api) -> None:
    err = error_of(
        api.get("/instances", key=None, headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"}), 401, "UNAUTHORIZED"
    )
    assert "x-api-key" in err["message"] and "Bearer" in err["message"]


def test_revoked_key_fails_at_once_and_added_key_works(api: Api, sb: SandboxHandle) -> None:
    assert api.get("/instances").status_code == 200
    sb.add_key(OTHER_KEY)
    assert api.get("/instances", key=OTHER_KEY).status_code == 200
    sb.revoke_key(SANDBOX_API_KEY)
    err = error_of(api.get("/instances"), 401, "UNAUTHORIZED")
    assert "revoked" in err["message"]
    assert api.get("/instances", key=OTHER_KEY).status_code == 200
    with pytest.raises(SandboxAdminError) as info:
        sb.revoke_key("msgf_live_" + "f" * 64)
    assert info.value.status == 404
    with pytest.raises(SandboxAdminError) as info:
        sb.add_key("not-a-key")
    assert info.value.status == 400
    sb.reset()  # keys come back with a reset
    assert api.get("/instances").status_code == 200
    assert api.get("/instances", key=OTHER_KEY).status_code == 401


def test_team_key_needs_its_team_id(api: Api, sb: SandboxHandle) -> None:
    assert sb.team_key == SANDBOX_TEAM_KEY and sb.team_id == SANDBOX_TEAM_ID
    assert api.get("/instances", team=True).status_code == 200
    assert api.get(f"/instances/{sb.instance_id('sandbox-connected')}/health", team=True).status_code == 200
    connected = sb.instance_id("sandbox-connected")
    r = api.post("/number-lookups", team=True, json={"instanceId": connected, "numbers": ["+41791234567"]})
    assert r.status_code == 200
    error_of(api.get("/instances", key=SANDBOX_TEAM_KEY), 401, "UNAUTHORIZED")  # no X-Team-Id
    wrong = {"X-Team-Id": "7e4d1c2a-0000-4000-8000-000000000002"}
    error_of(api.get("/instances", key=SANDBOX_TEAM_KEY, headers=wrong), 401, "UNAUTHORIZED")
    error_of(api.get("/instances", key=SANDBOX_TEAM_KEY, headers={"X-Team-Id": ""}), 401, "UNAUTHORIZED")
    error_of(
        api.get("/instances", key="msgf_team_unknown00000000", headers={"X-Team-Id": SANDBOX_TEAM_ID}),
        401,
        "UNAUTHORIZED",
    )


def test_personal_key_with_team_id_is_team_key_required(api: Api) -> None:
    error_of(api.get("/instances", headers={"X-Team-Id": SANDBOX_TEAM_ID}), 403, "TEAM_KEY_REQUIRED")


def test_team_key_on_me_is_not_allowed(api: Api) -> None:
    error_of(api.get("/me", team=True), 403, "TEAM_KEY_NOT_ALLOWED")
    assert api.get("/me").status_code == 200


def test_added_team_key_with_own_team(api: Api, sb: SandboxHandle) -> None:
    team = "11111111-2222-4333-8444-555555555555"
    sb.add_key("msgf_team_another000000000", team_id=team)
    assert api.get("/instances", key="msgf_team_another000000000", headers={"X-Team-Id": team}).status_code == 200
    error_of(
        api.get("/instances", key="msgf_team_another000000000", headers={"X-Team-Id": SANDBOX_TEAM_ID}),
        401,
        "UNAUTHORIZED",
    )


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


# -- rate limit ---------------------------------------------------------------------------------------
def test_eleventh_request_in_a_second_is_rate_limited(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(rate_limit=10)
    for _attempt in range(3):  # a slow machine may spread 11 requests over more than a second: try again
        time.sleep(1.05)  # an empty window
        started = time.monotonic()
        statuses = [api.get("/instances") for _ in range(11)]
        if time.monotonic() - started < 0.9:
            break
    else:
        pytest.skip("this machine cannot send 11 requests within 0.9 s")
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


# -- monthly quota --------------------------------------------------------------------------------------
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

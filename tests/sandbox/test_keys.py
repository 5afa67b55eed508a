"""Authentication: personal and team keys, revocation, Bearer."""

from __future__ import annotations

import pytest

from airflow_provider_msgflash.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TEAM_ID,
    SANDBOX_TEAM_KEY,
    SandboxAdminError,
    SandboxHandle,
)
from tests.sandbox.sandbox_testkit import (
    Api,
    error_of,
)

OTHER_KEY = "msgf_live_" + "0123456789abcdef" * 4
ROUTES = ["/instances", "/number-lookups", "/contacts", "/me"]


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

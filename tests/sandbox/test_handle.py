"""SandboxHandle: connection strings, seeded ids, headers, and the admin calls."""

from __future__ import annotations

import json

import pytest

from airflow_provider_msgflash.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TEAM_ID,
    SANDBOX_TEAM_KEY,
    SEEDED_INSTANCES,
    SandboxAdminError,
    SandboxConfig,
    SandboxHandle,
    is_on_whatsapp,
    key_fingerprint,
)
from tests.sandbox.sandbox_testkit import Api, nums


def test_connection_json_and_uri() -> None:
    sb = SandboxHandle("http://127.0.0.1:8765", SandboxConfig())
    personal = json.loads(sb.connection_json())
    assert personal == {
        "conn_type": "msgflash",
        "host": "http://127.0.0.1:8765",
        "password": SANDBOX_API_KEY,
        "extra": {},
    }
    team = json.loads(sb.connection_json(team=True))
    assert team["password"] == SANDBOX_TEAM_KEY and team["extra"] == {"team_id": SANDBOX_TEAM_ID}
    assert sb.connection_uri() == f"msgflash://:{SANDBOX_API_KEY}@127.0.0.1:8765"
    assert sb.connection_uri(team=True) == f"msgflash://:{SANDBOX_TEAM_KEY}@127.0.0.1:8765?team_id={SANDBOX_TEAM_ID}"
    assert sb.instance_id("sandbox-connected") == SEEDED_INSTANCES["sandbox-connected"].id
    assert sb.instance_id(SEEDED_INSTANCES["sandbox-warming"].id) == SEEDED_INSTANCES["sandbox-warming"].id
    with pytest.raises(KeyError):
        sb.instance_id("nope")
    assert sb.headers(team=True) == {"x-api-key": SANDBOX_TEAM_KEY, "X-Team-Id": SANDBOX_TEAM_ID}


def test_admin_reads_contacts_requests_state_and_config(api: Api, sb: SandboxHandle, connected: str) -> None:
    api.data("POST", "/contacts", 201, json={"name": "Ada", "phone": "+41791112233"})
    lid = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(4)})["lookupId"]
    api.data("POST", f"/number-lookups/{lid}/import-contacts", json={"tag": "t"})
    contacts = sb.contacts()
    assert [c["phone"] for c in contacts] == [
        "+41791112233",
        *[n for n in nums(4) if is_on_whatsapp(n)],
    ]  # oldest first
    assert contacts[1]["tags"] == ["t"]
    log = sb.requests()
    assert [(r["method"], r["route"]) for r in log] == [
        ("POST", "/api/v1/contacts"),
        ("POST", "/api/v1/number-lookups"),
        ("POST", "/api/v1/number-lookups/{id}/import-contacts"),
    ]
    assert sb.requests(limit=2) == log[-2:]
    st = sb.state()
    assert st["contacts"] == 3 and [lk["id"] for lk in st["lookups"]] == [lid]
    assert st["requests_total"] == 3 and st["quota_used"] == 3 and st["total_429"] == 0
    cfg = sb.admin("GET", "config")
    assert cfg["api_keys"] == [key_fingerprint(SANDBOX_API_KEY)] and SANDBOX_API_KEY not in json.dumps(cfg)
    with pytest.raises(SandboxAdminError) as info:
        sb.admin("GET", "nothing-here")
    assert info.value.status == 404 and info.value.code == "NOT_FOUND"

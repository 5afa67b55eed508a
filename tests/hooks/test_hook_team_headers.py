"""Team-key header rules on the wire: a team key goes with ``X-Team-Id``, a personal key never does; the key
is always in ``x-api-key`` and never in ``Authorization``. (The sandbox accepting both kinds of key is
checked in test_hook_sandbox_routes.py.)"""

from __future__ import annotations

from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from tests.hooks.msgflash_hookkit import personal_key, team_key

TEAM_ID = "0f8e6c3a-1b2d-4c5e-9f70-112233445566"


def _assert_headers(seen, key, team_id):
    assert seen, "the server saw no request"
    for s in seen:
        assert s.headers["x-api-key"] == key
        assert "authorization" not in s.headers
        assert s.headers.get("accept") == "application/json"
        if team_id is None:
            assert "x-team-id" not in s.headers
        else:
            assert s.headers["x-team-id"] == team_id


def _script(fake_api):
    fake_api.on("GET", "/instances", fake_api.ok([]))
    fake_api.on("POST", "/number-lookups/l-1/cancel", fake_api.ok({"id": "l-1", "status": "cancelled"}))


def test_personal_key_sends_no_team_header(fake_api, set_conn):
    key = personal_key()
    set_conn(fake_api.url, key, extra={"requests_per_second": 0})
    _script(fake_api)
    hook = MsgFlashHook()
    hook.list_instances()
    hook.cancel_number_lookup("l-1")
    _assert_headers(fake_api.requests, key, None)


def test_team_key_sends_team_header(fake_api, set_conn):
    key = team_key()
    set_conn(fake_api.url, key, extra={"team_id": f" {TEAM_ID} ", "requests_per_second": 0})
    _script(fake_api)
    hook = MsgFlashHook()
    hook.list_instances()
    hook.cancel_number_lookup("l-1")
    _assert_headers(fake_api.requests, key, TEAM_ID)


async def test_async_personal_key_sends_no_team_header(fake_api, set_conn):
    key = personal_key()
    set_conn(fake_api.url, key, extra={"requests_per_second": 0})
    _script(fake_api)
    hook = MsgFlashAsyncHook()
    await hook.list_instances()
    await hook.cancel_number_lookup("l-1")
    _assert_headers(fake_api.requests, key, None)


async def test_async_team_key_sends_team_header(fake_api, set_conn):
    key = team_key()
    set_conn(fake_api.url, key, extra={"extra__msgflash__team_id": TEAM_ID, "requests_per_second": 0})
    _script(fake_api)
    hook = MsgFlashAsyncHook()
    await hook.list_instances()
    await hook.cancel_number_lookup("l-1")
    _assert_headers(fake_api.requests, key, TEAM_ID)

"""The key and team id are checked before anything is sent: the server sees no request, the message names
the connection and the fix, and never contains the key."""

from __future__ import annotations

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from tests.hooks.msgflash_hookkit import personal_key, team_key

PERSONAL = personal_key()
TEAM = team_key()

# (case id, password, team_id extra, words the message must contain)
CASES = [
    ("missing", None, None, ["has no API key", "'API key' (password) field"]),
    ("blank", "   ", None, ["has no API key"]),
    ("malformed-short", "msgf_live_1234abcd", None, ["not in a MsgFlash format", "Copy the key again"]),
    ("malformed-upper-hex", "msgf_live_" + "AB" * 32, None, ["not in a MsgFlash format", "64 lowercase hex"]),
    ("other-vendor", "sk-" + "x" * 40, None, ["not in a MsgFlash format"]),
    ("bearer", "Bearer " + PERSONAL, None, ["'Bearer '", "x-api-key", "bare key"]),
    ("team-without-team-id", TEAM, None, ["team key", "team_id", "X-Team-Id"]),
    ("personal-with-team-id", PERSONAL, "4b0c7bde-6f55-4d0c-9c36-0d2b8f2f4e11", ["TEAM_KEY_REQUIRED", "team_id"]),
]


def _secret_parts(password):
    """The key and its distinctive parts (what must never show up in a message)."""
    if not password or not password.strip():
        return []
    bare = password.strip().removeprefix("Bearer ").strip()
    tail = bare.split("_")[-1] if "_" in bare else bare
    return [password.strip(), bare, tail, tail[:16]]


def _check(exc: MsgFlashConfigError, password, words):
    text = f"{exc} {exc!r} {exc.message}"
    assert exc.code == "BAD_CONNECTION"
    assert "'msgflash_keycheck'" in str(exc)
    for w in words:
        assert w in str(exc), (w, str(exc))
    for part in _secret_parts(password):
        assert part not in text


@pytest.mark.parametrize(("password", "team_id", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sync_hook_refuses_before_sending(password, team_id, words, fake_api, set_conn):
    extra = {"team_id": team_id} if team_id else None
    conn_id = set_conn(fake_api.url, password, extra=extra, conn_id="msgflash_keycheck")
    hook = MsgFlashHook(conn_id)
    with pytest.raises(MsgFlashConfigError) as ei:
        hook.list_instances()
    _check(ei.value, password, words)
    # test_connection reports the same problem in plain words, also without sending anything
    ok, message = hook.test_connection()
    assert ok is False
    assert message == ei.value.message
    assert fake_api.requests == []


@pytest.mark.parametrize(("password", "team_id", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_async_hook_refuses_before_sending(password, team_id, words, fake_api, set_conn):
    extra = {"team_id": team_id} if team_id else None
    conn_id = set_conn(fake_api.url, password, extra=extra, conn_id="msgflash_keycheck")
    with pytest.raises(MsgFlashConfigError) as ei:
        await MsgFlashAsyncHook(conn_id).get_instance_state("inst-1")
    _check(ei.value, password, words)
    assert fake_api.requests == []


def test_surrounding_whitespace_is_tolerated(fake_api, set_conn):
    key = personal_key()
    set_conn(fake_api.url, f"  {key}\n", extra={"requests_per_second": 0})
    fake_api.on("GET", "/instances", fake_api.ok([]))
    assert MsgFlashHook().list_instances() == []
    assert fake_api.requests[0].headers["x-api-key"] == key


def test_bad_arguments_are_refused_before_sending(fake_conn, fake_api):
    fake_conn()
    hook = MsgFlashHook()
    with pytest.raises(MsgFlashConfigError, match="instance_id"):
        hook.get_instance("  ")
    with pytest.raises(MsgFlashConfigError, match="numbers"):
        hook.create_number_lookup("inst-1", [])
    with pytest.raises(MsgFlashConfigError, match="index 1"):
        hook.create_number_lookup("inst-1", ["+41791234567", 41791234568])
    with pytest.raises(MsgFlashConfigError, match="at most 10000"):
        hook.create_number_lookup("inst-1", ["+41791234567"] * 10_001)
    with pytest.raises(MsgFlashConfigError, match="tag"):
        hook.import_contacts("lookup-1", " ")
    assert fake_api.requests == []


def test_path_parameters_are_quoted(fake_conn, fake_api):
    fake_conn()
    fake_api.on("GET", "/instances/a%2Fb%3Fc", fake_api.ok({"id": "a/b?c"}))
    assert MsgFlashHook().get_instance("a/b?c") == {"id": "a/b?c"}
    assert [s.path for s in fake_api.requests] == ["/api/v1/instances/a%2Fb%3Fc"]

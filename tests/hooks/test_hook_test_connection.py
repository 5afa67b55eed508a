"""``MsgFlashHook.test_connection()``: the UI's "Test" button. Plain words, fast, never the key."""

from __future__ import annotations

from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from tests.hooks.msgflash_hookkit import free_port, personal_key, team_key

INSTANCES = [
    {"id": "i-1", "name": "a", "status": "connected"},
    {"id": "i-2", "name": "b", "status": "connecting"},
    {"id": "i-3", "name": "c", "status": "connected"},
]


def test_success_message(fake_api, fake_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.ok(INSTANCES))
    ok, message = MsgFlashHook().test_connection()
    assert ok is True
    assert message == f"Connected to MsgFlash at {fake_api.url} (personal key): 3 instance(s), 2 connected."
    assert [(s.method, s.path) for s in fake_api.requests] == [("GET", "/api/v1/instances")]  # one cheap call


def test_success_with_a_team_key(fake_api, set_conn):
    key = team_key()
    set_conn(fake_api.url, key, extra={"team_id": "team-1", "requests_per_second": 0})
    fake_api.on("GET", "/instances", fake_api.ok([]))
    ok, message = MsgFlashHook().test_connection()
    assert ok is True
    assert "(team key): 0 instance(s), 0 connected." in message
    assert fake_api.requests[0].headers["x-team-id"] == "team-1"


def test_bad_key_401(fake_api, fake_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.err(401, "UNAUTHORIZED", "Invalid API key"))
    ok, message = MsgFlashHook().test_connection()
    assert ok is False
    assert message.startswith("MsgFlash refused the request: 401 UNAUTHORIZED: Invalid API key")
    assert "Check the API key in the connection" in message
    assert fake_conn.key not in message
    assert len(fake_api.requests) == 1  # a 401 is not retried


def test_quota_used_up(fake_api, fake_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.err(429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", "Monthly quota reached"))
    ok, message = MsgFlashHook().test_connection()
    assert ok is False
    assert "MONTHLY_API_REQUEST_QUOTA_EXCEEDED" in message and "Upgrade the plan" in message


def test_unreachable_host_is_one_try_and_each_hint_once(set_conn):
    # max_retries 5 on the connection: the Test still makes one try (the refused connection is
    # not retried with backoff, which took 10-12 s).
    set_conn(f"http://127.0.0.1:{free_port()}", personal_key(), extra={"max_retries": 5})
    hook = MsgFlashHook()
    ok, message = hook.test_connection()
    assert ok is False
    assert message.startswith("Could not reach MsgFlash: could not connect to http://127.0.0.1:")
    assert "within 5 s" in message  # the Test's own connect timeout, not the connection's 30 s
    assert message.count("Base URL") == 1, message


def test_a_server_error_is_not_retried_by_the_test(fake_api, set_conn):
    set_conn(fake_api.url, personal_key(), extra={"max_retries": 5, "requests_per_second": 0})
    fake_api.on("GET", "/instances", fake_api.err(503, "PROVIDER_UNAVAILABLE", "try later"))
    ok, message = MsgFlashHook().test_connection()
    assert ok is False and "PROVIDER_UNAVAILABLE" in message
    assert len(fake_api.requests) == 1


def test_a_slow_answer_is_given_up_after_the_tests_own_timeout(fake_api, set_conn):
    set_conn(fake_api.url, personal_key(), extra={"timeout": 30, "requests_per_second": 0})
    fake_api.on("GET", "/instances", fake_api.ok([], delay=8))
    ok, message = MsgFlashHook().test_connection()
    assert ok is False
    assert "no answer from" in message and "within 5 s (timeout)" in message
    assert message.count("Base URL") == 1, message
    assert len(fake_api.requests) == 1


def test_airflows_random_test_id_is_not_shown(fake_api, set_conn):
    """The UI and REST "Test" run the hook under a random 8-character id exported as an env var:
    messages say "The connection", not that id; a stored connection's own id is named."""
    transient = "b3BE9k3x"
    set_conn(fake_api.url, "msgf_live_tooshort", conn_id=transient)
    ok, message = MsgFlashHook(transient).test_connection()
    assert ok is False
    assert message.startswith("The connection: the API key is not in a MsgFlash format"), message
    assert transient not in message


def test_malformed_key_sends_nothing(fake_api, set_conn):
    set_conn(fake_api.url, "msgf_live_tooshort", conn_id="msgflash_ui")
    ok, message = MsgFlashHook("msgflash_ui").test_connection()
    assert ok is False
    assert "'msgflash_ui'" in message and "not in a MsgFlash format" in message
    assert "tooshort" not in message
    assert fake_api.requests == []


def test_bad_base_url(set_conn):
    set_conn("ftp://srv.msgflash.com", personal_key())
    ok, message = MsgFlashHook().test_connection()
    assert ok is False
    assert "is not an http(s) URL" in message


def test_wrong_base_url_answering_html(fake_api, fake_conn):
    fake_conn()
    fake_api.on(
        "GET", "/instances", fake_api.Reply(200, "<html>It works!</html>", headers={"Content-Type": "text/html"})
    )
    ok, message = MsgFlashHook().test_connection()
    assert ok is False
    assert "BAD_ENVELOPE" in message and "is the Base URL right?" in message
    assert len(fake_api.requests) == 1

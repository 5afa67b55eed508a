"""Errors and retries against the sandbox: the codes it produces, its 429 storm, monthly quota, injected
5xx, dropped connections and latency (a lost answer to the lookup-creating POST)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from airflow_provider_msgflash.exceptions import (
    MsgFlashAuthError,
    MsgFlashConflictError,
    MsgFlashConnectionError,
    MsgFlashQuotaExceededError,
    MsgFlashRateLimitError,
    MsgFlashServerError,
    MsgFlashValidationError,
)
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from airflow_provider_msgflash.sandbox import SEEDED_INSTANCES
from tests.hooks.msgflash_hookkit import personal_key, when_seen

CONNECTED = SEEDED_INSTANCES["sandbox-connected"].id
NUMBERS = ["+41791234560", "+41791234561", "+41791234562", "+41791234563"]


def api_log(sb) -> list[dict]:
    return [r for r in sb.requests() if r["path"].startswith("/api/")]


def when(entry: dict) -> float:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def after(seconds: float, fn) -> threading.Thread:
    """Run ``fn`` in a thread ``seconds`` from now (to lift a fault while the hook is mid-call)."""

    def run() -> None:
        time.sleep(seconds)
        fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# --------------------------------------------------------------------------------------------------
# Auth
# --------------------------------------------------------------------------------------------------
def test_unknown_key_is_401_and_not_retried(sandbox_conn):
    sb = sandbox_conn(key=personal_key(), max_retries=3)
    with pytest.raises(MsgFlashAuthError) as ei:
        MsgFlashHook().list_instances()
    assert (ei.value.code, ei.value.status_code) == ("UNAUTHORIZED", 401)
    assert ei.value.message.startswith("Invalid API key.")
    assert [r["status"] for r in api_log(sb)] == [401]


async def test_async_unknown_key_is_401(sandbox_conn):
    sb = sandbox_conn(key=personal_key(), max_retries=3)
    with pytest.raises(MsgFlashAuthError):
        await MsgFlashAsyncHook().get_instance_state(CONNECTED)
    assert [r["status"] for r in api_log(sb)] == [401]


def test_revoked_key_fails_at_once(sandbox_conn):
    key = personal_key()
    sb = sandbox_conn(key=key)
    sb.add_key(key)
    hook = MsgFlashHook()
    assert hook.list_instances()
    sb.revoke_key(key)
    with pytest.raises(MsgFlashAuthError, match="revoked"):
        hook.list_instances()


def test_team_key_with_a_wrong_team_id_is_401(sandbox_conn):
    sandbox_conn(team=True, team_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(MsgFlashAuthError) as ei:
        MsgFlashHook().list_instances()
    assert ei.value.status_code == 401


# --------------------------------------------------------------------------------------------------
# 400 / 409 from the sandbox
# --------------------------------------------------------------------------------------------------
def test_validation_errors_keep_the_details(sandbox_conn):
    sb = sandbox_conn(max_retries=3)
    hook = MsgFlashHook()
    with pytest.raises(MsgFlashValidationError) as ei:
        hook.list_number_lookups(limit=1000)
    assert (ei.value.code, ei.value.status_code) == ("VALIDATION_ERROR", 400)
    assert ei.value.details and ei.value.details[0]["field"] == "limit"
    lookup_id = hook.create_number_lookup(CONNECTED, NUMBERS)["lookupId"]
    with pytest.raises(MsgFlashValidationError) as ei:
        hook.import_contacts(lookup_id, "no spaces allowed!")
    assert ei.value.details[0]["field"] == "tag"
    assert [r["status"] for r in api_log(sb)] == [400, 200, 400]


def test_conflicts(sandbox_conn):
    sb = sandbox_conn(max_retries=3)
    hook = MsgFlashHook()
    with pytest.raises(MsgFlashConflictError) as ei:
        hook.create_number_lookup(SEEDED_INSTANCES["sandbox-disconnected"].id, NUMBERS)
    assert (ei.value.code, ei.value.status_code) == ("CONFLICT", 409)
    assert "not connected" in ei.value.message
    sb.set_faults(stall_lookups=1)
    running = hook.create_number_lookup(CONNECTED, NUMBERS * 30)["lookupId"]
    with pytest.raises(MsgFlashConflictError):
        hook.import_contacts(running, "too-early")
    assert [r["status"] for r in api_log(sb)] == [409, 202, 409]


# --------------------------------------------------------------------------------------------------
# 429: storm and monthly quota
# --------------------------------------------------------------------------------------------------
def test_429_storm_is_waited_out(sandbox_conn):
    sb = sandbox_conn(max_retries=3)
    sb.set_faults(storm_429=1)
    instances = MsgFlashHook().list_instances()
    assert len(instances) == len(SEEDED_INSTANCES)
    log = api_log(sb)
    assert [r["status"] for r in log] == [429, 200]
    assert when(log[1]) - when(log[0]) >= 1.0 - 0.002  # Retry-After: 1 (times are logged in ms)


async def test_async_429_storm_is_waited_out(sandbox_conn):
    sb = sandbox_conn(max_retries=3)
    sb.set_faults(storm_429=1)
    assert (await MsgFlashAsyncHook().get_instance_state(CONNECTED))["status"] == "connected"
    log = api_log(sb)
    assert [r["status"] for r in log] == [429, 200]
    assert when(log[1]) - when(log[0]) >= 1.0 - 0.002


def test_429_storm_without_retries_gives_retry_after(sandbox_conn):
    sb = sandbox_conn(max_retries=0)
    sb.set_faults(storm_429=30)
    with pytest.raises(MsgFlashRateLimitError) as ei:
        MsgFlashHook().list_instances()
    assert (ei.value.code, ei.value.status_code) == ("API_RATE_LIMIT_EXCEEDED", 429)
    # The sandbox's Retry-After is what is left of the 30 s storm, rounded up, read from the header;
    # how much is left depends on how busy the machine is, so only its range is checked.
    assert 1 < ei.value.retry_after <= 30
    # The API's words once, then what to do about it (not the same sentence twice).
    assert ei.value.message.lower().count("per second") == 1, ei.value.message
    assert "requests_per_second" in ei.value.message
    sb.set_faults(storm_429=0)


def test_monthly_quota_is_not_retried(sandbox_conn):
    sb = sandbox_conn(max_retries=5)
    sb.set_faults(monthly_quota=2)
    hook = MsgFlashHook()
    hook.list_instances()
    hook.get_instance(CONNECTED)
    with pytest.raises(MsgFlashQuotaExceededError) as ei:
        hook.get_instance_state(CONNECTED)
    assert (ei.value.code, ei.value.status_code) == ("MONTHLY_API_REQUEST_QUOTA_EXCEEDED", 429)
    assert [r["status"] for r in api_log(sb)] == [200, 200, 429]
    ok, message = hook.test_connection()
    assert not ok and "MONTHLY_API_REQUEST_QUOTA_EXCEEDED" in message


# --------------------------------------------------------------------------------------------------
# 5xx, dropped connections, latency
# --------------------------------------------------------------------------------------------------
def test_injected_5xx_exhaust_max_retries(sandbox_conn):
    sb = sandbox_conn(max_retries=2)
    sb.set_faults(error_rate=1.0)
    with pytest.raises(MsgFlashServerError) as ei:
        MsgFlashHook().get_instance(CONNECTED)
    assert ei.value.code in {"INTERNAL_ERROR", "PROVIDER_ERROR", "PROVIDER_UNAVAILABLE"}
    assert [r["status"] >= 500 for r in api_log(sb)] == [True] * 3


def test_5xx_then_recovery(sandbox_conn):
    sb = sandbox_conn(max_retries=4)
    sb.set_faults(error_rate=1.0)
    lift = when_seen(sb, lambda r: r["status"] >= 500, lambda: sb.set_faults(error_rate=0.0))
    assert MsgFlashHook().get_instance(CONNECTED)["id"] == CONNECTED
    lift.join()
    statuses = [r["status"] for r in api_log(sb)]
    assert statuses[-1] == 200 and all(s >= 500 for s in statuses[:-1]) and len(statuses) >= 2


async def test_async_5xx_then_recovery(sandbox_conn):
    sb = sandbox_conn(max_retries=4)
    sb.set_faults(error_rate=1.0)
    lift = when_seen(sb, lambda r: r["status"] >= 500, lambda: sb.set_faults(error_rate=0.0))
    assert (await MsgFlashAsyncHook().get_instance_state(CONNECTED))["instanceId"] == CONNECTED
    lift.join()
    assert [r["status"] for r in api_log(sb)][-1] == 200


def test_dropped_connections_on_get_are_retried(sandbox_conn):
    sb = sandbox_conn(max_retries=1)
    sb.set_faults(drop_rate=1.0)
    with pytest.raises(MsgFlashConnectionError):
        MsgFlashHook().list_instances()
    assert [r["dropped"] for r in api_log(sb)] == [True, True]


def test_create_lookup_with_dropped_answer_is_recovered_not_resent(sandbox_conn):
    sb = sandbox_conn(max_retries=3)
    sb.set_faults(drop_rate=1.0)
    lift = when_seen(sb, lambda r: r["method"] == "POST", lambda: sb.set_faults(drop_rate=0.0))
    answer = MsgFlashHook().create_number_lookup(CONNECTED, NUMBERS)
    lift.join()
    assert answer["recovered"] is True
    posts = [r for r in api_log(sb) if r["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["dropped"] is True
    (lookup,) = sb.state()["lookups"]
    assert answer["lookupId"] == lookup["id"] and lookup["requestedCount"] == 4
    assert (answer["mode"], answer["status"], answer["requested"]) == ("sync", "done", 4)


def test_create_lookup_after_read_timeout_looks_first_then_resends_once(sandbox_conn):
    # The sandbox's latency delays a request before it reads the body, so a POST whose client gave up
    # (timeout 0.4 s < latency 0.8 s) is never processed (logged as a 400). The hook must not assume
    # either way: it looks for the lookup first, finds none, and only then sends again; in the end
    # exactly one lookup exists. (The "processed but answer lost" case: the drop_rate test above.)
    sb = sandbox_conn(max_retries=3, timeout=0.4)
    sb.set_faults(latency=0.8)
    lift = after(0.2, lambda: sb.set_faults(latency=0.0))
    answer = MsgFlashHook().create_number_lookup(CONNECTED, NUMBERS * 30)  # 120 numbers: async
    lift.join()
    assert "recovered" not in answer
    assert (answer["mode"], answer["status"], answer["requested"]) == ("async", "pending", 120)
    calls = [(r["method"], r["path"]) for r in api_log(sb)]
    assert calls == [
        ("POST", "/api/v1/number-lookups"),
        ("GET", "/api/v1/number-lookups"),
        ("POST", "/api/v1/number-lookups"),
    ]
    assert [lk["id"] for lk in sb.state()["lookups"]] == [answer["lookupId"]]

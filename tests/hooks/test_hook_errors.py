"""Every error code of the contract maps to its exception, keeping code, status, message and details;
odd answers (HTML 502, 2xx without envelope, unknown codes) still give a clear MsgFlashError.

The local server answers each code on demand; the sandbox-produced codes are covered in
test_hook_sandbox_errors.py."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_msgflash.exceptions import (
    MsgFlashAuthError,
    MsgFlashConflictError,
    MsgFlashError,
    MsgFlashLookupNotCancellableError,
    MsgFlashNotFoundError,
    MsgFlashPermissionError,
    MsgFlashQuotaExceededError,
    MsgFlashRateLimitError,
    MsgFlashServerError,
    MsgFlashValidationError,
)
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook

# The contract's table: code, HTTP status, exception class, retried?
TABLE = [
    ("VALIDATION_ERROR", 400, MsgFlashValidationError, False),
    ("BAD_REQUEST", 400, MsgFlashValidationError, False),
    ("LOOKUP_CANNOT_BE_CANCELLED", 400, MsgFlashLookupNotCancellableError, False),
    ("UNAUTHORIZED", 401, MsgFlashAuthError, False),
    ("FORBIDDEN", 403, MsgFlashPermissionError, False),
    ("SUBSCRIPTION_INACTIVE", 403, MsgFlashPermissionError, False),
    ("TEAM_KEY_REQUIRED", 403, MsgFlashPermissionError, False),
    ("TEAM_KEY_NOT_ALLOWED", 403, MsgFlashPermissionError, False),
    ("NOT_FOUND", 404, MsgFlashNotFoundError, False),
    ("LOOKUP_NOT_FOUND", 404, MsgFlashNotFoundError, False),
    ("CONFLICT", 409, MsgFlashConflictError, False),
    ("API_RATE_LIMIT_EXCEEDED", 429, MsgFlashRateLimitError, True),
    ("MONTHLY_API_REQUEST_QUOTA_EXCEEDED", 429, MsgFlashQuotaExceededError, False),
    ("INTERNAL_ERROR", 500, MsgFlashServerError, True),
    ("PROVIDER_ERROR", 502, MsgFlashServerError, True),
    ("PROVIDER_TIMEOUT", 502, MsgFlashServerError, True),
    ("PROVIDER_UNAVAILABLE", 502, MsgFlashServerError, True),
]
IDS = [row[0] for row in TABLE]
DETAILS = [{"field": "numbers", "issue": "x"}]


def _check(exc, code, status, cls, request="GET /api/v1/instances/inst-1"):
    assert type(exc) is cls
    assert (exc.code, exc.status_code) == (code, status)
    assert exc.message.startswith(f"API says {code}")  # the API's own message is kept, first
    assert exc.details == DETAILS
    assert exc.request == request
    text = str(exc)
    assert f"{status} {code}" in text and f"API says {code}" in text and request in text


@pytest.mark.parametrize(("code", "status", "cls", "retried"), TABLE, ids=IDS)
def test_sync_error_code_maps_to_exception(code, status, cls, retried, fake_api, fake_conn):
    fake_conn(max_retries=0)
    fake_api.on("GET", "/instances/inst-1", fake_api.err(status, code, f"API says {code}", DETAILS))
    with pytest.raises(MsgFlashError) as ei:
        MsgFlashHook().get_instance("inst-1")
    _check(ei.value, code, status, cls)
    assert ei.value.retryable is retried
    assert len(fake_api.requests) == 1  # max_retries=0: one try whatever the code


@pytest.mark.parametrize(("code", "status", "cls", "retried"), TABLE, ids=IDS)
async def test_async_error_code_maps_to_exception(code, status, cls, retried, fake_api, fake_conn):
    fake_conn(max_retries=0)
    fake_api.on("GET", "/instances/inst-1/state", fake_api.err(status, code, f"API says {code}", DETAILS))
    with pytest.raises(MsgFlashError) as ei:
        await MsgFlashAsyncHook().get_instance_state("inst-1")
    _check(ei.value, code, status, cls, "GET /api/v1/instances/inst-1/state")
    assert len(fake_api.requests) == 1


def test_hints_are_added_after_the_api_message(fake_api, fake_conn):
    fake_conn(max_retries=0)
    fake_api.on("GET", "/me", fake_api.err(403, "TEAM_KEY_NOT_ALLOWED", "Team keys cannot use /me"))
    with pytest.raises(MsgFlashPermissionError) as ei:
        MsgFlashHook().get_me()
    assert ei.value.message.startswith("Team keys cannot use /me — ")
    assert "personal key" in ei.value.message


def test_exceptions_survive_pickling(fake_api, fake_conn):
    # Airflow ships exceptions between processes; code, status, details and retry_after must survive.
    fake_conn(max_retries=0)
    fake_api.on(
        "GET",
        "/instances",
        fake_api.err(429, "API_RATE_LIMIT_EXCEEDED", "slow down", DETAILS, headers={"Retry-After": "7"}),
    )
    with pytest.raises(MsgFlashRateLimitError) as ei:
        MsgFlashHook().list_instances()
    copy = pickle.loads(pickle.dumps(ei.value))
    assert type(copy) is MsgFlashRateLimitError
    assert (copy.code, copy.status_code, copy.details, copy.retry_after) == (
        "API_RATE_LIMIT_EXCEEDED",
        429,
        DETAILS,
        7.0,
    )
    assert str(copy) == str(ei.value)


def test_html_502_from_a_proxy_is_a_retried_server_error(fake_api, fake_conn):
    fake_conn(max_retries=1)
    html = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
    fake_api.on("GET", "/instances", fake_api.Reply(502, html, headers={"Content-Type": "text/html"}))
    with pytest.raises(MsgFlashServerError) as ei:
        MsgFlashHook().list_instances()
    assert ei.value.status_code == 502 and ei.value.code is None
    # The host answered: a gateway in front of MsgFlash spoke, and the Base URL is not blamed.
    assert "a gateway or proxy in front of MsgFlash answered HTTP 502" in ei.value.message
    assert "502 Bad Gateway" in ei.value.message and "Base URL" not in ei.value.message
    assert len(fake_api.requests) == 2  # retried once


async def test_async_html_502(fake_api, fake_conn):
    fake_conn(max_retries=0)
    fake_api.on(
        "GET", "/instances", fake_api.Reply(502, "<html>Bad Gateway</html>", headers={"Content-Type": "text/html"})
    )
    with pytest.raises(MsgFlashServerError, match="Bad Gateway"):
        await MsgFlashAsyncHook().list_instances()


@pytest.mark.parametrize(
    "body", [{"instances": []}, "<html>Welcome to nginx</html>", "", [1, 2]], ids=["no-data", "html", "empty", "list"]
)
def test_2xx_without_envelope_is_a_clear_error_and_not_retried(body, fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on("GET", "/instances", fake_api.Reply(200, body))
    with pytest.raises(MsgFlashServerError) as ei:
        MsgFlashHook().list_instances()
    assert ei.value.code == "BAD_ENVELOPE" and ei.value.status_code == 200
    assert "Base URL" in ei.value.message
    assert len(fake_api.requests) == 1


def test_create_lookup_answered_2xx_without_envelope_is_not_sent_twice(fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on("POST", "/number-lookups", fake_api.Reply(200, {"lookupId": "l-1"}))
    with pytest.raises(MsgFlashServerError, match="envelope"):
        MsgFlashHook().create_number_lookup("inst-1", ["+41791234560"])
    assert len(fake_api.seen("POST", "/number-lookups")) == 1


async def test_async_2xx_without_envelope(fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on("GET", "/instances", fake_api.Reply(204, ""))
    with pytest.raises(MsgFlashServerError) as ei:
        await MsgFlashAsyncHook().list_instances()
    assert ei.value.code == "BAD_ENVELOPE"
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, MsgFlashValidationError),
        (401, MsgFlashAuthError),
        (403, MsgFlashPermissionError),
        (404, MsgFlashNotFoundError),
        (409, MsgFlashConflictError),
        (418, MsgFlashError),
        (503, MsgFlashServerError),
    ],
)
def test_unknown_codes_fall_back_to_the_http_status(status, cls, fake_api, fake_conn):
    fake_conn(max_retries=0)
    fake_api.on("GET", "/instances", fake_api.err(status, "SOMETHING_NEW", "a new kind of error"))
    with pytest.raises(MsgFlashError) as ei:
        MsgFlashHook().list_instances()
    assert type(ei.value) is cls
    assert (ei.value.code, ei.value.status_code) == ("SOMETHING_NEW", status)
    assert ei.value.message == "a new kind of error"


def test_success_returns_data_only(fake_api, fake_conn):
    fake_conn()
    fake_api.on("GET", "/instances", fake_api.ok([{"id": "i-1", "status": "connected"}]))
    assert MsgFlashHook().list_instances() == [{"id": "i-1", "status": "connected"}]

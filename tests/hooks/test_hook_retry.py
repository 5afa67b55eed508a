"""The retry policy on the wire: what is retried, after how long, how often; and the lookup-creating POST,
which is never repeated blindly after a read timeout (the hook looks for the lookup it may have created).

All against the local server, which counts the requests it saw."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone
from email.utils import formatdate

import pytest

from airflow_provider_msgflash.api import answers as _answers
from airflow_provider_msgflash.exceptions import (
    MsgFlashConnectionError,
    MsgFlashError,
    MsgFlashQuotaExceededError,
    MsgFlashQuotaResetError,
    MsgFlashRateLimitError,
    MsgFlashServerError,
)
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from airflow_provider_msgflash.version_compat import AIRFLOW_HAS_RETRY_POLICIES, AirflowFailException
from tests.hooks.msgflash_hookkit import free_port, personal_key

INSTANCES = [{"id": "inst-1", "name": "main", "status": "connected"}]
NO_RETRY = [
    (400, "VALIDATION_ERROR"),
    (400, "BAD_REQUEST"),
    (401, "UNAUTHORIZED"),
    (403, "FORBIDDEN"),
    (403, "SUBSCRIPTION_INACTIVE"),
    (404, "NOT_FOUND"),
    (409, "CONFLICT"),
    (429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED"),
]


def _gaps(seen):
    return [b.t - a.t for a, b in itertools.pairwise(seen)]


# --------------------------------------------------------------------------------------------------
# 429
# --------------------------------------------------------------------------------------------------
def test_429_retry_after_seconds_is_honoured(fake_api, fake_conn, capfd):
    fake_conn(max_retries=2)
    fake_api.on(
        "GET",
        "/instances",
        fake_api.err(429, "API_RATE_LIMIT_EXCEEDED", "Too many requests", headers={"Retry-After": "1"}),
        fake_api.ok(INSTANCES),
    )
    assert MsgFlashHook().list_instances() == INSTANCES
    seen = fake_api.seen("GET", "/instances")
    assert len(seen) == 2
    assert 1.0 <= _gaps(seen)[0] < 2.0
    out = capfd.readouterr().out
    assert "API_RATE_LIMIT_EXCEEDED" in out and "try 1 of 3" in out  # the retry is logged for the on-call


def test_429_retry_after_http_date_is_honoured(fake_api, fake_conn):
    fake_conn(max_retries=2)
    not_before = int(time.time()) + 2
    fake_api.on(
        "GET",
        "/instances",
        fake_api.err(
            429, "API_RATE_LIMIT_EXCEEDED", "later", headers={"Retry-After": formatdate(not_before, usegmt=True)}
        ),
        fake_api.ok(INSTANCES),
    )
    assert MsgFlashHook().list_instances() == INSTANCES
    seen = fake_api.seen()
    assert len(seen) == 2
    assert seen[1].wall >= not_before - 0.05
    assert seen[1].wall < not_before + 1.0


async def test_async_429_retry_after_is_honoured(fake_api, fake_conn):
    fake_conn(max_retries=2)
    fake_api.on(
        "GET",
        "/instances/inst-1/state",
        fake_api.err(429, "API_RATE_LIMIT_EXCEEDED", "Too many requests", headers={"Retry-After": "1"}),
        fake_api.ok({"instanceId": "inst-1", "status": "connected", "providerState": "open"}),
    )
    state = await MsgFlashAsyncHook().get_instance_state("inst-1")
    assert state["providerState"] == "open"
    seen = fake_api.seen()
    assert len(seen) == 2
    assert 1.0 <= _gaps(seen)[0] < 2.0


def test_429_gives_up_after_max_retries(fake_api, fake_conn):
    fake_conn(max_retries=1)
    fake_api.on("GET", "/instances", fake_api.err(429, "API_RATE_LIMIT_EXCEEDED", "no", headers={"Retry-After": "0"}))
    with pytest.raises(MsgFlashRateLimitError) as ei:
        MsgFlashHook().list_instances()
    assert ei.value.retry_after == 0.0
    assert len(fake_api.requests) == 2


def test_parse_retry_after():
    assert _answers.parse_retry_after("3") == 3.0
    assert _answers.parse_retry_after(" 0.5 ") == 0.5
    assert _answers.parse_retry_after("-4") == 0.0
    assert _answers.parse_retry_after(formatdate(time.time() - 3600, usegmt=True)) == 0.0
    assert 8 < _answers.parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert _answers.parse_retry_after("soon") is None
    assert _answers.parse_retry_after("") is None
    assert _answers.parse_retry_after(None) is None


def test_retry_wait_backoff_is_bounded_and_grows():
    for attempt in range(1, 12):
        w = _answers.retry_wait(MsgFlashServerError("x"), attempt, 99, True)
        expected = min(_answers.MAX_BACKOFF, 0.5 * 2 ** (attempt - 1))
        assert w is not None and expected * 0.5 <= w <= expected
    limited = MsgFlashRateLimitError("x", retry_after=2.0)
    assert 2.0 <= (_answers.retry_wait(limited, 1, 5, True) or 0) <= 2.25
    huge = MsgFlashRateLimitError("x", retry_after=10_000.0)
    assert (_answers.retry_wait(huge, 1, 5, True) or 1e9) <= _answers.MAX_RETRY_AFTER + 0.25


def test_retry_wait_says_what_may_be_sent_again():
    server, dropped = MsgFlashServerError("502"), MsgFlashConnectionError("reset", maybe_sent=True)
    never_sent, limited = MsgFlashConnectionError("refused", maybe_sent=False), MsgFlashRateLimitError("429")
    for error in (server, dropped, never_sent, limited):
        assert _answers.retry_wait(error, 1, 5, True) is not None  # a GET: always, while retries are left
        assert _answers.retry_wait(error, 6, 5, True) is None  # no retry left
    # A POST that is not idempotent: only what proves it was refused or never sent is sent again.
    assert _answers.retry_wait(never_sent, 1, 5, False) is not None
    assert _answers.retry_wait(limited, 1, 5, False) is not None
    assert _answers.retry_wait(server, 1, 5, False) is None  # a 5xx may come after processing
    assert _answers.retry_wait(dropped, 1, 5, False) is None
    assert _answers.retry_wait(MsgFlashError("400"), 1, 5, True) is None


# --------------------------------------------------------------------------------------------------
# 5xx and connection errors
# --------------------------------------------------------------------------------------------------
def test_5xx_retried_then_success(fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on(
        "GET",
        "/instances",
        fake_api.err(500, "INTERNAL_ERROR"),
        fake_api.err(502, "PROVIDER_UNAVAILABLE"),
        fake_api.ok(INSTANCES),
    )
    assert MsgFlashHook().list_instances() == INSTANCES
    seen = fake_api.seen()
    assert len(seen) == 3
    g1, g2 = _gaps(seen)
    assert g1 >= 0.25 and g2 >= 0.5  # exponential backoff with jitter: [0.25, 0.5], then [0.5, 1]


async def test_async_5xx_retried_then_success(fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on(
        "GET", "/instances", fake_api.err(502, "PROVIDER_TIMEOUT"), fake_api.err(500, "INTERNAL_ERROR"), fake_api.ok([])
    )
    assert await MsgFlashAsyncHook().list_instances() == []
    assert len(fake_api.requests) == 3


@pytest.mark.parametrize("max_retries", [0, 2])
def test_max_retries_respected(max_retries, fake_api, fake_conn):
    fake_conn(max_retries=max_retries)
    fake_api.on("GET", "/instances", fake_api.err(500, "INTERNAL_ERROR", "boom"))
    with pytest.raises(MsgFlashServerError, match="boom"):
        MsgFlashHook().list_instances()
    assert len(fake_api.requests) == max_retries + 1


def test_max_retries_hook_argument_beats_the_extra(fake_api, fake_conn):
    fake_conn(max_retries=4)
    fake_api.on("GET", "/instances", fake_api.err(502, "PROVIDER_ERROR"))
    with pytest.raises(MsgFlashServerError):
        MsgFlashHook(max_retries=1).list_instances()
    assert len(fake_api.requests) == 2


async def test_async_max_retries_respected(fake_api, fake_conn):
    fake_conn(max_retries=1)
    fake_api.on("GET", "/instances", fake_api.err(500, "INTERNAL_ERROR"))
    with pytest.raises(MsgFlashServerError):
        await MsgFlashAsyncHook().list_instances()
    assert len(fake_api.requests) == 2


def test_dropped_answer_on_get_is_retried(fake_api, fake_conn):
    fake_conn(max_retries=2)
    fake_api.on("GET", "/instances", fake_api.Reply(drop=True), fake_api.ok(INSTANCES))
    assert MsgFlashHook().list_instances() == INSTANCES
    assert len(fake_api.requests) == 2


def test_read_timeout_on_get_is_retried(fake_api, fake_conn):
    fake_conn(max_retries=2, timeout=0.4)
    fake_api.on("GET", "/instances", fake_api.ok([], delay=1.0), fake_api.ok(INSTANCES))
    assert MsgFlashHook().list_instances() == INSTANCES
    assert len(fake_api.requests) == 2


async def test_async_read_timeout_on_get_is_retried(fake_api, fake_conn):
    fake_conn(max_retries=2, timeout=0.4)
    fake_api.on("GET", "/instances", fake_api.ok([], delay=1.0), fake_api.ok(INSTANCES))
    assert await MsgFlashAsyncHook().list_instances() == INSTANCES
    assert len(fake_api.requests) == 2


def test_read_timeout_gives_up_with_a_clear_error(fake_api, fake_conn):
    fake_conn(max_retries=0, timeout=0.3)
    fake_api.on("GET", "/instances", fake_api.ok([], delay=0.8))
    with pytest.raises(MsgFlashConnectionError) as ei:
        MsgFlashHook().list_instances()
    assert ei.value.code == "TIMEOUT" and ei.value.maybe_sent is True
    assert "no answer from" in ei.value.message


def test_connection_refused_is_retried(set_conn, start_fake_api_later):
    port = free_port()
    set_conn(f"http://127.0.0.1:{port}", personal_key(), extra={"max_retries": 6, "requests_per_second": 0})
    server = start_fake_api_later(port, 0.4, lambda api: api.on("GET", "/instances", api.ok(INSTANCES)))
    assert MsgFlashHook().list_instances() == INSTANCES
    assert len(server().requests) == 1


async def test_async_connection_refused_is_retried(set_conn, start_fake_api_later):
    port = free_port()
    set_conn(f"http://127.0.0.1:{port}", personal_key(), extra={"max_retries": 6, "requests_per_second": 0})
    server = start_fake_api_later(port, 0.4, lambda api: api.on("GET", "/instances", api.ok(INSTANCES)))
    assert await MsgFlashAsyncHook().list_instances() == INSTANCES
    assert len(server().requests) == 1


def test_connection_refused_gives_up(set_conn, capfd):
    set_conn(f"http://127.0.0.1:{free_port()}", personal_key(), extra={"max_retries": 1, "requests_per_second": 0})
    with pytest.raises(MsgFlashConnectionError) as ei:
        MsgFlashHook().list_instances()
    assert ei.value.maybe_sent is False and ei.value.code == "CONNECTION_ERROR"
    out = capfd.readouterr().out
    assert "try 1 of 2" in out and "try 2 of 2" not in out  # one retry, then it gives up


# --------------------------------------------------------------------------------------------------
# Never retried
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "code"), NO_RETRY, ids=[c for _, c in NO_RETRY])
def test_no_retry_on_client_errors(status, code, fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on("GET", "/instances", fake_api.err(status, code))
    with pytest.raises(MsgFlashError) as ei:
        MsgFlashHook().list_instances()
    assert ei.value.code == code
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize(("status", "code"), NO_RETRY, ids=[c for _, c in NO_RETRY])
async def test_async_no_retry_on_client_errors(status, code, fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on("GET", "/number-lookups/l-1/progress", fake_api.err(status, code))
    with pytest.raises(MsgFlashError) as ei:
        await MsgFlashAsyncHook().get_number_lookup_progress("l-1")
    assert ei.value.code == code
    assert len(fake_api.requests) == 1


def test_monthly_quota_fails_at_once_with_a_clear_message(fake_api, fake_conn):
    fake_conn(max_retries=5)
    fake_api.on("GET", "/instances", fake_api.err(429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", "Quota used"))
    with pytest.raises(MsgFlashQuotaExceededError) as ei:
        MsgFlashHook().list_instances()
    assert "will not clear within this task" in str(ei.value)
    assert len(fake_api.requests) == 1  # not retried


def test_monthly_quota_with_a_known_reset_is_left_to_the_task_retry_policy(fake_api, fake_conn):
    """A used-up quota that resets within the hour (Retry-After) is not waited for inside the request, nor final:
    on Airflow 3.3 MsgFlashRetryPolicy retries the task after that delay; elsewhere it stays final."""
    fake_conn(max_retries=5)
    fake_api.on(
        "GET",
        "/instances",
        fake_api.err(429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", "Quota used", headers={"Retry-After": "90"}),
    )
    with pytest.raises(MsgFlashError) as ei:
        MsgFlashHook().list_instances()
    assert len(fake_api.requests) == 1  # not retried within the task, so its Retry-After is not waited for
    if AIRFLOW_HAS_RETRY_POLICIES:
        assert type(ei.value) is MsgFlashQuotaResetError and not isinstance(ei.value, AirflowFailException)
        assert (
            85 <= (ei.value.retry_after or 0) <= 90
            and "resets in" in ei.value.message
            and "will not clear" not in ei.value.message
        )
    else:
        assert isinstance(ei.value, MsgFlashQuotaExceededError)


# --------------------------------------------------------------------------------------------------
# The lookup-creating POST
# --------------------------------------------------------------------------------------------------
NUMBERS = ["+41791234560", "+41791234561", "+41791234562"]
SYNC_ANSWER = {
    "mode": "sync",
    "lookupId": "l-new",
    "status": "done",
    "requested": 3,
    "normalized": 3,
    "checked": 3,
    "onWhatsAppCount": 2,
    "notOnWhatsAppCount": 1,
    "invalidCount": 0,
    "result": {"onWhatsApp": NUMBERS[::2], "notOnWhatsApp": NUMBERS[1:2], "invalid": []},
}


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _listed(lookup_id, instance_id="inst-1", requested=3, age=0.0, status="done"):
    return {
        "id": lookup_id,
        "instanceId": instance_id,
        "mode": "sync",
        "status": status,
        "requestedCount": requested,
        "createdAt": _iso(datetime.now(timezone.utc) - timedelta(seconds=age)),
    }


def _lookup_list(*items):
    # Built when the list is requested, so that createdAt is "now" relative to the lost POST.
    return lambda seen: {"data": {"lookups": [i() for i in items], "nextCursor": None, "hasMore": False}}


def _detail(lookup_id, numbers):
    return {**_listed(lookup_id), "result": {"onWhatsApp": numbers[:1], "notOnWhatsApp": numbers[1:], "invalid": []}}


OTHERS = ["+41790000001", "+41790000002", "+41790000003"]  # another run's numbers, of the same count


def test_create_lookup_not_repeated_after_read_timeout_but_recovered(fake_api, fake_conn):
    fake_conn(max_retries=3, timeout=0.5)
    fake_api.on("POST", "/number-lookups", fake_api.ok(SYNC_ANSWER, delay=1.2))
    fake_api.on(
        "GET",
        "/number-lookups",
        fake_api.Reply(
            200,
            _lookup_list(
                lambda: _listed("l-other-instance", instance_id="inst-2"),
                lambda: _listed("l-other-count", requested=4),
                lambda: _listed("l-same-size-other-numbers", age=0.2),
                lambda: _listed("l-mine", age=0.5),
                lambda: _listed("l-older-same-shape", age=3600),
            ),
        ),
    )
    fake_api.on("GET", "/number-lookups/l-same-size-other-numbers", fake_api.ok(_detail("x", OTHERS)))
    fake_api.on("GET", "/number-lookups/l-mine", fake_api.ok(_detail("l-mine", NUMBERS)))
    answer = MsgFlashHook().create_number_lookup("inst-1", NUMBERS)
    assert answer["recovered"] is True
    assert answer["lookupId"] == "l-mine"
    assert (answer["mode"], answer["status"], answer["requested"]) == ("sync", "done", 3)
    posts = fake_api.seen("POST", "/number-lookups")
    assert len(posts) == 1
    assert posts[0].body == {"instanceId": "inst-1", "numbers": NUMBERS}
    assert len(fake_api.seen("GET", "/number-lookups")) >= 1


def test_create_lookup_after_dropped_answer_is_recovered(fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on("POST", "/number-lookups", fake_api.Reply(drop=True))
    fake_api.on("GET", "/number-lookups", fake_api.Reply(200, _lookup_list(lambda: _listed("l-mine"))))
    fake_api.on("GET", "/number-lookups/l-mine", fake_api.ok(_detail("l-mine", NUMBERS)))
    answer = MsgFlashHook().create_number_lookup("inst-1", NUMBERS)
    assert (answer["lookupId"], answer["recovered"]) == ("l-mine", True)
    assert len(fake_api.seen("POST", "/number-lookups")) == 1


def test_create_lookup_sent_again_when_the_lost_request_created_nothing(fake_api, fake_conn):
    fake_conn(max_retries=3, timeout=0.5)
    fake_api.on("POST", "/number-lookups", fake_api.ok(SYNC_ANSWER, delay=1.2), fake_api.ok(SYNC_ANSWER))
    fake_api.on(
        "GET",
        "/number-lookups",
        fake_api.Reply(
            200,
            _lookup_list(
                lambda: _listed("l-cancelled", status="cancelled"),
                lambda: _listed("l-old", age=3600),
                lambda: _listed("l-other-instance", instance_id="inst-2"),
            ),
        ),
    )
    answer = MsgFlashHook().create_number_lookup("inst-1", NUMBERS)
    assert answer == SYNC_ANSWER  # the second POST's answer, not a recovered one
    assert len(fake_api.seen("POST", "/number-lookups")) == 2
    assert len(fake_api.seen("GET", "/number-lookups")) == 1


def test_create_lookup_after_a_5xx_looks_before_sending_again(fake_api, fake_conn):
    """A 5xx does not prove the POST was refused: the list is read first; only when it shows none is the
    request sent again."""
    fake_conn(max_retries=3)
    fake_api.on("POST", "/number-lookups", fake_api.err(502, "PROVIDER_ERROR"), fake_api.ok(SYNC_ANSWER))
    fake_api.on("GET", "/number-lookups", fake_api.Reply(200, _lookup_list(lambda: _listed("l-old", age=3600))))
    assert MsgFlashHook().create_number_lookup("inst-1", NUMBERS) == SYNC_ANSWER
    assert len(fake_api.seen("POST", "/number-lookups")) == 2
    assert len(fake_api.seen("GET", "/number-lookups")) == 1


def test_create_lookup_answered_by_a_gateway_page_after_processing_is_found_not_sent_again(fake_api, fake_conn):
    fake_conn(max_retries=3)
    page = "<html><head><title>504 Gateway Time-out</title></head><body><h1>504</h1></body></html>"
    fake_api.on("POST", "/number-lookups", fake_api.Reply(504, page, headers={"Content-Type": "text/html"}))
    fake_api.on("GET", "/number-lookups", fake_api.Reply(200, _lookup_list(lambda: _listed("l-mine"))))
    fake_api.on("GET", "/number-lookups/l-mine", fake_api.ok(_detail("l-mine", NUMBERS)))
    answer = MsgFlashHook().create_number_lookup("inst-1", NUMBERS)
    assert (answer["lookupId"], answer["recovered"]) == ("l-mine", True)
    assert len(fake_api.seen("POST", "/number-lookups")) == 1


def test_create_lookup_retried_after_connect_error(set_conn, start_fake_api_later):
    port = free_port()
    set_conn(f"http://127.0.0.1:{port}", personal_key(), extra={"max_retries": 6, "requests_per_second": 0})
    server = start_fake_api_later(port, 0.4, lambda api: api.on("POST", "/number-lookups", api.ok(SYNC_ANSWER)))
    assert MsgFlashHook().create_number_lookup("inst-1", NUMBERS) == SYNC_ANSWER
    assert len(server().seen("POST", "/number-lookups")) == 1
    assert server().seen("GET", "/number-lookups") == []


@pytest.mark.parametrize(("status", "code"), [(400, "VALIDATION_ERROR"), (404, "NOT_FOUND")])
def test_create_lookup_client_errors_not_retried(status, code, fake_api, fake_conn):
    fake_conn(max_retries=3)
    fake_api.on("POST", "/number-lookups", fake_api.err(status, code))
    with pytest.raises(MsgFlashError) as ei:
        MsgFlashHook().create_number_lookup("inst-1", NUMBERS)
    assert ei.value.code == code
    assert len(fake_api.requests) == 1


def test_cancel_is_retried_after_read_timeout(fake_api, fake_conn):
    # cancel is safe to repeat: a second cancel of a lookup the first one cancelled is "already finished"
    fake_conn(max_retries=2, timeout=0.4)
    fake_api.on(
        "POST",
        "/number-lookups/l-1/cancel",
        fake_api.ok({"id": "l-1", "status": "cancelled"}, delay=1.0),
        fake_api.err(400, "LOOKUP_CANNOT_BE_CANCELLED", "already cancelled"),
    )
    assert MsgFlashHook().cancel_number_lookup("l-1") is None
    assert len(fake_api.requests) == 2

"""The gateway in front of the API: nginx-style HTML error pages without the MsgFlash envelope, for a
create that was processed (gateway_after_create), an outage, unavailable routes, and a gateway's own 429s.
Window switches are set long and lifted with ``set_faults(...=0)``: no assertion depends on timing."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from airflow_provider_msgflash.sandbox import SandboxAdminError, SandboxConfig, SandboxHandle
from airflow_provider_msgflash.sandbox.app import create_app
from airflow_provider_msgflash.sandbox.config import ROUTE_LABELS
from tests.sandbox.sandbox_testkit import Api, nums, wait_status

LONG = 600.0  # a window that outlasts any test; lifted by setting the switch to 0


def assert_gateway_page(r: requests.Response, status: int) -> None:
    """An nginx error page: the status, HTML, no JSON and no MsgFlash error envelope."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html"), r.headers
    assert re.search(rf"<title>{status} [A-Za-z -]+</title>", r.text) and "<center>nginx</center>" in r.text, r.text
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    assert '"error"' not in r.text and "API_RATE_LIMIT_EXCEEDED" not in r.text


def create(api: Api, instance: str, n: int) -> requests.Response:
    return api.post("/number-lookups", json={"instanceId": instance, "numbers": nums(n)})


# -- gateway_after_create -------------------------------------------------------------------------
def test_gateway_after_create_processes_the_create_then_answers_a_gateway_page(
    api: Api, sb: SandboxHandle, connected: str
) -> None:
    sb.set_faults(gateway_after_create=4, pace="instant")
    answers = [create(api, connected, n) for n in (3, 120, 5)]  # sync, async, sync
    for r, status in zip(answers, (502, 503, 504), strict=True):  # 502, 503, 504 in turn
        assert_gateway_page(r, status)
    # Every create was processed: the lookups exist (listed, newest first) and ran to the end.
    listed = api.data("GET", "/number-lookups")["lookups"]
    assert [(x["requestedCount"], x["status"], x["instanceId"]) for x in listed] == [
        (5, "done", connected),
        (120, "done", connected),
        (3, "done", connected),
    ]
    log = sb.requests()
    assert [(r["method"], r["status"], r["processed"], r["route_status"]) for r in log] == [
        ("POST", 502, True, 200),
        ("POST", 503, True, 202),
        ("POST", 504, True, 200),
        ("GET", 200, True, 200),
    ]
    assert sb.faults()["gateway_after_create"] == 1
    assert api.get("/instances").status_code == 200  # only creates are concerned
    assert_gateway_page(create(api, connected, 2), 502)  # the last one used up
    assert create(api, connected, 2).status_code == 200
    posts = [r for r in sb.requests() if r["method"] == "POST"]
    assert len(posts) == len(sb.state()["lookups"]) == 5  # every POST sent created a lookup


def test_gateway_status_fixes_the_status(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(gateway_after_create=2, gateway_status=504)
    assert_gateway_page(create(api, connected, 3), 504)
    assert_gateway_page(create(api, connected, 3), 504)
    assert create(api, connected, 3).status_code == 200
    assert len(sb.state()["lookups"]) == 3


def test_gateway_after_create_only_counts_creates_that_reach_the_route(
    api: Api, sb: SandboxHandle, connected: str
) -> None:
    sb.set_faults(gateway_after_create=1)
    assert api.post("/number-lookups", json={"instanceId": connected, "numbers": nums(3)}, key=None).status_code == 401
    assert sb.faults()["gateway_after_create"] == 1  # refused before the route: not used up
    assert_gateway_page(create(api, connected, 3), 502)


# -- outage ---------------------------------------------------------------------------------------
def test_outage_answers_every_api_request_unprocessed_then_ends(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(monthly_quota=100)
    faults = sb.set_faults(outage=LONG)
    assert 0 < faults["outage_remaining"] <= LONG
    for r in (
        create(api, connected, 3),
        api.get("/instances"),
        api.get("/number-lookups"),
        api.get("/me", key=None),  # the gateway answers before authentication
        api.get("/no-such-route"),
    ):
        assert_gateway_page(r, 503)
    state = sb.state()  # the admin API is not behind the gateway
    assert state["lookups"] == [] and state["quota_used"] == 0
    assert [(r["status"], r["processed"], r["route_status"]) for r in sb.requests()] == [(503, False, None)] * 5
    assert sb.set_faults(outage=0)["outage_remaining"] == 0
    assert create(api, connected, 3).status_code == 200
    assert len(sb.state()["lookups"]) == 1


def test_an_outage_ends_by_itself(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(outage=0.5)
    deadline = time.monotonic() + 20  # a bound against hanging, not a timing assertion
    while api.get("/instances").status_code == 503:
        assert time.monotonic() < deadline, "the outage did not end"
        time.sleep(0.05)
    assert api.get("/instances").status_code == 200
    assert sb.faults()["outage_remaining"] == 0


def test_a_lookup_runs_on_through_a_read_outage(api: Api, sb: SandboxHandle, connected: str) -> None:
    sb.set_faults(pace=0.01)
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(200)})["lookupId"]
    sb.set_faults(outage=LONG)
    assert_gateway_page(api.get(f"/number-lookups/{lid}/progress"), 503)
    deadline = time.monotonic() + 20
    while sb.state()["lookups"][0]["status"] != "done":  # the admin API sees it finish meanwhile
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert_gateway_page(api.get(f"/number-lookups/{lid}/progress"), 503)
    sb.set_faults(outage=0)
    assert wait_status(api, lid, {"done"})["checkedCount"] == 200


# -- unavailable_routes ---------------------------------------------------------------------------
def test_unavailable_routes_by_method_and_template(api: Api, sb: SandboxHandle, connected: str) -> None:
    assert sb.set_faults(unavailable_routes=["GET /api/v1/number-lookups"])["unavailable_routes"] == [
        "GET /api/v1/number-lookups"
    ]
    assert_gateway_page(api.get("/number-lookups"), 503)  # the list is down ...
    lid = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(3)})["lookupId"]
    assert api.data("GET", f"/number-lookups/{lid}/progress")["status"] == "done"  # ... the rest is up
    listed = [r for r in sb.requests() if r["route"] == "/api/v1/number-lookups" and r["method"] == "GET"]
    assert [(r["status"], r["processed"]) for r in listed] == [(503, False)]

    sb.set_faults(unavailable_routes=["/api/v1/number-lookups", "get /api/v1/number-lookups/{id}/progress"])
    assert_gateway_page(api.get("/number-lookups"), 503)
    assert_gateway_page(create(api, connected, 3), 503)  # the template alone: every method
    assert_gateway_page(api.get(f"/number-lookups/{lid}/progress"), 503)
    assert api.get(f"/number-lookups/{lid}").status_code == 200
    assert len(sb.state()["lookups"]) == 1  # the refused create was not processed

    assert sb.set_faults(unavailable_routes=[])["unavailable_routes"] == []
    assert api.get("/number-lookups").status_code == 200


def test_unavailable_routes_names_the_routes_it_knows(sb: SandboxHandle) -> None:
    with pytest.raises(SandboxAdminError) as info:
        sb.set_faults(unavailable_routes=["list_lookups"])
    message = str(info.value)
    assert info.value.status == 400 and "unavailable_routes: unknown route 'list_lookups'" in message
    assert "GET /api/v1/number-lookups" in message
    with pytest.raises(SandboxAdminError, match="unavailable_routes must be a list"):
        sb.set_faults(unavailable_routes=5)
    assert sb.faults()["unavailable_routes"] == []


def test_route_labels_are_the_routes_the_request_log_names() -> None:
    app = create_app(SandboxConfig()).app_for(())
    served = {
        f"{method} {route.path}"
        for route in app.routes
        if getattr(route, "path", "").startswith("/api/")
        for method in getattr(route, "methods", ())
    }
    assert served == set(ROUTE_LABELS)


# -- gateway_429 ----------------------------------------------------------------------------------
def test_gateway_429_without_envelope_with_or_without_retry_after(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(gateway_429=LONG)
    for r in (api.get("/instances"), api.get("/me", team=True), api.get("/instances", key=None)):
        assert_gateway_page(r, 429)
        assert "Retry-After" not in r.headers
        assert "API_RATE_LIMIT_EXCEEDED" not in r.text
    sb.set_faults(gateway_429=LONG, gateway_429_retry_after=True)
    r = api.get("/instances")
    assert_gateway_page(r, 429)
    assert r.headers["Retry-After"].isdigit() and 1 <= int(r.headers["Retry-After"]) <= LONG
    st = sb.state()
    assert st["quota_used"] == 0 and st["total_429"] == 4
    assert not any(r["processed"] for r in sb.requests())
    assert sb.set_faults(gateway_429=0)["gateway_429_remaining"] == 0
    assert api.get("/instances").status_code == 200


def test_storm_429_keeps_its_envelope_and_retry_after(api: Api, sb: SandboxHandle) -> None:
    """The MsgFlash 429 (storm_429), unlike the gateway's: JSON envelope, code, Retry-After."""
    sb.set_faults(storm_429=LONG)
    r = api.get("/instances")
    assert r.status_code == 429 and r.json()["error"]["code"] == "API_RATE_LIMIT_EXCEEDED"
    assert r.headers["Retry-After"].isdigit() and int(r.headers["Retry-After"]) >= 1
    sb.set_faults(storm_429=0)


def test_gateway_switches_are_reset_with_the_faults(api: Api, sb: SandboxHandle) -> None:
    sb.set_faults(
        gateway_after_create=3,
        gateway_status=503,
        outage=LONG,
        unavailable_routes=["GET /api/v1/me"],
        gateway_429=LONG,
        gateway_429_retry_after=True,
    )
    sb.reset(faults=True)
    f = sb.faults()
    assert (f["gateway_after_create"], f["gateway_status"], f["unavailable_routes"]) == (0, None, [])
    assert (f["outage"], f["outage_remaining"], f["gateway_429"], f["gateway_429_remaining"]) == (0, 0, 0, 0)
    assert f["gateway_429_retry_after"] is False
    assert api.get("/me").status_code == 200

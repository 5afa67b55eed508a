"""The assembled application: every answer under /api/ is the documented envelope (``data`` xor ``error``
with string code and message), for unknown routes and wrong methods too; random bodies, query strings
and headers at every route never get a 500 (faults off)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_msgflash.sandbox import SANDBOX_API_KEY, SANDBOX_TEAM_ID, SANDBOX_TEAM_KEY, SandboxHandle
from tests.sandbox.sandbox_testkit import Api, envelope, error_of

ROUTES = [
    ("GET", "/instances"),
    ("GET", "/instances/{id}"),
    ("GET", "/instances/{id}/state"),
    ("GET", "/instances/{id}/health"),
    ("POST", "/number-lookups"),
    ("GET", "/number-lookups"),
    ("GET", "/number-lookups/{id}"),
    ("GET", "/number-lookups/{id}/progress"),
    ("POST", "/number-lookups/{id}/cancel"),
    ("POST", "/number-lookups/{id}/import-contacts"),
    ("GET", "/contacts"),
    ("GET", "/contacts/{id}"),
    ("POST", "/contacts"),
    ("GET", "/me"),
]
CONNECTED = "5a0d0000-0000-4000-8000-000000000001"

json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30)
json_value = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=12
)
phone = st.one_of(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True), st.text(max_size=20))
plausible = st.one_of(
    st.fixed_dictionaries(
        {
            "instanceId": st.sampled_from([CONNECTED, "x", ""]) | st.text(max_size=10),
            "numbers": st.lists(phone, max_size=130),
        }
    ),
    st.fixed_dictionaries({"tag": st.text(max_size=70) | json_value}),
    st.fixed_dictionaries(
        {"name": st.text(max_size=30), "phone": phone},
        optional={"tags": st.lists(st.text(max_size=8), max_size=3), "meta": json_value},
    ),
)
body = st.one_of(st.none(), json_value, plausible, st.binary(max_size=60))
path_id = st.one_of(
    st.sampled_from([CONNECTED, "00000000-0000-4000-8000-000000000000"]), st.text(min_size=1, max_size=40)
)
# requests refuses header values with leading or trailing whitespace: the server never sees them.
header_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.strip)
auth = st.sampled_from(
    [
        {"x-api-key": SANDBOX_API_KEY},
        {"x-api-key": SANDBOX_TEAM_KEY, "X-Team-Id": SANDBOX_TEAM_ID},
        {"x-api-key": SANDBOX_TEAM_KEY},
        {"x-api-key": SANDBOX_API_KEY, "X-Team-Id": SANDBOX_TEAM_ID},
        {},
        {"Authorization": "Bearer " + SANDBOX_API_KEY},
    ]
) | st.dictionaries(
    st.sampled_from(["x-api-key", "X-Team-Id", "Authorization", "Content-Type", "Accept"]), header_value, max_size=3
)
query = st.dictionaries(
    st.sampled_from(["limit", "cursor", "search", "sort", "x"]) | st.text(min_size=1, max_size=8),
    st.one_of(st.integers(-5, 200).map(str), st.text(max_size=20), st.sampled_from(["name", "-createdAt", "phone"])),
    max_size=4,
)


def _send(
    sb: SandboxHandle,
    session: requests.Session,
    method: str,
    path: str,
    headers: dict[str, str],
    params: dict[str, str],
    payload: Any,
) -> None:
    kwargs: dict[str, Any] = {"headers": dict(headers), "params": params, "timeout": 10}
    if isinstance(payload, bytes):
        kwargs["data"] = payload
    elif payload is not None:
        kwargs["data"] = json.dumps(payload).encode()
        kwargs["headers"].setdefault("Content-Type", "application/json")
    r = session.request(method, sb.api_url + path, **kwargs)
    assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
    envelope(r)


@settings(
    max_examples=140,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.sampled_from(ROUTES), rid=path_id, headers=auth, params=query, payload=body)
def test_random_requests_to_every_route(
    sb: SandboxHandle, route: tuple[str, str], rid: str, headers: dict[str, str], params: dict[str, str], payload: Any
) -> None:
    method, template = route
    path = template.replace("{id}", quote(rid, safe=""))
    with requests.Session() as session:
        session.trust_env = False
        _send(sb, session, method, path, headers, params, payload)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    segments=st.lists(st.text(min_size=1, max_size=12), max_size=4),
    headers=auth,
    payload=body,
)
def test_random_methods_and_paths(
    sb: SandboxHandle, method: str, segments: list[str], headers: dict[str, str], payload: Any
) -> None:
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    with requests.Session() as session:
        session.trust_env = False
        kwargs: dict[str, Any] = {"headers": headers, "timeout": 10}
        if payload is not None and method not in ("GET", "HEAD"):
            kwargs["data"] = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        r = session.request(method, sb.api_url + path, **kwargs)
        assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
        if method != "HEAD":
            envelope(r)


def test_unknown_routes_and_methods_use_the_envelope(api: Api) -> None:
    error_of(api.get("/nothing-here"), 404, "NOT_FOUND")
    error_of(api.get("/instances/"), 404, "NOT_FOUND")
    error_of(api.get("/../../etc/passwd"), 404, "NOT_FOUND")
    error_of(api.get(api.sb.base_url + "/api/v2/instances"), 404, "NOT_FOUND")
    error_of(api("DELETE", "/instances"), 405, "METHOD_NOT_ALLOWED")
    error_of(api("PUT", "/number-lookups"), 405, "METHOD_NOT_ALLOWED")

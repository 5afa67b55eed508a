"""Helpers for the sandbox tests (a module with a unique name, not fixtures)."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from airflow_provider_msgflash.sandbox import SandboxHandle

DEFAULT: Any = object()


class Api:
    """``api(method, path, key=..., team=False, **requests_kwargs)`` against the sandbox's ``/api/v1``.

    ``key`` defaults to the personal key; ``key=None`` sends none; ``team=True`` sends the team key and
    its ``X-Team-Id``. Extra ``headers`` are added as given."""

    def __init__(self, sb: SandboxHandle) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy

    def __call__(
        self,
        method: str,
        path: str,
        *,
        key: Any = DEFAULT,
        team: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        h: dict[str, str] = {}
        if key is DEFAULT:
            h.update(self.sb.headers(team=team))
        elif key is not None:
            h["x-api-key"] = key
        h.update(headers or {})
        url = path if path.startswith("http") else self.sb.api_url + path
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, url, headers=h, **kwargs)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self("POST", path, **kw)

    def data(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text[:500])
        return envelope(r)["data"]

    def close(self) -> None:
        self.session.close()


def envelope(r: requests.Response) -> dict[str, Any]:
    """The answer's JSON, checked to be the documented envelope matching its status."""
    assert r.headers.get("content-type", "").startswith("application/json"), (r.status_code, r.text[:200])
    body = json.loads(r.text)
    assert isinstance(body, dict) and len(body) == 1 and ("data" in body) != ("error" in body), body
    if r.status_code < 400:
        assert "data" in body, body
    else:
        err = body.get("error")
        assert isinstance(err, dict), body
        assert isinstance(err.get("code"), str) and err["code"], body
        assert isinstance(err.get("message"), str) and err["message"], body
        assert set(err) <= {"code", "message", "details"}, body
    return body


def error_of(r: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a failure with ``status`` and ``code``; return the error object."""
    assert r.status_code == status, (r.status_code, r.text[:500])
    err: dict[str, Any] = envelope(r)["error"]
    assert err["code"] == code, err
    return err


def nums(n: int, prefix: str = "+4179555") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


INSTANCE_FIELDS = {"id", "name", "waNumber", "status", "webhook", "meta", "deletedAt", "createdAt", "updatedAt"}
PROGRESS_FIELDS = {
    "id",
    "status",
    "progress",
    "requestedCount",
    "normalizedCount",
    "checkedCount",
    "onWhatsAppCount",
    "notOnWhatsAppCount",
    "invalidCount",
    "error",
    "createdAt",
    "updatedAt",
    "completedAt",
}
SYNC_FIELDS = {
    "mode",
    "lookupId",
    "status",
    "requested",
    "normalized",
    "checked",
    "onWhatsAppCount",
    "notOnWhatsAppCount",
    "invalidCount",
    "result",
}
ISO_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def assert_consistent(p: dict[str, Any]) -> None:
    """The documented counter identities, at any moment of a lookup."""
    assert p["requestedCount"] == p["normalizedCount"] + p["invalidCount"], p
    assert p["checkedCount"] == p["onWhatsAppCount"] + p["notOnWhatsAppCount"], p
    assert 0 <= p["checkedCount"] <= p["normalizedCount"], p
    assert 0 <= p["progress"] <= 100, p


def wait_status(api: Api, lookup_id: str, statuses: set[str], timeout: float = 20) -> dict[str, Any]:
    """Poll the lookup's progress until its status is one of ``statuses`` (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p: dict[str, Any] = api.data("GET", f"/number-lookups/{lookup_id}/progress")
        if p["status"] in statuses:
            return p
        time.sleep(0.02)
    raise AssertionError(f"lookup {lookup_id} not {statuses} within {timeout} s")

"""Response models: enforced by FastAPI (an answer outside its model is refused with a 500 in the error
envelope, never sent), and published in the OpenAPI document for the MsgFlash routes only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox.models import Instance, Lookup
from tests.sandbox.sandbox_testkit import Api, error_of, nums

Change = Callable[[dict[str, Any]], dict[str, Any]]


def _without(name: str) -> Change:
    return lambda d: {k: v for k, v in d.items() if k != name}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_without("updatedAt"), id="missing-field"),
        pytest.param(lambda d: {**d, "checkedCount": str(d["checkedCount"])}, id="count-as-string"),
        pytest.param(lambda d: {**d, "eta": 12}, id="extra-field"),
        pytest.param(lambda d: {**d, "status": "finished"}, id="unknown-status"),
        pytest.param(lambda d: {**d, "progress": 150}, id="progress-over-100"),
    ],
)
def test_progress_outside_its_model_is_refused(
    api: Api, connected: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, change: Change
) -> None:
    lid = api.data("POST", "/number-lookups", json={"instanceId": connected, "numbers": nums(3)})["lookupId"]
    assert api.data("GET", f"/number-lookups/{lid}/progress")["status"] == "done"
    real = Lookup.progress_view
    monkeypatch.setattr(Lookup, "progress_view", lambda self: change(real(self)))
    with caplog.at_level(logging.ERROR, logger="airflow_provider_msgflash.sandbox"):
        err = error_of(api.get(f"/number-lookups/{lid}/progress"), 500, "INTERNAL_ERROR")
    assert "outside its contract" in err["message"]
    assert any("outside its response model" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert api.data("GET", f"/number-lookups/{lid}/progress")["status"] == "done"


def test_sync_answer_outside_its_model_is_refused(api: Api, connected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Lookup.sync_answer
    monkeypatch.setattr(Lookup, "sync_answer", lambda self: {**real(self), "status": "pending"})
    error_of(api.post("/number-lookups", json={"instanceId": connected, "numbers": nums(3)}), 500, "INTERNAL_ERROR")


def test_health_outside_its_model_is_refused(api: Api, connected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Instance.health
    monkeypatch.setattr(Instance, "health", lambda self: {**real(self), "recommendations": [{"code": "x"}]})
    error_of(api.get(f"/instances/{connected}/health"), 500, "INTERNAL_ERROR")


def test_optional_fields_left_out_stay_out(api: Api, connected: str, sb: Any) -> None:
    """``result`` is declared optional on the lookup detail: absent until done, never ``null``."""
    sb.set_faults(pace="realistic")
    lid = api.data("POST", "/number-lookups", 202, json={"instanceId": connected, "numbers": nums(100)})["lookupId"]
    assert "result" not in api.data("GET", f"/number-lookups/{lid}")
    api.data("POST", f"/number-lookups/{lid}/cancel")


def test_openapi_describes_the_msgflash_routes_only(api: Api) -> None:
    doc = api.session.get(api.sb.base_url + "/openapi.json", timeout=10).json()
    paths = doc["paths"]
    assert set(paths) == {
        "/api/v1/instances",
        "/api/v1/instances/{id}",
        "/api/v1/instances/{id}/state",
        "/api/v1/instances/{id}/health",
        "/api/v1/number-lookups",
        "/api/v1/number-lookups/{id}",
        "/api/v1/number-lookups/{id}/progress",
        "/api/v1/number-lookups/{id}/cancel",
        "/api/v1/number-lookups/{id}/import-contacts",
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/me",
    }
    assert set(paths["/api/v1/number-lookups"]) == {"get", "post"}
    create = paths["/api/v1/number-lookups"]["post"]["responses"]
    assert create["200"]["content"]["application/json"]["schema"]["$ref"].endswith("Envelope_SyncLookupOut_")
    assert create["202"]["content"]["application/json"]["schema"]["$ref"].endswith("Envelope_AsyncLookupOut_")
    progress = doc["components"]["schemas"]["LookupProgressOut"]
    assert progress["additionalProperties"] is False and "updatedAt" in progress["required"]
    assert doc["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}

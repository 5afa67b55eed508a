"""Scenario 7: the data-platform paths on the real scheduler and triggerer.

- A connection created through the REST API (as the UI does) is found by the worker and by the real
  triggerer: the lookup goes deferred, then success.
- The import task's asset event (counts as extra) starts the DAG scheduled on that asset.
- An ``AssetWatcher`` with ``MsgFlashInstanceEventTrigger`` starts a DAG run when the sandbox's instance
  disconnects, when it reconnects, and when its safetyScore falls below the threshold.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle, is_on_whatsapp
from tests.e2e._shared import (
    ASSETS_CONSUMER_DAG,
    ASSETS_PRODUCER_DAG,
    INSTANCE_EVENTS_DAG,
    NUMBERS_250,
    REST_CONN_DAG,
)
from tests.e2e._stack import TERMINAL_TI, AirflowStack

pytestmark = pytest.mark.e2e


def test_connection_created_through_the_rest_api(airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]) -> None:
    sb = sandboxes["rest"]
    client = airflow.client
    body = {"connection_id": "msgflash_rest", **json.loads(sb.connection_json())}
    body["extra"] = json.dumps(body["extra"])
    client.call("POST", "/api/v2/connections", json_body=body)
    run_id = client.trigger(REST_CONN_DAG)
    seen: list[tuple[float, str | None, int]] = []
    ti = client.wait_ti(REST_CONN_DAG, run_id, "lookup", lambda t: t.get("state") in TERMINAL_TI, "done", 150, seen)
    states = [s for _, s, _ in seen]
    assert "deferred" in states and ti["state"] == "success", states
    assert ti["try_number"] == 1
    (lookup,) = sb.state()["lookups"]
    assert lookup["status"] == "done" and lookup["requestedCount"] == len(NUMBERS_250)


def _runs(airflow: AirflowStack, dag_id: str) -> list[dict[str, Any]]:
    data = airflow.client.call("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "id"})
    return list(data["dag_runs"])


def _wait_new_run(airflow: AirflowStack, dag_id: str, known: int, timeout: float) -> dict[str, Any]:
    """The first DAG run of ``dag_id`` beyond the ``known`` ones, once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        airflow.check_alive()
        runs = _runs(airflow, dag_id)
        if len(runs) > known:
            run = runs[known]
            airflow.client.wait_run(dag_id, run["dag_run_id"], timeout=max(10.0, deadline - time.monotonic()))
            return airflow.client.dag_run(dag_id, run["dag_run_id"])
        time.sleep(1)
    raise AssertionError(f"no new run of {dag_id} within {timeout:g} s (runs: {len(_runs(airflow, dag_id))})")


def test_import_asset_event_starts_the_consumer_with_the_counts(
    airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]
) -> None:
    client = airflow.client
    known = len(_runs(airflow, ASSETS_CONSUMER_DAG))
    run_id = client.trigger(ASSETS_PRODUCER_DAG)
    tis = client.wait_run(ASSETS_PRODUCER_DAG, run_id, timeout=120)
    assert {t: ti["state"] for t, ti in tis.items()} == {"lookup": "success", "import": "success"}
    consumer = _wait_new_run(airflow, ASSETS_CONSUMER_DAG, known, timeout=120)
    assert consumer["state"] == "success" and consumer["run_type"] == "asset_triggered"
    (extra,) = client.xcom(ASSETS_CONSUMER_DAG, consumer["dag_run_id"], "read_counts")
    on = sum(1 for n in NUMBERS_250[:60] if is_on_whatsapp(n))
    assert extra["tag"] == "e2e" and extra["imported"] == on and extra["skipped"] == 60 - on


def test_instance_changes_start_the_watching_dag(airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]) -> None:
    sb = sandboxes["events"]
    client = airflow.client
    # The watcher has taken its baseline once the triggerer has read the instance's state.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(r["path"].endswith("/state") for r in sb.requests()):
        time.sleep(1)
    assert any(r["path"].endswith("/state") for r in sb.requests()), "the event trigger never polled"
    time.sleep(3)  # one more poll: the baseline is recorded
    known = len(_runs(airflow, INSTANCE_EVENTS_DAG))
    changes = []
    for flip, expect in (
        (lambda: sb.set_instance_status("sandbox-connected", "disconnected"), ("state", "disconnected")),
        (lambda: sb.set_instance_status("sandbox-connected", "connected"), ("state", "connected")),
        (lambda: sb.set_instance_health("sandbox-connected", 30), ("safety", "connected")),
    ):
        flip()
        run = _wait_new_run(airflow, INSTANCE_EVENTS_DAG, known, timeout=90)
        known += 1
        assert run["state"] == "success"
        payloads = client.xcom(INSTANCE_EVENTS_DAG, run["dag_run_id"], "react")
        assert (payloads[-1]["change"], payloads[-1]["current"]["status"]) == expect, payloads
        changes.append(payloads[-1])
    assert changes[2]["current"]["healthy"] is False and changes[2]["previous"]["healthy"] is True
    # Frugal: one state request per poll, one health request per poll while connected and watched.
    paths = [r["path"] for r in sb.requests()]
    assert paths.count("/api/v1/instances") <= 2  # resolving the name, once per trigger start

"""Scenario 1: the example DAG end to end on real Airflow: readiness sensor (started and ended in the
triggerer: never in a worker), lookup deferred to the triggerer, then success, then the import."""

from __future__ import annotations

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle, is_on_whatsapp
from tests.e2e._shared import EXAMPLE_DAG, NUMBERS_250
from tests.e2e._stack import TERMINAL_TI, AirflowStack

pytestmark = pytest.mark.e2e


def test_example_dag_defers_then_succeeds(airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]) -> None:
    sb = sandboxes["default"]
    client = airflow.client
    run_id = client.trigger(EXAMPLE_DAG)

    seen: list[tuple[float, str | None, int]] = []
    triggerer_jobs: set[int] = set()

    def watch(ti: dict) -> None:
        if ti.get("state") == "deferred" and ti.get("triggerer_job"):
            triggerer_jobs.add(ti["triggerer_job"]["id"])

    ti = client.wait_ti(
        EXAMPLE_DAG,
        run_id,
        "lookup_numbers",
        lambda t: t.get("state") in TERMINAL_TI,
        "a final state",
        timeout=120,
        seen=seen,
        on_poll=watch,
    )
    states = [s for _, s, _ in seen]
    assert "deferred" in states, f"lookup_numbers never seen deferred: {states}"
    assert ti["state"] == "success", states
    assert states.index("deferred") < len(states) - 1
    assert triggerer_jobs, "the deferred task was never picked up by a triggerer job"
    assert ti["try_number"] == 1

    tis = client.wait_run(EXAMPLE_DAG, run_id, timeout=60)
    assert {t: x["state"] for t, x in tis.items()} == {
        "instance_ready": "success",
        "lookup_numbers": "success",
        "import_contacts": "success",
    }

    # The readiness sensor started in the triggerer (its "{{ params.instance }}" rendered there) and ended there:
    # never queued to the executor, no worker host, absent from the executor's side of the scheduler's log.
    sensor = tis["instance_ready"]
    assert sensor["queued_when"] is None and not sensor["hostname"] and sensor["try_number"] == 1, sensor
    assert airflow.lines_about(EXAMPLE_DAG, run_id, "instance_ready") == []
    assert airflow.lines_about(EXAMPLE_DAG, run_id, "lookup_numbers"), "the scheduler's log names no task queued"
    ready = client.xcom(EXAMPLE_DAG, run_id, "instance_ready")  # what execute_complete would have returned
    assert set(ready) == {"instance_id", "state", "health"} and ready["health"] is None
    assert ready["instance_id"] == sb.instance_id("sandbox-connected") and ready["state"]["status"] == "connected"

    expected_on = sum(1 for n in NUMBERS_250 if is_on_whatsapp(n))
    assert expected_on == 125
    state = sb.state()
    assert len(state["lookups"]) == 1, state["lookups"]
    (lookup,) = state["lookups"]
    assert lookup["requestedCount"] == 250
    assert lookup["status"] == "done"
    assert state["contacts"] == expected_on

    summary = client.xcom(EXAMPLE_DAG, run_id, "lookup_numbers")
    assert summary["lookup_id"] == lookup["id"]
    counts = summary["counts"]
    assert counts["on_whatsapp"] == expected_on
    assert counts["on_whatsapp"] + counts["not_on_whatsapp"] + counts["invalid"] == len(NUMBERS_250)
    assert summary["accounting"]["inputs"] == len(NUMBERS_250)
    imported = client.xcom(EXAMPLE_DAG, run_id, "import_contacts")
    assert imported["imported"] == expected_on

"""Scenario 8: the sensors start in the triggerer (Airflow 3.3, ``start_from_trigger``), their templated
arguments rendered there. The readiness sensor of the example DAG is checked in scenario 1.

- The lookup sensor, its ``lookup_id`` a template of the run's params: never queued to a worker, its XCom the
  lookup's counters, the lookup followed by the trigger (progress reads in the sandbox's log).
- A sensor started in the triggerer that times out: Airflow's deferral timeout resumes it in a worker, which
  fails it with ``AirflowSensorTimeout``, final: its retry is not used.
"""

from __future__ import annotations

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle
from tests.e2e._shared import LOOKUP_SENSOR_DAG, SENSOR_TIMEOUT_DAG
from tests.e2e._stack import TERMINAL_TI, AirflowStack

pytestmark = pytest.mark.e2e


def test_lookup_sensor_starts_and_ends_in_the_triggerer(
    airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]
) -> None:
    sb = sandboxes["sensors"]
    client = airflow.client
    lookup = sb.create_lookup_as_other("sandbox-connected", [f"+4179333{i:04d}" for i in range(150)])
    lookup_id = str(lookup["lookupId"])
    run_id = client.trigger(LOOKUP_SENSOR_DAG, conf={"lookup_id": lookup_id})
    seen: list[tuple[float, str | None, int]] = []
    ti = client.wait_ti(
        LOOKUP_SENSOR_DAG, run_id, "wait_lookup", lambda t: t.get("state") in TERMINAL_TI, "done", 150, seen
    )
    assert ti["state"] == "success", seen
    assert "deferred" in [s for _, s, _ in seen]
    assert ti["queued_when"] is None and not ti["hostname"], ti
    assert airflow.lines_about(LOOKUP_SENSOR_DAG, run_id, "wait_lookup") == []
    counters = client.xcom(LOOKUP_SENSOR_DAG, run_id, "wait_lookup")
    assert counters["id"] == lookup_id and counters["status"] == "done" and counters["checkedCount"] == 150
    polls = [r for r in sb.requests() if r["route"].endswith("/progress") and lookup_id in r["path"]]
    assert polls, "the trigger never read the lookup's progress"


def test_sensor_started_in_the_triggerer_times_out_without_retry(airflow: AirflowStack, background: dict) -> None:
    client = airflow.client
    run_id = background[SENSOR_TIMEOUT_DAG]
    ti = client.wait_ti(
        SENSOR_TIMEOUT_DAG, run_id, "instance_ready", lambda t: t.get("state") in TERMINAL_TI, "a final state", 120
    )
    assert ti["state"] == "failed" and ti["try_number"] == 1, ti  # the retry was not used
    log = client.log(SENSOR_TIMEOUT_DAG, run_id, "instance_ready", 1)
    assert "AirflowSensorTimeout" in log, log[-3000:]
    assert "not ready yet" in log.lower(), "the trigger never checked the instance"

"""The requests of one run of the example DAG (sensor -> lookup -> import), by route: what
benchmarks/bench_dag_requests.py measures, pinned without timing. The instance named by id is never listed
(by name: once per task that resolves it); the sensor reads no health; the lookup reads the instance's state
and health right before creating the lookup; one create, one result fetch, one import. Progress calls depend
on the lookup's pace and are counted by the benchmark, not pinned here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import dag_bag

EXAMPLE = Path(__file__).resolve().parents[1] / "example_dags" / "msgflash_lookup_and_import.py"
ROUTES = {
    "GET /api/v1/instances": "list",
    "GET /api/v1/instances/{id}/state": "state",
    "GET /api/v1/instances/{id}/health": "health",
    "POST /api/v1/number-lookups": "create",
    "GET /api/v1/number-lookups/{id}/progress": "progress",
    "GET /api/v1/number-lookups/{id}": "get",
    "POST /api/v1/number-lookups/{id}/import-contacts": "import",
}


def route(r: dict[str, Any]) -> str:
    name = f"{r['method']} {r['route']}"
    return ROUTES.get(name, name)


@pytest.mark.parametrize(("named_by", "lists"), [("id", 0), ("name", 2)])
def test_example_dag_requests_by_route(airflow_db: str, msgflash_conn: Any, named_by: str, lists: int) -> None:
    msgflash_conn.set_faults(pace=0.2)  # 250 numbers: about 3 s, still running when the task defers
    dag = dag_bag(str(EXAMPLE)).get_dag("msgflash_lookup_and_import")
    ref = msgflash_conn.instance_id("sandbox-connected") if named_by == "id" else "sandbox-connected"
    dag_run = dag.test(run_conf={"instance": ref})
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"instance_ready": "success", "lookup_numbers": "success", "import_contacts": "success"}

    log = [route(r) for r in msgflash_conn.requests()]
    counts = Counter(log)
    assert counts.pop("progress") >= 1
    expected = {"list": lists, "state": 2, "health": 1, "create": 1, "get": 1, "import": 1}
    assert counts == {k: v for k, v in expected.items() if v}, log
    create = log.index("create")
    assert sorted(log[create - 2 : create]) == ["health", "state"], log  # checked right before the lookup

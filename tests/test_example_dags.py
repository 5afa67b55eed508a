"""The example DAGs import cleanly, and example (1) runs green end to end with dag.test(),
its lookup task seen deferring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import is_on_whatsapp

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


def test_example_dags_import_without_errors(airflow_db: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert {"msgflash_lookup_and_import", "msgflash_daily_file_lookup"} <= set(bag.dag_ids)


def test_lookup_and_import_dag_runs_green(
    airflow_db: str, msgflash_conn: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    msgflash_conn.set_faults(pace=0.2)
    dag = DagBag(dag_folder=str(EXAMPLES / "msgflash_lookup_and_import.py")).get_dag("msgflash_lookup_and_import")
    dag_run = dag.test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"instance_ready": "success", "lookup_numbers": "success", "import_contacts": "success"}
    assert "Deferring: the triggerer follows lookup" in capfd.readouterr().out  # the lookup task deferred
    state = msgflash_conn.state()
    assert len(state["lookups"]) == 1 and state["lookups"][0]["requestedCount"] == 250
    expected = sum(1 for i in range(250) if is_on_whatsapp(f"+4179555{i:04d}"))
    assert state["contacts"] == expected

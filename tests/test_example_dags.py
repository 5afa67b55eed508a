"""The example DAGs import cleanly, and example (1) runs green end to end with dag.test(),
its lookup task seen deferring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import is_on_whatsapp
from tests.helpers import dag_bag

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


def test_example_dags_import_without_errors(airflow_db: str) -> None:
    bag = dag_bag(str(EXAMPLES))
    assert bag.import_errors == {}
    assert {"msgflash_lookup_and_import", "msgflash_daily_file_lookup"} <= set(bag.dag_ids)


def test_lookup_and_import_dag_runs_green(
    airflow_db: str, msgflash_conn: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    msgflash_conn.set_faults(pace=0.2)
    dag = dag_bag(str(EXAMPLES / "msgflash_lookup_and_import.py")).get_dag("msgflash_lookup_and_import")
    dag_run = dag.test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"instance_ready": "success", "lookup_numbers": "success", "import_contacts": "success"}
    assert "Deferring: the triggerer follows lookup" in capfd.readouterr().out  # the lookup task deferred
    state = msgflash_conn.state()
    assert len(state["lookups"]) == 1 and state["lookups"][0]["requestedCount"] == 250
    expected = sum(1 for i in range(250) if is_on_whatsapp(f"+4179555{i:04d}"))
    assert state["contacts"] == expected


def test_daily_file_dag_under_dags_test_logs_no_error(airflow_db: str, msgflash_sandbox: Any, tmp_path: Path) -> None:
    """``airflow dags test`` of the daily-file example, as a user runs it: green, the lookup deferred,
    nothing logged at error level and no traceback (the other example: tests/test_connection_sources.py)."""
    import shutil

    from tests.dags_cli import airflow_env, dags_test, error_lines

    msgflash_sandbox.set_faults(pace=0.1)
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLES / "msgflash_daily_file_lookup.py", dags)
    env = airflow_env(
        dags,
        AIRFLOW_CONN_MSGFLASH_DEFAULT=msgflash_sandbox.connection_json(),
        MSGFLASH_EXAMPLE_DATA_DIR=str(tmp_path / "data"),
    )
    run = dags_test(dags, "msgflash_daily_file_lookup", env=env)
    assert {t: s for t, (s, _) in run.tasks.items()} == {"export_numbers": "success", "lookup_numbers": "success"}
    assert "Deferring: the triggerer follows lookup" in run.output
    assert error_lines(run.output) == []
    (results,) = (tmp_path / "data").glob("results_*.jsonl")
    # 135 inputs: 133 sent, 1 unparseable written as invalid, 1 duplicate counted (not written twice).
    assert sum(1 for _ in results.open()) == 134

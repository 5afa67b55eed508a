"""Errors no retry can fix fail the task on its first try; transient ones use the task's retries.
Checked through ``airflow dags test`` (Airflow's own task runner decides), not by class inspection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.dags_cli import airflow_env, dags_test
from tests.hooks.msgflash_hookkit import free_port

DAG = """
from datetime import datetime, timedelta
from airflow_provider_msgflash.operators.msgflash import MsgFlashListInstancesOperator, MsgFlashNumberLookupOperator
from airflow.sdk import DAG

with DAG("final_errors", start_date=datetime(2026, 1, 1), schedule=None, catchup=False,
         default_args={"retries": 2, "retry_delay": timedelta(seconds=0)}):
    MsgFlashListInstancesOperator(task_id="refused_key", msgflash_conn_id="refused")
    MsgFlashNumberLookupOperator(task_id="unknown_instance", instance_id="no-such-instance", numbers=["+41790000000"])
    MsgFlashNumberLookupOperator(task_id="bad_numbers", instance_id="sandbox-connected", numbers=["+4179", 41790000000])
    MsgFlashListInstancesOperator(task_id="unreachable", msgflash_conn_id="unreachable")
"""


def test_final_errors_skip_retries_and_transient_ones_use_them(
    airflow_db: str, msgflash_sandbox: Any, tmp_path: Path
) -> None:
    sb = msgflash_sandbox
    conns = {
        "AIRFLOW_CONN_MSGFLASH_DEFAULT": sb.connection_json(),
        "AIRFLOW_CONN_REFUSED": sb.connection_json(key="msgf_live_" + "0" * 64),
        "AIRFLOW_CONN_UNREACHABLE": json.dumps(
            {
                "conn_type": "msgflash",
                "host": f"http://127.0.0.1:{free_port()}",
                "password": "msgf_live_" + "1" * 64,
                "extra": {"max_retries": 0},
            }
        ),
    }
    run = dags_test(tmp_path / "dags", "final_errors", DAG, airflow_env(tmp_path / "dags", **conns))
    assert run.tasks, run.output[-3000:]
    for task_id in ("refused_key", "unknown_instance", "bad_numbers"):
        assert run.tasks[task_id] == ("failed", 1), (task_id, run.tasks)
    # No answer at all may be a passing fault: the task's retries are used (1 try + 2 retries).
    assert run.tasks["unreachable"] == ("failed", 3), run.tasks

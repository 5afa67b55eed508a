"""Test-only DAG for the e2e suite: one deferrable lookup per fault storm, each on its own sandbox
(connection ids in ``e2e_common.STORMS``; the sandboxes' switches are set by tests/e2e/conftest.py).

Every task either succeeds with every input accounted for, or fails with a clear error within its
configured time (``timeout`` / the connection's ``timeout`` and ``max_retries`` extras).
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from e2e_common import NUMBERS_MIXED, STALL_TIMEOUT, STORM_429_SECONDS, STORMS

from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator


def _sandbox_admin(path: str, body: Any = None) -> Any:
    host = json.loads(os.environ["AIRFLOW_CONN_MSGFLASH_STORM_429"])["host"]
    req = urllib.request.Request(
        f"{host}/_sandbox/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10) as resp:
        return json.loads(resp.read())["data"]


def start_429_storm(context: Any) -> None:
    """on_execute_callback of the ``storm_429`` task: switch the storm on in its sandbox right before the
    task first runs (whenever the scheduler gets to it), through the sandbox's loopback-only admin API.
    Not again when the task resumes after deferring (the callback runs then too)."""
    if not _sandbox_admin("state")["lookups"]:
        _sandbox_admin("faults", {"storm_429": STORM_429_SECONDS})


with DAG(
    dag_id="e2e_fault_storms",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["msgflash", "e2e"],
    default_args={
        "retries": 0,
        "priority_weight": 1,
        "weight_rule": "absolute",
        "execution_timeout": timedelta(minutes=4),
    },
):
    for task_id, conn_id in STORMS.items():
        MsgFlashNumberLookupOperator(
            task_id=task_id,
            msgflash_conn_id=conn_id,
            instance_id="sandbox-connected",
            numbers=NUMBERS_MIXED,
            deferrable=True,
            timeout=STALL_TIMEOUT if task_id == "stalled_lookup" else 180,
            max_poll_interval=5,
            on_execute_callback=start_429_storm if task_id == "storm_429" else None,
        )

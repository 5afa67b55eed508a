"""Test-only DAGs for the e2e suite: retries that resume exactly their own lookups, and the retry policy.

- ``e2e_resume_outage``: a read outage of the lookup's progress (the test sets it on the task's sandbox, with the
  lookup list unavailable too) outlasts the hook's and the trigger's retries: try 1 fails, its lookup left running;
  the retry resumes it from the task state, deferred (``deferred``) and waiting in the worker (``in_worker``).
- ``e2e_retry_policy``: ``final_error`` (an unknown instance) fails in one try whatever ``retries`` says;
  ``rate_limited`` meets a 429 storm (``Retry-After``) on its only HTTP attempt and is retried after that delay,
  not after its 10-minute ``retry_delay`` (MsgFlashRetryPolicy, Airflow 3.3).
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from e2e_common import NUMBERS_250, RETRY_AFTER_STORM

from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

COMMON: dict[str, Any] = {"start_date": datetime(2026, 1, 1), "schedule": None, "catchup": False, "tags": ["e2e"]}
FOREGROUND = {"priority_weight": 100, "weight_rule": "absolute"}


def start_429_storm(context: Any) -> None:
    """on_execute_callback of ``rate_limited``: a 429 storm in its sandbox right before its first try."""
    if int(context["ti"].try_number) != 1:
        return
    host = json.loads(os.environ["AIRFLOW_CONN_MSGFLASH_POLICY"])["host"]
    req = urllib.request.Request(
        f"{host}/_sandbox/faults",
        data=json.dumps({"storm_429": RETRY_AFTER_STORM}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10).close()


with DAG(
    dag_id="e2e_resume_outage",
    default_args={"retries": 1, "retry_delay": timedelta(seconds=15), **FOREGROUND},  # time to lift the outage
    **COMMON,
):
    for task_id, deferrable in (("deferred", True), ("in_worker", False)):
        MsgFlashNumberLookupOperator(
            task_id=task_id,
            msgflash_conn_id=f"msgflash_resume_{task_id}",
            instance_id="sandbox-connected",
            numbers=NUMBERS_250,
            deferrable=deferrable,
            timeout=300,
        )

with DAG(
    dag_id="e2e_retry_policy",
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10), **FOREGROUND},
    **COMMON,
):
    MsgFlashNumberLookupOperator(
        task_id="final_error",
        msgflash_conn_id="msgflash_policy_final",
        instance_id="no-such-instance",
        numbers=NUMBERS_250[:5],
    )
    MsgFlashNumberLookupOperator(
        task_id="rate_limited",
        msgflash_conn_id="msgflash_policy",
        instance_id="sandbox-connected",
        numbers=NUMBERS_250[:5],
        on_execute_callback=start_429_storm,
    )

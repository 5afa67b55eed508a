"""Test-only DAGs for the e2e suite (tests/e2e): one lookup task each, on its own sandbox connection.

- ``e2e_triggerer_restart``: a slow lookup (sandbox pace 2 s per batch of 20), no retries: the
  triggerer is killed while the task is deferred and must not matter.
- ``e2e_worker_crash``: the task process SIGKILLs itself right after submitting on try 1; the retry
  must reuse the lookup.
- ``e2e_user_kill``: a slow lookup the test marks failed while deferred; the trigger's ``on_kill``
  must cancel it.
- ``e2e_deferral_timeout``: a slow lookup with ``timeout=8``: cancelled, then the task fails.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from e2e_common import NUMBERS_250

from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

COMMON: dict[str, Any] = {
    "start_date": datetime(2026, 1, 1),
    "schedule": None,
    "catchup": False,
    "tags": ["msgflash", "e2e"],
}
# Scenario tasks first: the background DAGs (storms, bad inputs) run at priority 1.
FOREGROUND = {"priority_weight": 100, "weight_rule": "absolute"}


class CrashAfterSubmitOperator(MsgFlashNumberLookupOperator):
    """A worker that dies right after the lookup POST got its answer, before anything reached XCom:
    a fault the sandbox cannot produce (the process is SIGKILLed, so no on_kill, no cleanup)."""

    def submit(self, instance_id: str, chunks: list[list[str]], context: Any) -> Any:
        answers, fresh = super().submit(instance_id, chunks, context)
        if int(context["ti"].try_number) == 1:
            self.log.warning("e2e fault: SIGKILL of this task process after submitting %s", answers[0]["lookupId"])
            os.kill(os.getpid(), signal.SIGKILL)
        return answers, fresh


with DAG(dag_id="e2e_triggerer_restart", default_args={"retries": 0, **FOREGROUND}, **COMMON):
    MsgFlashNumberLookupOperator(
        task_id="lookup",
        msgflash_conn_id="msgflash_restart",
        instance_id="sandbox-connected",
        numbers=NUMBERS_250,
        deferrable=True,
        timeout=300,
        max_poll_interval=5,
    )

with DAG(
    dag_id="e2e_worker_crash",
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1), **FOREGROUND},
    **COMMON,
):
    CrashAfterSubmitOperator(
        task_id="lookup",
        msgflash_conn_id="msgflash_retry",
        instance_id="sandbox-connected",
        numbers=NUMBERS_250,
        deferrable=True,
        timeout=300,
        max_poll_interval=5,
    )

with DAG(dag_id="e2e_user_kill", default_args={"retries": 0, **FOREGROUND}, **COMMON):
    MsgFlashNumberLookupOperator(
        task_id="lookup",
        msgflash_conn_id="msgflash_kill",
        instance_id="sandbox-connected",
        numbers=NUMBERS_250,
        deferrable=True,
        timeout=300,
        max_poll_interval=5,
    )

with DAG(dag_id="e2e_deferral_timeout", default_args={"retries": 0, **FOREGROUND}, **COMMON):
    MsgFlashNumberLookupOperator(
        task_id="lookup",
        msgflash_conn_id="msgflash_timeout",
        instance_id="sandbox-connected",
        numbers=NUMBERS_250,
        deferrable=True,
        timeout=8,
        max_poll_interval=5,
    )

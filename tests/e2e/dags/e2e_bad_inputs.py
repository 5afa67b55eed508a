"""Test-only DAG for the e2e suite: one task per bad input; each must fail (no retries) with a log
line naming the problem and the fix. Connection ids ``msgflash_bad_*`` and ``msgflash_quota`` are
exported by tests/e2e/conftest.py."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

THREE = ["+41795550000", "+41795550001", "+41795550002"]
#: e2e_common.NUMBERS_10001 as a JSON list, written next to this file by the test fixture (a file rather
#: than a 10,001-item templated list, which Airflow would render string by string).
NUMBERS_10001_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "numbers_10001.json")

#: task id -> (connection id, instance, numbers, extra operator arguments)
CASES: dict[str, tuple[str, str, object, dict[str, object]]] = {
    "wrong_key": ("msgflash_bad_wrong_key", "sandbox-connected", THREE, {}),
    "revoked_key": ("msgflash_bad_revoked_key", "sandbox-connected", THREE, {}),
    "team_key_without_team_id": ("msgflash_bad_team_no_id", "sandbox-connected", THREE, {}),
    "personal_key_with_team_id": ("msgflash_bad_personal_with_team", "sandbox-connected", THREE, {}),
    "wrong_base_url": ("msgflash_bad_base_url", "sandbox-connected", THREE, {}),
    "unreachable_host": ("msgflash_bad_unreachable", "sandbox-connected", THREE, {}),
    "instance_not_found": ("msgflash_bad", "no-such-instance", THREE, {}),
    "disconnected_instance": ("msgflash_bad", "sandbox-disconnected", THREE, {}),
    "zero_numbers": ("msgflash_bad", "sandbox-connected", [], {}),
    "too_many_numbers_unsplit": (
        "msgflash_bad",
        "sandbox-connected",
        None,
        {"numbers_file": NUMBERS_10001_FILE, "split_large": False},
    ),
    "non_string_numbers": ("msgflash_bad", "sandbox-connected", [41795550000, 41795550001], {}),
    "quota_exhausted": ("msgflash_quota", "sandbox-connected", THREE, {}),
}

with DAG(
    dag_id="e2e_bad_inputs",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["msgflash", "e2e"],
    default_args={
        "retries": 0,
        "priority_weight": 1,
        "weight_rule": "absolute",
        "execution_timeout": timedelta(minutes=2),
    },
):
    for task_id, (conn_id, instance, numbers, extra) in CASES.items():
        MsgFlashNumberLookupOperator(
            task_id=task_id,
            msgflash_conn_id=conn_id,
            instance_id=instance,
            numbers=numbers,
            deferrable=True,
            timeout=60,
            **extra,
        )

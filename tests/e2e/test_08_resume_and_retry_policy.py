"""Retries that resume exactly their own lookups, and Airflow 3.3's retry policy, on the real scheduler and
triggerer.

- A read outage of a running lookup outlasts the hook's and the trigger's retries (deferred, and waiting in the
  worker): try 1 fails but leaves its lookup running; the retry resumes it from the task state, with the lookup
  list unavailable the whole time: one lookup, zero list requests.
- MsgFlashRetryPolicy: a final error fails in one try whatever ``retries`` says; a 429 with ``Retry-After`` on the
  task's only HTTP attempt is retried after that delay, not after the task's 10-minute ``retry_delay``.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle
from tests.e2e._shared import POLICY_DAG, RESUME_DAG, RETRY_AFTER_STORM
from tests.e2e._stack import TERMINAL_TI, AirflowStack

pytestmark = pytest.mark.e2e

PROGRESS = "GET /api/v1/number-lookups/{id}/progress"
LIST = "GET /api/v1/number-lookups"


def test_a_read_outage_leaves_the_lookup_for_the_retry_which_resumes_it(
    airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]
) -> None:
    client, tasks = (
        airflow.client,
        {"deferred": sandboxes["resume_deferred"], "in_worker": sandboxes["resume_in_worker"]},
    )
    for sb in tasks.values():
        sb.set_faults(unavailable_routes=[PROGRESS, LIST])
    run_id = client.trigger(RESUME_DAG)
    for task_id, sb in tasks.items():  # try 1 fails on the outage; then the lookup can be read again
        client.wait_ti(
            RESUME_DAG, run_id, task_id, lambda t: t.get("state") == "up_for_retry" or t.get("try_number", 1) > 1,
            "its first try failed", timeout=180,
        )  # fmt: skip
        sb.set_faults(unavailable_routes=[LIST])  # the list stays down: the retry must not need it
        assert [lk["status"] for lk in sb.state()["lookups"]] in (["processing"], ["done"])  # not cancelled
    for task_id, sb in tasks.items():
        ti = client.wait_ti(RESUME_DAG, run_id, task_id, lambda t: t.get("state") in TERMINAL_TI, "done", timeout=180)
        assert (ti["state"], ti["try_number"]) == ("success", 2), task_id
        (lookup,) = sb.state()["lookups"]
        assert lookup["status"] == "done"
        creates = [r for r in sb.requests() if r["method"] == "POST" and r["route"] == "/api/v1/number-lookups"]
        lists = [r for r in sb.requests() if r["method"] == "GET" and r["route"] == "/api/v1/number-lookups"]
        assert (len(creates), lists) == (1, []), task_id
        log1, log2 = client.log(RESUME_DAG, run_id, task_id, 1), client.log(RESUME_DAG, run_id, task_id, 2)
        assert f"Leaving lookup(s) {lookup['id']} running" in log1, log1[-3000:]
        assert f"Resuming lookup {lookup['id']}" in log2, log2[-3000:]
        assert client.xcom(RESUME_DAG, run_id, task_id)["lookup_ids"] == [lookup["id"]]


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_the_retry_policy_fails_final_errors_at_once_and_waits_out_a_429(
    airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]
) -> None:
    client = airflow.client
    run_id = client.trigger(POLICY_DAG)
    final = client.wait_ti(POLICY_DAG, run_id, "final_error", lambda t: t.get("state") in TERMINAL_TI, "done", 150)
    assert (final["state"], final["try_number"]) == ("failed", 1)  # retries=3, none used
    assert "NOT_FOUND" in client.log(POLICY_DAG, run_id, "final_error", 1)

    limited = client.wait_ti(POLICY_DAG, run_id, "rate_limited", lambda t: t.get("state") in TERMINAL_TI, "done", 240)
    assert (limited["state"], limited["try_number"]) == ("success", 2), limited
    first, second = client.tries(POLICY_DAG, run_id, "rate_limited")[:2]
    gap = _at(second["start_date"]) - _at(first["end_date"])
    # Retried after the 429's Retry-After (the storm's length), not after the task's 10-minute retry_delay.
    assert RETRY_AFTER_STORM - 3 <= gap < 300, (gap, first, second)
    log1 = client.log(POLICY_DAG, run_id, "rate_limited", 1)
    assert "API_RATE_LIMIT_EXCEEDED" in log1 and "retrying after the" in log1, log1[-3000:]
    assert next(r["status"] for r in sandboxes["policy"].requests()) == 429

"""Scenario 3: the worker dies (SIGKILL) right after submitting; the retry reuses the lookup."""

from __future__ import annotations

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle, is_on_whatsapp
from tests.e2e._shared import CRASH_DAG, NUMBERS_250
from tests.e2e._stack import TERMINAL_TI, AirflowStack

pytestmark = pytest.mark.e2e


def test_retry_after_worker_crash_reuses_the_lookup(airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]) -> None:
    sb = sandboxes["retry"]
    client = airflow.client
    run_id = client.trigger(CRASH_DAG)
    seen: list[tuple[float, str | None, int]] = []
    ti = client.wait_ti(
        CRASH_DAG, run_id, "lookup", lambda t: t.get("state") in TERMINAL_TI, "a final state", timeout=150, seen=seen
    )
    assert ti["state"] == "success", seen
    assert ti["try_number"] == 2, f"expected success on the retry: {seen}"

    # The crash happened after the POST: the sandbox holds exactly one lookup, created once.
    state = sb.state()
    assert len(state["lookups"]) == 1, state["lookups"]
    (lookup,) = state["lookups"]
    assert lookup["status"] == "done"
    posts = [r for r in sb.requests() if r["method"] == "POST" and r["route"] == "/api/v1/number-lookups"]
    assert len(posts) == 1, posts

    log1 = client.log(CRASH_DAG, run_id, "lookup", 1)
    log2 = client.log(CRASH_DAG, run_id, "lookup", 2)
    assert lookup["id"] in log1, "try 1 did not log the lookup it submitted"
    # Airflow 3.3: the id was kept in the task state right after the POST; the retry resumes it from there.
    assert f"Resuming lookup {lookup['id']}" in log2, log2[-3000:]

    summary = client.xcom(CRASH_DAG, run_id, "lookup")
    assert summary["lookup_ids"] == [lookup["id"]]
    counts = summary["counts"]
    assert counts["on_whatsapp"] == sum(1 for n in NUMBERS_250 if is_on_whatsapp(n))
    assert counts["on_whatsapp"] + counts["not_on_whatsapp"] + counts["invalid"] == len(NUMBERS_250)

"""Scenario 2: the triggerer is SIGKILLed while the lookup task is deferred, then started again: the
task still succeeds, with one lookup and complete counts (the trigger only GETs)."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timezone

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle, is_on_whatsapp
from tests.e2e._shared import NUMBERS_250, RESTART_DAG
from tests.e2e._stack import TERMINAL_TI, AirflowStack

pytestmark = pytest.mark.e2e


def _progress_polls(sb: SandboxHandle) -> list[dict]:
    return [r for r in sb.requests() if r["method"] == "GET" and r["path"].endswith("/progress")]


def test_triggerer_restart_while_deferred(airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]) -> None:
    sb = sandboxes["restart"]
    client = airflow.client
    run_id = client.trigger(RESTART_DAG)
    ti = client.wait_ti(
        RESTART_DAG,
        run_id,
        "lookup",
        lambda t: t.get("state") == "deferred" and bool(t.get("triggerer_job")),
        "deferred in a triggerer",
        timeout=90,
    )
    old_job = ti["triggerer_job"]["id"]
    # The old triggerer has polled at least once (the worker polls once before deferring): the restart
    # interrupts a running trigger, not one that never started.
    deadline = time.monotonic() + 30
    while len(_progress_polls(sb)) < 2:
        assert time.monotonic() < deadline, f"the trigger never polled: {_progress_polls(sb)}"
        time.sleep(0.2)
    (before,) = sb.state()["lookups"]
    assert before["status"] in ("pending", "processing"), before

    t_kill = time.monotonic()
    since = datetime.now(timezone.utc).isoformat()
    airflow.kill("triggerer", signal.SIGKILL)
    airflow.start("triggerer")
    airflow.wait_healthy(components=("triggerer",), since=since, timeout=90)
    print(f"\ntriggerer back {time.monotonic() - t_kill:.1f} s after SIGKILL")

    jobs: set[int] = set()
    seen: list[tuple[float, str | None, int]] = []

    def watch(t: dict) -> None:
        if t.get("triggerer_job"):
            jobs.add(t["triggerer_job"]["id"])

    ti = client.wait_ti(
        RESTART_DAG,
        run_id,
        "lookup",
        lambda t: t.get("state") in TERMINAL_TI,
        "a final state",
        timeout=150,
        seen=seen,
        on_poll=watch,
    )
    assert ti["state"] == "success", seen
    assert ti["try_number"] == 1, "succeeded only through a retry"
    assert jobs - {old_job}, f"no new triggerer job ever ran the trigger (jobs seen: {jobs}, old {old_job})"

    state = sb.state()
    assert len(state["lookups"]) == 1, state["lookups"]
    (lookup,) = state["lookups"]
    assert lookup["status"] == "done"
    assert lookup["checkedCount"] + lookup["invalidCount"] == 250
    reqs = sb.requests()
    assert len([r for r in reqs if r["method"] == "POST" and r["route"] == "/api/v1/number-lookups"]) == 1
    assert not [r for r in reqs if r["path"].endswith("/cancel")], "a triggerer restart must not cancel"
    assert len(_progress_polls(sb)) > 2, "the new triggerer never polled"

    summary = client.xcom(RESTART_DAG, run_id, "lookup")
    counts = summary["counts"]
    assert counts["on_whatsapp"] == sum(1 for n in NUMBERS_250 if is_on_whatsapp(n))
    assert counts["on_whatsapp"] + counts["not_on_whatsapp"] + counts["invalid"] == len(NUMBERS_250)

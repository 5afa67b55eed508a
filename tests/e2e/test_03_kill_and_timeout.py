"""Scenario 4: a user marks the deferred task failed (the trigger's on_kill cancels the lookup), and a
deferral that outlives the operator's ``timeout`` (the lookup is cancelled, the task fails saying so)."""

from __future__ import annotations

import time

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle
from tests.e2e._shared import KILL_DAG, TIMEOUT_DAG
from tests.e2e._stack import TERMINAL_TI, AirflowStack

pytestmark = pytest.mark.e2e

#: Seconds within which a user's "mark failed" must have cancelled the lookup.
CANCEL_WITHIN = 15


def _lookup(sb: SandboxHandle, lookup_id: str) -> dict:
    return next(x for x in sb.state()["lookups"] if x["id"] == lookup_id)


def test_mark_failed_while_deferred_cancels_the_lookup(
    airflow: AirflowStack, sandboxes: dict[str, SandboxHandle]
) -> None:
    sb = sandboxes["kill"]
    client = airflow.client
    run_id = client.trigger(KILL_DAG)
    # Deferred and picked up by the triggerer (on_kill runs where the trigger runs).
    client.wait_ti(
        KILL_DAG,
        run_id,
        "lookup",
        lambda t: t.get("state") == "deferred" and bool(t.get("triggerer_job")),
        "deferred in a triggerer",
        timeout=90,
    )
    lookup_id = client.xcom(KILL_DAG, run_id, "lookup", key="lookup_id")
    assert _lookup(sb, lookup_id)["status"] in ("pending", "processing")

    t0 = time.monotonic()
    client.set_ti_state(KILL_DAG, run_id, "lookup", "failed")
    status = None
    while time.monotonic() - t0 < CANCEL_WITHIN + 15:
        status = _lookup(sb, lookup_id)["status"]
        if status != "processing" and status != "pending":
            break
        time.sleep(0.25)
    elapsed = time.monotonic() - t0
    assert status == "cancelled", f"lookup {lookup_id} is {status!r} {elapsed:.1f} s after the task was marked failed"
    assert elapsed < CANCEL_WITHIN, f"cancelled only after {elapsed:.1f} s"
    print(f"\nlookup cancelled {elapsed:.1f} s after 'mark failed'")

    lookup = _lookup(sb, lookup_id)
    assert lookup["checkedCount"] < lookup["requestedCount"], "the lookup had finished: nothing was cancelled"
    assert len(sb.state()["lookups"]) == 1
    cancels = [r for r in sb.requests() if r["method"] == "POST" and r["path"].endswith("/cancel")]
    assert len(cancels) >= 1
    time.sleep(2)
    assert client.ti(KILL_DAG, run_id, "lookup")["state"] == "failed"


def test_deferral_timeout_cancels_lookup_and_fails(
    airflow: AirflowStack, sandboxes: dict[str, SandboxHandle], background: dict[str, str]
) -> None:
    sb = sandboxes["timeout"]
    client = airflow.client
    run_id = background[TIMEOUT_DAG]
    seen: list[tuple[float, str | None, int]] = []
    ti = client.wait_ti(
        TIMEOUT_DAG, run_id, "lookup", lambda t: t.get("state") in TERMINAL_TI, "a final state", timeout=120, seen=seen
    )
    assert ti["state"] == "failed", seen
    assert ti["try_number"] == 1

    state = sb.state()
    assert len(state["lookups"]) == 1, state["lookups"]
    (lookup,) = state["lookups"]
    assert lookup["status"] == "cancelled", lookup
    assert lookup["checkedCount"] < lookup["requestedCount"]

    log = client.log(TIMEOUT_DAG, run_id, "lookup", 1)
    assert "did not finish in time" in log, log[-3000:]
    assert f"Cancelled: {lookup['id']}" in log, log[-3000:]
    assert "LOOKUP_TIMEOUT" in log
    # That the task ended at its timeout, not when the lookup would have finished, is shown above by the
    # sandbox (cancelled with checkedCount < requestedCount), not by a wall-clock bound: a loaded CI
    # machine broke one (35.1 s vs 35 s with two CPU-bound processes beside make test).

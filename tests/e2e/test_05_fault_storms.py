"""Scenario 5: fault storms from the sandbox's switches (each storm on its own sandbox, all tasks in one
DAG run started in the background at the beginning of the session). Every task either succeeds with
every input accounted for, or fails with a clear error within its configured time; none hangs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle, is_on_whatsapp, split_numbers
from tests.e2e._shared import NUMBERS_MIXED, STALL_TIMEOUT, STORM_429_SECONDS, STORMS, STORMS_DAG
from tests.e2e._stack import AirflowStack

pytestmark = pytest.mark.e2e

LOOKUP_POST = ("POST", "/api/v1/number-lookups")

#: task id -> (sandbox, expected state, most seconds the task may take, log fragments when failing)
EXPECT: dict[str, tuple[str, str, float, tuple[str, ...]]] = {
    "errors_5xx": ("storm_5xx", "success", 150, ()),
    "storm_429": ("storm_429", "success", 150, ()),
    "latency_spikes": ("storm_latency", "success", 150, ()),
    "dropped_connections": ("storm_drop", "success", 150, ()),
    # every answer takes 5 s, the connection's timeout is 1 s and max_retries 2: ~5 s of trying
    "latency_over_timeout": ("storm_timeout", "failed", 30, ("within 1 s (timeout)",)),
    # the lookup stops progressing; operator timeout STALL_TIMEOUT s: cancelled, then failed
    "stalled_lookup": ("storm_stall", "failed", STALL_TIMEOUT + 30, ("did not finish in time", "LOOKUP_TIMEOUT")),
    # the lookup ends `failed` halfway: the task fails with the API's reason
    "failed_lookup": ("storm_fail", "failed", 60, ("Lookup failed", "stopped answering", "LOOKUP_FAILED")),
}
assert set(EXPECT) == set(STORMS)


@pytest.fixture(scope="module")
def storm_tis(airflow: AirflowStack, background: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The storms run, finished (bounded: no task may hang)."""
    return airflow.client.wait_run(STORMS_DAG, background[STORMS_DAG], timeout=300)


def _seconds(ti: dict[str, Any]) -> float:
    start = datetime.fromisoformat(ti["start_date"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(ti["end_date"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


@pytest.mark.parametrize("task_id", list(EXPECT))
def test_fault_storm(
    task_id: str,
    storm_tis: dict[str, dict[str, Any]],
    airflow: AirflowStack,
    background: dict[str, str],
    sandboxes: dict[str, SandboxHandle],
) -> None:
    sandbox_name, want_state, max_seconds, fragments = EXPECT[task_id]
    sb = sandboxes[sandbox_name]
    client = airflow.client
    run_id = background[STORMS_DAG]
    ti = storm_tis[task_id]
    log = client.log(STORMS_DAG, run_id, task_id, int(ti["try_number"]))
    assert ti["state"] == want_state, f"{task_id}: {ti['state']}\n{log[-4000:]}"
    took = _seconds(ti)
    assert took <= max_seconds, f"{task_id} took {took:.0f} s (at most {max_seconds} s)"
    print(f"\n{task_id}: {ti['state']} in {took:.1f} s")

    state = sb.state()
    reqs = sb.requests()
    if want_state == "success":
        # Exactly one lookup, and every input accounted for.
        assert len(state["lookups"]) == 1, state["lookups"]
        valid, invalid = split_numbers(NUMBERS_MIXED)
        summary = client.xcom(STORMS_DAG, run_id, task_id)
        counts = summary["counts"]
        assert counts["on_whatsapp"] + counts["not_on_whatsapp"] + counts["invalid"] == len(NUMBERS_MIXED)
        assert summary["accounting"]["inputs"] == len(NUMBERS_MIXED)
        assert counts["on_whatsapp"] == sum(1 for n in valid if is_on_whatsapp(n))
        assert counts["invalid"] == len(invalid)
        assert counts["requested"] == len(NUMBERS_MIXED)
    else:
        for fragment in fragments:
            assert fragment in log, f"{task_id}: {fragment!r} not in the task log:\n{log[-4000:]}"

    # The storm did happen (else the test proves nothing).
    if task_id == "errors_5xx":
        assert sum(c["count"] for c in state["request_counts"] if c["status"] >= 500) > 0
    elif task_id == "storm_429":
        assert state["total_429"] > 0
        assert "API_RATE_LIMIT_EXCEEDED" in log
        assert took >= STORM_429_SECONDS - 1, "finished before the storm was over: Retry-After not honoured?"
    elif task_id == "latency_spikes":
        assert min(r["duration_ms"] for r in reqs) >= 500
    elif task_id == "dropped_connections":
        dropped_posts = [r for r in reqs if r["dropped"] and (r["method"], r["route"]) == LOOKUP_POST]
        assert dropped_posts, "the seed was chosen so that the lookup POST is dropped; it was not"
        assert "may have been processed by MsgFlash although no answer says so" in log
    elif task_id == "latency_over_timeout":
        assert state["lookups"] == []
    elif task_id == "stalled_lookup":
        (lookup,) = state["lookups"]
        assert lookup["status"] == "cancelled", lookup
    elif task_id == "failed_lookup":
        (lookup,) = state["lookups"]
        assert lookup["status"] == "failed", lookup

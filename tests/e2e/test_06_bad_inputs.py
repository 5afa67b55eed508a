"""Scenario 6: bad input. One DAG run with a task per bad input (background, started at the beginning of
the session); each task ends failed, on its first try, within a bounded time, with a log line naming the
problem and one naming the fix. Nothing is ever submitted."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle
from tests.e2e._shared import BAD_INPUTS_DAG
from tests.e2e._stack import AirflowStack

pytestmark = pytest.mark.e2e

#: task id -> (problem, fix): regular expressions (case-insensitive) the task log must match.
CASES: dict[str, tuple[str, str]] = {
    "wrong_key": (r"401 UNAUTHORIZED", r"Check the API key in the connection"),
    "revoked_key": (r"401 UNAUTHORIZED", r"Check the API key in the connection"),
    "team_key_without_team_id": (r"uses a team key \(msgf_team_\.\.\.\) but has no team id", r"add \{.team_id"),
    "personal_key_with_team_id": (r"personal key \(msgf_live_\.\.\.\) together with a team id", r"Remove .team_id."),
    # Airflow's own API server answers: 404, not the MsgFlash envelope.
    "wrong_base_url": (r"unexpected answer from MsgFlash", r"Base URL"),
    "unreachable_host": (r"(could not connect to|connection to) http://127\.0\.0\.1:\d+", r"Base URL"),
    "instance_not_found": (r"No instance has id, name or waNumber .no-such-instance.", r"Known instances: "),
    "disconnected_instance": (r"is disconnected", r"Connect it in the MsgFlash dashboard"),
    "zero_numbers": (r"There are no numbers to look up", r"MsgFlash needs 1 to 10,000 numbers"),
    "too_many_numbers_unsplit": (r"10001 numbers exceed the 10,000", r"Set split_large=True"),
    "non_string_numbers": (r"must hold non-empty strings", r"Quote numbers as strings"),
    "quota_exhausted": (r"429 MONTHLY_API_REQUEST_QUOTA_EXCEEDED", r"Upgrade the plan or wait for the next month"),
}
#: Most seconds any of these tasks may take (the unreachable host is retried with backoff, ~16 s).
MAX_SECONDS = 45


@pytest.fixture(scope="module")
def bad_tis(airflow: AirflowStack, background: dict[str, str]) -> dict[str, dict[str, Any]]:
    return airflow.client.wait_run(BAD_INPUTS_DAG, background[BAD_INPUTS_DAG], timeout=240)


@pytest.mark.parametrize("task_id", list(CASES))
def test_bad_input(
    task_id: str, bad_tis: dict[str, dict[str, Any]], airflow: AirflowStack, background: dict[str, str]
) -> None:
    problem, fix = CASES[task_id]
    ti = bad_tis[task_id]
    log = airflow.client.log(BAD_INPUTS_DAG, background[BAD_INPUTS_DAG], task_id, int(ti["try_number"]))
    assert ti["state"] == "failed", f"{task_id}: {ti['state']}\n{log[-3000:]}"
    assert ti["try_number"] == 1
    start = datetime.fromisoformat(ti["start_date"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(ti["end_date"].replace("Z", "+00:00"))
    took = (end - start).total_seconds()
    assert took <= MAX_SECONDS, f"{task_id} took {took:.0f} s"
    assert re.search(problem, log, re.I), f"{task_id}: problem /{problem}/ not in the log:\n{log[-3000:]}"
    assert re.search(fix, log, re.I), f"{task_id}: fix /{fix}/ not in the log:\n{log[-3000:]}"


def test_bad_inputs_create_no_lookup(bad_tis: dict[str, dict[str, Any]], sandboxes: dict[str, SandboxHandle]) -> None:
    assert sandboxes["bad"].state()["lookups"] == []
    assert sandboxes["quota"].state()["lookups"] == []

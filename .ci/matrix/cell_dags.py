"""Run both example DAGs with ``airflow dags test`` against a sandbox, inside a matrix cell's venv.

    VENV/bin/python cell_dags.py LOG_DIR

Expects AIRFLOW_HOME (empty temp folder), AIRFLOW__CORE__DAGS_FOLDER (the staged example DAGs) and
PATH starting with the venv's bin. Steps: ``airflow db migrate``; a sandbox (the wheel's, as a
subprocess) at 0.2 s per batch of 20 numbers, so a lookup of 130+ numbers is still running when the
operator first polls; ``msgflash_lookup_and_import`` with the connection stored in the metadata
database (``airflow connections add``, the README's CLI form); ``msgflash_daily_file_lookup`` with an
``AIRFLOW_CONN_MSGFLASH_DEFAULT`` URI. Then read back from Airflow's database (run and task states, try
numbers) and from the sandbox (lookups, contacts).

A DAG is green when ``dags test`` exits 0, the run and every task succeeded, and no task needed a retry.
The lookup is proven deferred by Airflow's own log line ``[DAG TEST] running trigger in line`` inside
that task's ``[DAG TEST] starting task_id=...`` block. Prints ``RESULT {json}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from dag_test_log import DEFER_MARK, deferred_tasks  # this folder is on sys.path: run as a script

warnings.simplefilter("ignore")

LOOKUP_DAG, DAILY_DAG = "msgflash_lookup_and_import", "msgflash_daily_file_lookup"
DEFERRING_TASK = "lookup_numbers"  # the lookup task, in both DAGs
DAG_TEST_TIMEOUT = 420


def run(cmd: list[str], log: Path, timeout: float, env: dict[str, str] | None = None) -> tuple[int, float]:
    """Run ``cmd`` in its own process group, output to ``log``; kill the group on timeout."""
    t0 = time.monotonic()
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            f.write(f"\n[matrix] killed after {timeout} s\n")
            rc = 124
    return rc, time.monotonic() - t0


def dag_states(dag_ids: list[str]) -> dict[str, Any]:
    """Latest run's state and each task's (state, try_number), from Airflow's metadata database."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    out: dict[str, Any] = {}
    with create_session() as session:
        for dag_id in dag_ids:
            runs = session.query(DagRun).filter(DagRun.dag_id == dag_id).all()
            if not runs:
                out[dag_id] = {"state": None, "tasks": {}}
                continue
            dr = max(runs, key=lambda r: r.id)
            tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == dr.run_id)
            tasks = {ti.task_id: [str(ti.state), ti.try_number] for ti in tis}
            out[dag_id] = {"state": str(dr.state), "tasks": tasks}
    return out


def judge_dag(dag_id: str, rc: int, log: Path, state: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    text = log.read_text(errors="replace")
    deferred = deferred_tasks(text)
    facts = {"rc": rc, "state": state.get("state"), "tasks": state.get("tasks"), "deferred_tasks": deferred}
    facts["error_lines"] = sum(1 for line in text.splitlines() if "[error" in line or "ERROR" in line)
    problems = [] if rc == 0 else [f"{dag_id}: dags test exited {rc} (log {log})"]
    if state.get("state") != "success":
        problems.append(f"{dag_id}: run state {state.get('state')}")
    for task, (task_state, tries) in (state.get("tasks") or {}).items():
        if task_state != "success" or (tries or 1) > 1:
            problems.append(f"{dag_id}.{task}: {task_state} after try {tries}")
    if DEFERRING_TASK not in deferred:
        problems.append(f"{dag_id}: {DEFERRING_TASK} did not defer (no '{DEFER_MARK}' in its block)")
    return problems, facts


def sandbox_problems(sb: Any) -> tuple[list[str], dict[str, Any]]:
    """One 250-number lookup and one daily lookup, both done; the right contacts imported."""
    from airflow_provider_msgflash.sandbox import is_on_whatsapp

    state = sb.state()
    lookups = [(lk.get("requestedCount"), lk.get("status")) for lk in state["lookups"]]
    expected_first = sum(1 for i in range(250) if is_on_whatsapp(f"+4179555{i:04d}"))
    facts = {"lookups": lookups, "contacts": state["contacts"], "expected_from_first": expected_first}
    problems = []
    if len(lookups) != 2 or lookups[0] != (250, "done") or lookups[1][1] != "done":
        problems.append(f"sandbox lookups {lookups}, expected [(250, 'done'), (N, 'done')]")
    if state["contacts"] <= expected_first:
        problems.append(f"sandbox holds {state['contacts']} contacts; the first DAG alone imports {expected_first}")
    return problems, facts


def run_dags(sb: Any, logs: Path) -> tuple[list[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    conn_add = ["airflow", "connections", "add", "msgflash_default", "--conn-type", "msgflash"]
    conn_add += ["--conn-host", sb.base_url, "--conn-password", json.loads(sb.connection_json())["password"]]
    problems: list[str] = []
    rc, _ = run(conn_add, logs / "connections-add.log", 120, env)
    if rc != 0:
        problems.append(f"airflow connections add exited {rc}")
    results: dict[str, tuple[int, float]] = {}
    for dag_id in (LOOKUP_DAG, DAILY_DAG):
        if dag_id == DAILY_DAG:  # the second DAG: a connection from the environment (URI form)
            env["AIRFLOW_CONN_MSGFLASH_DEFAULT"] = sb.connection_uri()
        results[dag_id] = run(["airflow", "dags", "test", dag_id], logs / f"{dag_id}.log", DAG_TEST_TIMEOUT, env)
    states = dag_states([LOOKUP_DAG, DAILY_DAG])
    facts: dict[str, Any] = {}
    for dag_id, (rc, seconds) in results.items():
        p, f = judge_dag(dag_id, rc, logs / f"{dag_id}.log", states[dag_id])
        problems += p
        facts[dag_id] = {**f, "seconds": round(seconds, 1)}
    p, facts["sandbox"] = sandbox_problems(sb)
    return problems + p, facts


def main() -> int:
    logs = Path(sys.argv[1])
    logs.mkdir(parents=True, exist_ok=True)
    facts: dict[str, Any] = {}
    try:
        rc, seconds = run(["airflow", "db", "migrate"], logs / "db-migrate.log", 600)
        facts["db_migrate_seconds"] = round(seconds, 1)
        if rc != 0:
            raise RuntimeError(f"airflow db migrate exited {rc} (log {logs / 'db-migrate.log'})")
        from airflow_provider_msgflash.sandbox import running_sandbox

        with running_sandbox(subprocess=True, pace=0.2) as sb:
            problems, dag_facts = run_dags(sb, logs)
        facts.update(dag_facts)
    except Exception as e:
        problems = [f"{type(e).__name__}: {e}"]
    print("RESULT " + json.dumps({"ok": not problems, "problems": problems, "facts": facts}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run ``airflow dags test`` as a user does: a subprocess, the test session's migrated Airflow home, a
DAGs folder holding only the DAG files a test writes, and connections from wherever the test puts them
(environment, metadata database, a secrets backend file). Task states are read from the database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Most seconds one ``airflow dags test`` may take (a loaded 2-core machine included).
DAGS_TEST_TIMEOUT = 300


@dataclass
class DagsTestRun:
    """What one ``airflow dags test`` did."""

    returncode: int
    output: str
    #: task id -> (state, try_number) of the run's task instances (the latest run of the DAG).
    tasks: dict[str, tuple[str | None, int]]

    def state(self, task_id: str) -> str | None:
        return self.tasks[task_id][0]


def _latest_run_tasks(db: Path, dag_id: str) -> dict[str, tuple[str | None, int]]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        if row is None:
            return {}
        rows = conn.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, row[0])
        ).fetchall()
    return {task_id: (state, int(try_number or 0)) for task_id, state, try_number in rows}


def airflow_env(dags_folder: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow CLI call on the test session's home with ``dags_folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def airflow_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``airflow <args>`` in a subprocess; raises with its output when it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def dags_test(dags_folder: Path, dag_id: str, source: str | None = None, env: dict[str, str] | None = None) -> DagsTestRun:
    """Write ``source`` (when given) as ``<dag_id>.py`` in ``dags_folder`` and run ``airflow dags test``."""
    dags_folder.mkdir(parents=True, exist_ok=True)
    if source is not None:
        (dags_folder / f"{dag_id}.py").write_text(textwrap.dedent(source))
    env = env or airflow_env(dags_folder)
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=DAGS_TEST_TIMEOUT,
    )
    output = proc.stdout + proc.stderr
    db = Path(env.get("AIRFLOW_HOME", os.environ["AIRFLOW_HOME"])) / "airflow.db"
    return DagsTestRun(proc.returncode, output, _latest_run_tasks(db, dag_id))


def error_lines(output: str) -> list[str]:
    """Lines Airflow logged at error level, and tracebacks."""
    marks = ("[error", "Traceback (most recent call last)", "Unclosed client session", "Unclosed connector")
    return [line for line in output.splitlines() if any(m in line for m in marks)]


__all__: list[Any] = ["DagsTestRun", "airflow_cli", "airflow_env", "dags_test", "error_lines"]

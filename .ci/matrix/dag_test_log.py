"""Read ``airflow dags test`` output: which tasks Airflow deferred and ran a trigger for inline.

Shared by the matrix (``cell_dags.py``, run in a cell's venv from this folder) and
``benchmarks/bench_dag_requests.py`` (which adds this folder to ``sys.path``); standard library only.
"""

from __future__ import annotations

import re

START_RE = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
DEFER_MARK = "[DAG TEST] running trigger in line"


def deferred_tasks(text: str) -> list[str]:
    """Task ids whose ``dags test`` block (from Airflow's ``[DAG TEST] starting task_id=...`` line to the
    next one) shows Airflow's own ``[DAG TEST] running trigger in line``, in order, each once."""
    current, found = None, []
    for line in text.splitlines():
        m = START_RE.search(line)
        if m:
            current = m.group(1)
        elif DEFER_MARK in line and current and current not in found:
            found.append(current)
    return found

"""Worker slot-seconds per run of the example DAG, with its readiness sensor started in a worker (before) and in
the triggerer (after, ``start_from_trigger``), side by side in one run of a real Airflow.

One Airflow (API server, scheduler with the LocalExecutor, DAG processor, triggerer; SQLite) runs two copies of
``msgflash_lookup_and_import`` against one sandbox (its own process, 1 s per batch of 20 numbers, so the lookup
defers for ~13 s): the example as shipped (the sensor, deferrable, starts in the triggerer where Airflow can) and
the same file with ``start_from_trigger=False`` on the sensor (exactly one line changed: it starts in a worker,
as every deferrable sensor did before). The runs alternate, one at a time.

Measured from the task instances' own times, read through the REST API while the run goes (every 0.25 s): a
task's stay in a worker starts when it is queued (``queued_when``: the executor holds a slot for it from then)
and ends when it defers (its trigger's ``created_date``) or ends (``end_date``); a deferred task's resumption is
queued again (a new ``queued_when``). A task never queued spent 0 s in a worker. The scheduler's log (the
LocalExecutor's) is searched for the sensor's task key: a sensor started in the triggerer must not appear there.

Goal: the readiness sensor spends 0 s in a worker when started in the triggerer (Airflow 3.3), every run green.

Usage: ``.venv/bin/python benchmarks/bench_sensor_slots.py [--runs 3]`` (about 4 minutes); ``--smoke``: one run
of each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as c

EXAMPLE = "msgflash_lookup_and_import"
WORKER_START = f"{EXAMPLE}_worker_start"
#: The sensor's lines in the example, and what the "before" copy adds to them.
SENSOR_LINES = "        deferrable=True,\n    )\n\n    lookup = "
BEFORE_LINES = "        deferrable=True,\n        start_from_trigger=False,\n    )\n\n    lookup = "
TASKS = ("instance_ready", "lookup_numbers", "import_contacts")


def worker_start_source() -> str:
    """The example with the sensor started in a worker and another dag_id (two lines changed)."""
    text = (c.REPO / "example_dags" / f"{EXAMPLE}.py").read_text()
    dag_id = f'dag_id="{EXAMPLE}",'
    assert text.count(SENSOR_LINES) == 1 and text.count(dag_id) == 1, "the example's sensor or dag_id moved"
    return text.replace(SENSOR_LINES, BEFORE_LINES).replace(dag_id, f'dag_id="{WORKER_START}",')


def when(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


class Watch:
    """What one task instance showed while it ran: every ``queued_when`` and trigger ``created_date`` seen."""

    def __init__(self) -> None:
        self.queued: list[float] = []
        self.deferred: list[float] = []
        self.final: dict[str, Any] = {}

    def see(self, ti: dict[str, Any]) -> None:
        q = when(ti.get("queued_when"))
        if q is not None and q not in self.queued:
            self.queued.append(q)
        created = when((ti.get("trigger") or {}).get("created_date"))
        if created is not None and created not in self.deferred:
            self.deferred.append(created)
        self.final = ti

    def slot_seconds(self) -> float:
        """Σ over its stays in a worker: from queued to deferred (the first trigger created after it) or ended."""
        end = when(self.final.get("end_date")) or time.time()
        total = 0.0
        for q in self.queued:
            left = min((d for d in self.deferred if d >= q), default=end)
            total += max(0.0, left - q)
        return total


def run_once(client: Any, dag_id: str, timeout: float = 240) -> dict[str, Any]:
    """Trigger ``dag_id``, watch its task instances until the run ends; slot-seconds per task."""
    run_id = client.trigger(dag_id)
    watches = {t: Watch() for t in TASKS}
    t0, deadline = time.monotonic(), time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        for task_id, ti in client.task_instances(dag_id, run_id).items():
            if task_id in watches:
                watches[task_id].see(ti)
        state = client.dag_run(dag_id, run_id).get("state")
        if state in ("success", "failed"):
            break
        time.sleep(0.25)
    for task_id, ti in client.task_instances(dag_id, run_id).items():
        watches[task_id].see(ti)
    sensor = watches["instance_ready"].final
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "state": state,
        "wall": time.monotonic() - t0,
        "slots": {t: w.slot_seconds() for t, w in watches.items()},
        "stays": {t: len(w.queued) for t, w in watches.items()},
        "states": {t: w.final.get("state") for t, w in watches.items()},
        "sensor_span": (when(sensor.get("end_date")) or 0) - (when(sensor.get("start_date")) or 0),
        "sensor_host": sensor.get("hostname") or "",
    }


def show(rows: list[dict[str, Any]]) -> None:
    table = []
    for label, dag_id in (("sensor starts in a worker (before)", WORKER_START), ("in the triggerer (after)", EXAMPLE)):
        mine = [r for r in rows if r["dag_id"] == dag_id]
        med = {t: c.median(r["slots"][t] for r in mine) for t in TASKS}
        top = {t: max(r["slots"][t] for r in mine) for t in TASKS}
        totals = [sum(r["slots"].values()) for r in mine]
        table.append(
            [
                label,
                f"{sum(r['state'] == 'success' for r in mine)} / {len(mine)}",
                f"{med['instance_ready']:.1f} s, max {top['instance_ready']:.1f} s "
                f"({'/'.join(str(r['stays']['instance_ready']) for r in mine)})",
                f"{med['lookup_numbers']:.1f} s",
                f"{med['import_contacts']:.1f} s",
                f"{c.median(totals):.1f} s, max {max(totals):.1f} s",
                f"{c.median(r['sensor_span'] for r in mine):.1f} s",
                "/".join(str(r["log_lines"]) for r in mine),
                f"{c.median(r['wall'] for r in mine):.0f} s",
            ]
        )
    c.table(
        table,
        [
            "readiness sensor",
            "green",
            "sensor in a worker (stays)",
            "lookup",
            "import",
            "slot-s per run",
            "sensor start->end",
            "executor log lines",
            "run wall",
        ],
    )
    print("  medians (and the largest) over the runs; 'stays': times the sensor was queued to a worker, per run;")
    print("  a stay: from queued (the executor holds a slot) to deferred or ended, from the task instance's times")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each copy of the DAG")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.runs = 1

    from tests.e2e._stack import AirflowStack, airflow_env, boot, finish_migrate, free_port, start_migrate

    home = Path(tempfile.mkdtemp(prefix="msgflash-bench-slots-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / f"{EXAMPLE}.py").write_text((c.REPO / "example_dags" / f"{EXAMPLE}.py").read_text())
    (dags / f"{WORKER_START}.py").write_text(worker_start_source())
    key = c.new_key()
    c.banner(
        "bench_sensor_slots: worker slot-seconds per run of the example DAG, sensor started in a worker vs triggerer",
        airflow="API server, scheduler (LocalExecutor), DAG processor, triggerer; SQLite",
        runs=f"{args.runs} of each copy, alternating, one at a time",
        sandbox="subprocess, pace 1 s per batch of 20 (the lookup defers ~13 s), rate limit 10 req/s",
        airflow_home=str(home),
    )
    sb = c.start_sandbox([key], pace=1.0, rate_limit=10)
    port = free_port()
    env = airflow_env(
        home,
        dags,
        port,
        AIRFLOW_CONN_MSGFLASH_DEFAULT=sb.connection_json(key=key),
    )
    stack = AirflowStack(home, env, port)
    rows: list[dict[str, Any]] = []
    try:
        c.say("airflow db migrate, then the components")
        finish_migrate(start_migrate(home, env), home)
        boot(stack, (EXAMPLE, WORKER_START), unpause=(EXAMPLE, WORKER_START))
        for i in range(args.runs):
            for dag_id in (WORKER_START, EXAMPLE):
                row = run_once(stack.client, dag_id)
                slots = ", ".join(f"{t} {row['slots'][t]:.1f} s ({row['stays'][t]} stays)" for t in TASKS)
                c.say(f"run {i + 1} {dag_id}: {row['state']}; in a worker: {slots}")
                rows.append(row)
        time.sleep(2)  # the scheduler's last log lines
        for row in rows:
            row["log_lines"] = len(stack.lines_about(row["dag_id"], row["run_id"], "instance_ready"))
    finally:
        stack.stop()
        sb.stop()
    show(rows)
    before = [r for r in rows if r["dag_id"] == WORKER_START]
    after = [r for r in rows if r["dag_id"] == EXAMPLE]
    ok = (
        all(r["state"] == "success" for r in rows)
        and all(r["slots"]["instance_ready"] == 0 and r["log_lines"] == 0 for r in after)
        and all(r["stays"]["instance_ready"] == 0 for r in after)
    )
    per_run = {k: c.median(sum(r["slots"].values()) for r in v) for k, v in (("before", before), ("after", after))}
    sensor = {k: c.median(r["slots"]["instance_ready"] for r in v) for k, v in (("before", before), ("after", after))}
    c.result(
        "sensor_slots",
        f"readiness sensor {sensor['before']:.1f} s in a worker per run before, {sensor['after']:.1f} s after; "
        f"example DAG {per_run['before']:.1f} -> {per_run['after']:.1f} worker slot-seconds per run "
        f"({sum(r['state'] == 'success' for r in rows)}/{len(rows)} runs green)",
        "sensor 0 s in a worker when started in the triggerer, every run green",
        ok,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

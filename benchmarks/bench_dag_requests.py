"""Requests per DAG run: every API request of a whole run of each example DAG, by route, counted by the sandbox.

Both example DAGs run for real with ``airflow dags test`` (a subprocess, a temporary AIRFLOW_HOME, the
connection in an environment variable) against a sandbox in its own process at the REALISTIC pace (1 s per
batch of 20 numbers), once with the instance named by id (a UUID) and once by name:

- ``msgflash_lookup_and_import``: readiness sensor -> 250-number lookup (deferred) -> import. It runs with
  the import task's ``lookup_id`` in both forms: the lookup task's summary (``lookup.output``: its
  ``status: done`` spares the import a progress check) and the XCom pull of ``lookup_ids`` (a bare id list:
  the import checks progress once). The example file is copied with only that line, or the instance,
  changed; the output says which form the shipped example uses.
- ``msgflash_daily_file_lookup``: export a CSV -> lookup with ``numbers_file``, ``result_path`` and
  ``import_tag`` (one task).

Each run reads the sandbox's request log (``sb.requests()``, the run's own key; the sandbox is reset between
runs) and prints, side by side:
- requests by route, and whether the instance's state and health were read right before each lookup was
  created (the two requests before each ``POST /number-lookups`` are its ``/state`` and ``/health``);
- what a naive 2 s poller would spend with the same other calls: its progress calls are computed from the
  lookup's real duration in the sandbox (``createdAt`` -> ``completedAt``): one pre-defer poll plus one every
  2 s until done (``1 + ceil(duration / 2)``), in place of the progress calls measured;
- what a daily run costs of the Free plan's 1,000 requests a month (30 runs a month): % of the quota, and
  how many runs the quota pays for.
Goals (issue 14, ``msgflash_lookup_and_import``): <= 9 requests per run with the instance named by id,
<= 11 by name, the instance's state and health still read before each lookup. The daily DAG is printed
next to it (no goal of its own).

Usage: ``.venv/bin/python benchmarks/bench_dag_requests.py [--pace realistic]`` (about 3 minutes: six
``airflow dags test`` runs, one after another); ``--smoke``: pace 0.05 s per batch, one run of each DAG.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as c

sys.path.insert(0, str(c.REPO / ".ci" / "matrix"))  # dag_test_log.py, shared with the matrix
from dag_test_log import deferred_tasks

c.prepare_airflow_env()

EXAMPLES = c.REPO / "example_dags"
LOOKUP_DAG, DAILY_DAG = "msgflash_lookup_and_import", "msgflash_daily_file_lookup"
#: The import task's ``lookup_id`` in the two forms measured.
FORMS = {
    "lookup.output": "lookup.output",
    "xcom_pull lookup_ids": "\"{{ ti.xcom_pull(task_ids='lookup_numbers', key='lookup_ids') }}\"",
}
IMPORT_LINE = re.compile(r"(lookup_id=)(.+?),[ \t]*(?:#[^\n]*)?\n")  # a trailing comment is allowed
DAILY_INSTANCE = 'instance_id="sandbox-connected",'
FREE_QUOTA, RUNS_PER_MONTH = 1000, 30
GOALS = {"id": 9, "name": 11}
#: Short names of the API routes (as the sandbox logs them, without ``/api/v1``).
ROUTES = {
    "GET /instances": "list",
    "GET /instances/{id}/state": "state",
    "GET /instances/{id}/health": "health",
    "POST /number-lookups": "create",
    "GET /number-lookups/{id}/progress": "progress",
    "GET /number-lookups/{id}": "get",
    "POST /number-lookups/{id}/import-contacts": "import",
}


@dataclass
class Variant:
    dag_id: str
    named_by: str  # "id" or "name"
    form: str | None  # the import task's lookup_id form (lookup DAG only)
    source: str
    conf: dict[str, Any] | None

    @property
    def label(self) -> str:
        return f"{self.dag_id} by {self.named_by}" + (f", import gets {self.form}" if self.form else "")


def shipped_form() -> str:
    """Which ``lookup_id`` form the shipped example passes to the import task."""
    line = IMPORT_LINE.search((EXAMPLES / f"{LOOKUP_DAG}.py").read_text())
    assert line, "the example's import task has no `lookup_id=...` line"
    return next((name for name, text in FORMS.items() if line.group(2).strip() == text), line.group(2).strip())


def lookup_dag_source(form: str) -> str:
    """The example file with the import task's ``lookup_id`` in ``form`` (exactly one line changed)."""
    text = (EXAMPLES / f"{LOOKUP_DAG}.py").read_text()
    new, n = IMPORT_LINE.subn(lambda m: f"{m.group(1)}{FORMS[form]},\n", text)
    assert n == 1, f"expected one `lookup_id=` line in {LOOKUP_DAG}.py, found {n}"
    return new


def daily_dag_source(instance: str) -> str:
    """The daily example with ``instance_id`` set to ``instance`` (exactly one line changed)."""
    text = (EXAMPLES / f"{DAILY_DAG}.py").read_text()
    assert text.count(DAILY_INSTANCE) == 1, f"expected one `{DAILY_INSTANCE}` in {DAILY_DAG}.py"
    return text.replace(DAILY_INSTANCE, f'instance_id="{instance}",')


def variants(instance_id: str, smoke: bool) -> list[Variant]:
    out = []
    for named_by, ref in (("id", instance_id), ("name", "sandbox-connected")):
        for form in FORMS:
            out.append(Variant(LOOKUP_DAG, named_by, form, lookup_dag_source(form), {"instance": ref}))
        out.append(Variant(DAILY_DAG, named_by, None, daily_dag_source(ref), None))
    if smoke:  # one run of each DAG
        keep = ((LOOKUP_DAG, "id", "lookup.output"), (DAILY_DAG, "name", None))
        out = [v for v in out if (v.dag_id, v.named_by, v.form) in keep]
    return out


def short_route(r: dict[str, Any]) -> str:
    name = f"{r['method']} {r['route'].removeprefix('/api/v1')}"
    return ROUTES.get(name, name)


def gate_before_each_lookup(mine: list[dict[str, Any]]) -> bool:
    """Whether the two requests right before every ``POST /number-lookups`` read the state and the
    health of the instance the lookup is for (any order)."""
    creates = [i for i, r in enumerate(mine) if short_route(r) == "create"]
    if not creates:
        return False
    return all(i >= 2 and sorted(short_route(r) for r in mine[i - 2 : i]) == ["health", "state"] for i in creates)


def run_variant(v: Variant, sb: Any, key: str, work: Path, env_extra: dict[str, str]) -> dict[str, Any]:
    """One ``airflow dags test`` of ``v``; its requests by route and the lookup's real duration."""
    from tests.dags_cli import airflow_env

    sb.reset()
    folder = work / f"dags-{v.dag_id}-{v.named_by}-{(v.form or '').replace(' ', '_').replace('.', '_')}"
    env = airflow_env(folder, **env_extra)
    t0 = time.time()
    run = dags_test(folder, v, env)
    wall = time.time() - t0
    fp = c.fingerprint(key)
    mine = [r for r in c.all_requests(sb) if r["key"] == fp]
    by_route: dict[str, int] = {}
    for r in mine:
        by_route[short_route(r)] = by_route.get(short_route(r), 0) + 1
    lookups = sb.state()["lookups"]
    durations = [
        (c.parse_iso(lk["completedAt"]) or 0.0) - (c.parse_iso(lk["createdAt"]) or 0.0)
        for lk in lookups
        if lk.get("completedAt")
    ]
    green = run.returncode == 0 and all(st == "success" for st, _ in run.tasks.values()) and bool(run.tasks)
    retried = {t: n for t, (_, n) in run.tasks.items() if n > 1}
    deferred = "lookup_numbers" in deferred_tasks(run.output)
    if not green:
        print(run.output[-4000:])
    return {
        "variant": v,
        "by_route": by_route,
        "total": len(mine),
        "statuses": sorted({r["status"] for r in mine}),
        "gate": gate_before_each_lookup(mine),
        "durations": durations,
        "green": green,
        "deferred": deferred,
        "retried": retried,
        "tasks": run.tasks,
        "wall": wall,
        "lookups": [(lk["requestedCount"], lk["status"]) for lk in lookups],
    }


def dags_test(folder: Path, v: Variant, env: dict[str, str]) -> Any:
    """``airflow dags test [-c CONF] DAG_ID`` on ``v``'s source alone in ``folder``, the task states read
    back as :func:`tests.dags_cli.dags_test` does (which takes no ``-c``)."""
    import subprocess

    from tests.dags_cli import DAGS_TEST_TIMEOUT, DagsTestRun, _latest_run_tasks

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{v.dag_id}.py").write_text(v.source)
    conf = ["-c", json.dumps(v.conf)] if v.conf is not None else []
    cmd = [sys.executable, "-m", "airflow", "dags", "test", *conf, v.dag_id]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=DAGS_TEST_TIMEOUT)
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    return DagsTestRun(proc.returncode, proc.stdout + proc.stderr, _latest_run_tasks(db, v.dag_id))


def naive_total(res: dict[str, Any]) -> tuple[int, int]:
    """(the naive 2 s poller's progress calls, its total): the same other calls, progress computed from
    the lookup's real duration: one pre-defer poll + one every 2 s until done."""
    progress = sum(1 + max(1, math.ceil(d / 2.0)) for d in res["durations"])
    return progress, res["total"] - res["by_route"].get("progress", 0) + progress


def quota(total: int) -> str:
    return f"{100.0 * total * RUNS_PER_MONTH / FREE_QUOTA:.0f}% / {FREE_QUOTA // max(total, 1)} runs"


def report(results: list[dict[str, Any]], pace: Any) -> bool:
    route_names = list(dict.fromkeys([*ROUTES.values(), *(k for r in results for k in r["by_route"])]))
    routes, costs, ok_all = [], [], True
    for res in results:
        v = res["variant"]
        goal = GOALS[v.named_by] if v.dag_id == LOOKUP_DAG else None
        naive_progress, naive = naive_total(res)
        ok = res["green"] and res["deferred"] and res["gate"] and (goal is None or res["total"] <= goal)
        ok_all &= ok
        name = [v.dag_id.removeprefix("msgflash_"), v.named_by, v.form or "-"]
        routes.append([*name, *(res["by_route"].get(k, 0) for k in route_names), res["total"]])
        costs.append(
            [
                *name,
                res["total"],
                f"<= {goal}" if goal else "-",
                "yes" if res["gate"] else "NO",
                ", ".join(f"{d:.1f} s" for d in res["durations"]),
                f"{naive} ({naive_progress} progress)",
                f"{res['total'] / naive:.2f}x",
                quota(res["total"]),
                quota(naive),
                ("PASS" if ok else "MISS") if goal else ("ok" if ok else "FAILED"),
            ]
        )
    print("\nRequests per DAG run, by route (the sandbox's log, this run's key, every task of the run):")
    c.table(routes, ["DAG", "instance by", "import gets", *route_names, "total"])
    print("\nAgainst the goal, a naive 2 s poller, and the Free plan (1,000 requests a month, a daily run):")
    c.table(
        costs,
        ["DAG", "instance by", "import gets", "requests", "goal", "state+health before lookup", "lookup took",
         "naive 2 s poller", "ours/naive", "Free plan: ours", "Free plan: naive", "verdict"],
    )  # fmt: skip
    print(
        "  naive 2 s poller: the same other calls; its progress calls = 1 pre-defer poll + ceil(lookup duration /\n"
        "  2 s), the duration measured by the sandbox (createdAt -> completedAt). Free plan: a daily run's share of\n"
        f"  {FREE_QUOTA:,} requests/month ({RUNS_PER_MONTH} runs a month) / how many runs the quota pays for.\n"
        "  state+health before lookup: the two requests right before each POST /number-lookups are the\n"
        f"  instance's /state and /health. Sandbox pace: {pace} (s per batch of 20 numbers; realistic = 1)."
    )
    for res in results:
        if not (res["green"] and res["deferred"]):
            print(f"  NOT GREEN {res['variant'].label}: tasks {res['tasks']}, lookup deferred: {res['deferred']}")
        elif res["retried"]:
            print(f"  {res['variant'].label}: a task ran more than once {res['retried']}: its requests are all counted")
    print(f"  The shipped example passes the import task `lookup_id={shipped_form()}`.")
    return ok_all


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pace", default="realistic", help="sandbox pace: realistic (1 s per 20), fast, or seconds")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.pace = "0.05"
    pace: Any = args.pace if args.pace in ("realistic", "fast", "instant") else float(args.pace)
    from tests.dags_cli import airflow_cli, airflow_env

    key = c.new_key()
    work = Path(tempfile.mkdtemp(prefix="msgflash-bench-dag-requests-"))
    c.banner(
        "bench_dag_requests: API requests per DAG run, by route (airflow dags test, sandbox request log)",
        dags=f"{LOOKUP_DAG} (sensor -> 250-number lookup, deferred -> import), {DAILY_DAG}",
        sandbox=f"subprocess, pace {pace} (s per batch of 20), rate limit 10 req/s, reset between runs",
        airflow_home=os.environ["AIRFLOW_HOME"],
    )
    c.say("airflow db migrate")
    airflow_cli(airflow_env(work / "empty"), "db", "migrate", timeout=300)
    sb = c.start_sandbox([key], pace=pace, rate_limit=10)
    results = []
    try:
        env_extra = {
            "AIRFLOW_CONN_MSGFLASH_DEFAULT": sb.connection_json(key=key),
            "MSGFLASH_EXAMPLE_DATA_DIR": str(work / "data"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # Airflow's "[DAG TEST] running trigger in line"
        }
        for v in variants(sb.instance_id("sandbox-connected"), args.smoke):
            c.say(f"airflow dags test: {v.label}")
            res = run_variant(v, sb, key, work, env_extra)
            c.say(f"  {res['total']} requests, {'green' if res['green'] else 'NOT GREEN'} ({res['wall']:.0f} s)")
            results.append(res)
    finally:
        sb.stop()
    ok = report(results, pace)
    lookup_rows = [r for r in results if r["variant"].dag_id == LOOKUP_DAG]
    c.result(
        "dag_requests",
        "; ".join(f"{r['variant'].named_by}/{r['variant'].form}: {r['total']}" for r in lookup_rows)
        + f" requests per run of {LOOKUP_DAG}; state+health before each lookup: "
        + ("yes" if all(r["gate"] for r in results) else "NO")
        + f" (pace {pace})",
        f"<= {GOALS['id']} by id, <= {GOALS['name']} by name, state and health read before each lookup",
        ok,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

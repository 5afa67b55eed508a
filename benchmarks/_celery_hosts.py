"""bench_many_hosts.py ``--stack celery``: the same question on a real CeleryExecutor Airflow (the e2e's stack,
tests/e2e/_celery_stack.py): Postgres, Redis as broker, scheduler, triggerer, DAG processor, API server and two
Celery workers as two hosts (own temp dirs: own default limiter files; the triggerer is a third).

Each pass runs ``--runs`` (6) concurrent runs of ``msgflash_lookup_and_import`` on one key, once per limiter
configuration, side by side: ``default`` (each host's own limiter file) and ``redis`` (``rate_limit_backend``:
one limit for the key, in Redis; the deployment guide's configuration). Each configuration gets a fresh key
(the ``msgflash_default`` connection is replaced through the REST API between them); the sandbox limits each
key to 10 requests/s. From the sandbox's request log, per key: answers, 429s, the most requests received in
one second; from Airflow: runs green, lookups per run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _common as c

EXAMPLE = "msgflash_lookup_and_import"
CONFIGS = ("default", "redis")


def _set_connection(client: Any, sb: Any, key: str, extra: dict[str, Any]) -> None:
    client.call("DELETE", "/api/v2/connections/msgflash_default", ok=(404,))
    body = {"connection_id": "msgflash_default", **json.loads(sb.connection_json(key=key))}
    body["extra"] = json.dumps({**body["extra"], **extra})
    client.call("POST", "/api/v2/connections", json_body=body)


def _one(stack: Any, sb: Any, config: str, redis: str, runs: int) -> dict[str, Any]:
    from tests.e2e._celery_stack import connection_extra
    from tests.e2e._stack import TERMINAL_RUN

    client = stack.client
    key = c.new_key()
    sb.add_key(key)
    _set_connection(client, sb, key, connection_extra(redis) if config == "redis" else {})
    t0 = time.monotonic()
    run_ids = [client.trigger(EXAMPLE) for _ in range(runs)]
    deadline, pending = time.monotonic() + 600, set(run_ids)
    while pending and time.monotonic() < deadline:
        pending = {r for r in pending if client.dag_run(EXAMPLE, r).get("state") not in TERMINAL_RUN}
        time.sleep(1.0)
    wall = time.monotonic() - t0
    green = sum(client.dag_run(EXAMPLE, r).get("state") == "success" for r in run_ids)
    lookups = [client.xcom(EXAMPLE, r, "lookup_numbers").get("lookup_ids") for r in run_ids if r not in pending]
    fp = c.fingerprint(key)
    mine = [r for r in c.all_requests(sb) if r["key"] == fp]
    per_second = Counter(int(c.parse_iso(r["time"]) or 0) for r in mine)
    return {
        "config": config,
        "runs": runs,
        "green": green,
        "lookups": len({i for ids in lookups if ids for i in ids}),
        "answers": len(mine),
        "n429": sum(1 for r in mine if r["status"] == 429),
        "peak": max(per_second.values(), default=0),
        "wall": wall,
    }


def show(cases: list[dict[str, Any]]) -> None:
    rows = []
    for config in CONFIGS:
        mine = [k for k in cases if k["config"] == config]
        if not mine:
            continue
        share = [k["n429"] / max(1, k["answers"]) for k in mine]
        rows.append(
            [
                "each host's own file (default)" if config == "default" else "one limit in Redis",
                len(mine),
                f"{sum(k['green'] for k in mine)} / {sum(k['runs'] for k in mine)}",
                f"{sum(k['lookups'] for k in mine)}",
                f"{sum(k['answers'] for k in mine):,}",
                f"{sum(k['n429'] for k in mine)} ({min(share):.1%} - {max(share):.1%} per pass)",
                f"{max(k['peak'] for k in mine)}",
                f"{c.median(k['wall'] for k in mine):.0f} s",
            ]
        )
    header = ["limiter", "passes", "runs green", "lookups", "answers", "429 (range per pass)", "peak req/s"]
    c.table(rows, [*header, "pass wall"])
    print("  the sandbox accepts 10 requests/s per key; 'peak': most requests it received in one second")


def main(args: argparse.Namespace) -> int:

    from tests.e2e._celery_stack import CeleryStack, deployment_env, private_postgres, private_redis
    from tests.e2e._stack import airflow_env, boot, finish_migrate, free_port, start_migrate

    runs, passes = (2, 1) if args.smoke else (args.runs, args.passes)
    home = Path(tempfile.mkdtemp(prefix="msgflash-bench-celery-"))
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(c.REPO / "example_dags" / f"{EXAMPLE}.py", dags)
    c.banner(
        "bench_many_hosts --stack celery: CeleryExecutor, two worker hosts + the triggerer, one key per limiter",
        airflow="Postgres, Redis broker, scheduler, triggerer, DAG processor, API server, 2 Celery workers (4 each)",
        load=f"{runs} concurrent runs of {EXAMPLE} per limiter and pass, {passes} pass(es)",
        sandbox="subprocess, pace 1 s per batch of 20, rate limit 10 req/s per key",
        airflow_home=str(home),
    )
    cases: list[dict[str, Any]] = []
    with private_postgres() as postgres, private_redis() as redis:
        sb = c.start_sandbox([c.new_key()], pace=1.0, rate_limit=10)
        port = free_port()
        env = airflow_env(
            home,
            dags,
            port,
            AIRFLOW__CORE__PARALLELISM="16",
            **deployment_env(postgres, redis),
        )
        stack = CeleryStack(home, env, port)
        try:
            finish_migrate(start_migrate(home, env), home)
            for host in ("host-a", "host-b"):
                stack.start_worker(host)
            boot(stack, [EXAMPLE], unpause=[EXAMPLE])
            stack.wait_workers()
            for i in range(passes):
                for config in CONFIGS:
                    case = _one(stack, sb, config, redis, runs)
                    c.say(
                        f"pass {i + 1}, {config}: {case['green']}/{runs} green, {case['n429']} of {case['answers']} "
                        f"answers 429, peak {case['peak']} req/s"
                    )
                    cases.append(case)
        finally:
            stack.stop()
            sb.stop()
    show(cases)
    redis_cases = [k for k in cases if k["config"] == "redis"]
    default_cases = [k for k in cases if k["config"] == "default"]

    def share(ks: list[dict[str, Any]]) -> float:
        return sum(k["n429"] for k in ks) / max(1, sum(k["answers"] for k in ks))

    ok = all(k["green"] == k["runs"] == k["lookups"] for k in cases) and share(redis_cases) <= 0.01
    c.result(
        "many_hosts_celery",
        f"default limiter {share(default_cases):.1%} 429 (peak {max(k['peak'] for k in default_cases)} req/s), "
        f"Redis {share(redis_cases):.1%} 429 (peak {max(k['peak'] for k in redis_cases)} req/s); "
        f"{sum(k['green'] for k in cases)}/{sum(k['runs'] for k in cases)} runs green",
        "Redis <= 1% 429, every run green with its own lookup",
        ok,
        args.smoke,
    )
    return 0

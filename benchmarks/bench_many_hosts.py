"""Several hosts, one key: 4 processes, each with its own temporary directory (so its own limiter file,
as 4 Celery workers or triggerers on 4 machines would have), share one API key that the sandbox limits
to 10 requests/second.

Each host runs, for ``--seconds`` (60): on an event loop (as a triggerer), pollers that GET a lookup's
progress through MsgFlashAsyncHook every 4 s, all started within the same second (the fan-out of a DAG
run), and in threads (as workers), tasks that run MsgFlashNumberLookupOperator on 20 numbers (instance,
state, health, a synchronous lookup) again and again with a pause. Every request goes through the
provider's hooks and retries (``max_retries`` 5, ``Retry-After`` honoured).

Two loads: (a) ~25 % of the key's capacity, in bursts (the pollers of all hosts fire within one
second); (b) demand about twice the capacity. Each load runs under each limiter configuration, side by
side in one run, each with a fresh key:

- ``fixed``: each host's own limiter at 10 req/s, no adaptation (the provider before AIMD);
- ``adaptive``: the default (each host's own limiter; a 429 cuts that host's limit, which grows back);
- ``redis``: one limiter shared by all hosts through Redis (``rate_limit_backend`` extra), when
  ``redis-server`` and the ``redis`` package are installed (a private server on a loopback port).

Measured from the sandbox's log (the server's view): answers, 429s, requests accepted per second over
the run; from the hosts: polls and task runs that failed (after their retries).

Goals: (a) <= 1 % answers 429, 0 failures; (b) >= 90 % of 10 req/s accepted, <= 5 % answers 429,
0 failed tasks or polls.

Usage: ``.venv/bin/python benchmarks/bench_many_hosts.py [--seconds 60] [--configs fixed,adaptive,redis]
[--smoke] [--chart FILE.png]`` (about 7 minutes; ``--smoke``: 2 hosts, load (b), 5 s, the default
configuration). ``--chart`` also draws the requests each host sent per second and the 429 answers, one panel per
load and limiter (``make charts`` draws the performance guide's).

``--stack celery [--runs 6] [--passes 2]``: the same comparison on a real CeleryExecutor Airflow with two
worker hosts (``_celery_hosts.py``: the example DAG, the default limiter vs one limit in Redis, side by side;
about 6 minutes; with ``--smoke``, 2 runs, one pass). ``benchmarks/smoke.py`` runs the synthetic mode only;
the stack itself runs in ``make test`` (tests/e2e_celery).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c
import _hosts

c.prepare_airflow_env()

LOADS = {
    # name: (pollers per host, poll interval s, tasks per host, pause between a task's runs s)
    "a": (2, 4.0, 1, 20.0),
    "b": (12, 4.0, 2, 2.0),
}
LOAD_TITLES = {"a": "(a) ~25 % of capacity, bursty", "b": "(b) demand ~2x capacity"}


def run_case(sb: Any, config: str, load: str, args: argparse.Namespace, lookups: list[str], redis_url: str) -> dict:
    key = c.new_key()
    sb.add_key(key)
    pollers, interval, tasks, pause = LOADS[load]
    spec = {
        "conn": json.loads(sb.connection_json(key=key)),
        "config": config,
        "redis_url": redis_url,
        "instance_id": sb.instance_id("sandbox-connected"),
        "lookups": lookups,
        "pollers": pollers,
        "interval": interval,
        "tasks": tasks,
        "pause": pause,
        "seconds": args.seconds,
        "policy": json.loads(args.policy) if args.policy and config == "adaptive" else None,
    }
    with tempfile.TemporaryDirectory(prefix="msgflash-bench-hosts-") as tmp:
        reports = _hosts.run_hosts(spec, args.hosts, tmp)
    start, end = reports[0]["t_start"], reports[0]["t_start"] + args.seconds
    fp = c.fingerprint(key)
    mine = [r for r in c.all_requests(sb) if r["key"] == fp]
    window = [r for r in mine if start <= (c.parse_iso(r["time"]) or 0.0) < end]
    n429 = sum(1 for r in window if r["status"] == 429)
    return {
        "config": config,
        "load": load,
        "demand": args.hosts * (pollers / interval),
        "answers": len(window),
        "n429": n429,
        "accepted_rate": (len(window) - n429) / args.seconds,
        "all_answers": len(mine),
        "all_429": sum(1 for r in mine if r["status"] == 429),
        **{
            k: sum(r[k] for r in reports)
            for k in ("polls_ok", "polls_failed", "runs_ok", "runs_failed", "cuts", "rebooks", "waits")
        },
        "errors": [e for r in reports for e in r["errors"]][:3],
        "hosts": [{"sent": r["sent"], "limited": r["limited"]} for r in reports],
    }


def judge(case: dict) -> bool:
    share = case["n429"] / max(1, case["answers"])
    failures = case["polls_failed"] + case["runs_failed"]
    if case["load"] == "a":
        return share <= 0.01 and failures == 0
    return case["accepted_rate"] >= 9.0 and share <= 0.05 and failures == 0


def show(cases: list[dict]) -> None:
    rows = []
    for k in cases:
        rows.append(
            [
                k["config"],
                LOAD_TITLES[k["load"]],
                f"{k['demand']:.0f} req/s of polls + tasks",
                f"{k['answers']:,}",
                f"{k['n429']} = {k['n429'] / max(1, k['answers']):.1%}",
                f"{k['accepted_rate']:.2f} = {k['accepted_rate'] / 10:.0%}",
                f"{k['polls_failed']} / {k['polls_ok'] + k['polls_failed']}",
                f"{k['runs_failed']} / {k['runs_ok'] + k['runs_failed']}",
                k["cuts"],
                f"{k['rebooks']} / {k['waits']}",
                "met" if judge(k) else "MISSED",
            ]
        )
    header = ["limiter", "load", "nominal demand", "answers", "429", "accepted/s", "failed polls"]
    c.table(rows, [*header, "failed task runs", "cuts", "late / waited", "goal"])
    print("  goals: (a) <= 1 % answers 429 and 0 failures; (b) >= 90 % of 10 req/s accepted, <= 5 % 429, 0 failures")
    for k in cases:
        for e in k["errors"]:
            print(f"  {k['config']} {k['load']}: {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--configs", default="fixed,adaptive,redis")
    ap.add_argument("--loads", default="a,b")
    ap.add_argument("--policy", help='AIMD variant for "adaptive", e.g. \'{"alpha": 0.1, "hold": 1.0}\'')
    ap.add_argument("--chart", metavar="FILE.png", help="also draw the requests per second of each host")
    ap.add_argument("--host-worker", help=argparse.SUPPRESS)
    ap.add_argument("--stack", choices=("synthetic", "celery"), default="synthetic", help="processes, or Celery")
    ap.add_argument("--runs", type=int, default=6, help="--stack celery: concurrent DAG runs per limiter")
    ap.add_argument("--passes", type=int, default=2, help="--stack celery: passes over both limiters")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.host_worker:
        return _hosts.host_main(args.host_worker)
    if args.stack == "celery":
        sys.path.insert(0, str(c.REPO))
        import _celery_hosts

        return _celery_hosts.main(args)
    if args.smoke:
        args.hosts, args.seconds, args.configs, args.loads = 2, 5.0, "adaptive", "b"
    c.quiet_logs()
    configs = args.configs.split(",")
    c.banner(
        "bench_many_hosts: 4 processes with their own temp dirs, one key",
        hosts=f"{args.hosts} processes, {args.seconds:.0f} s per load and limiter",
        loads="; ".join(
            f"{LOAD_TITLES[k]}: {LOADS[k][0]} pollers/host every {LOADS[k][1]:.0f} s, "
            f"{LOADS[k][2]} task(s)/host, pause {LOADS[k][3]:.0f} s"
            for k in args.loads.split(",")
        ),
        sandbox="subprocess, pace fast, rate limit 10 req/s per key",
    )
    with _hosts.maybe_redis("redis" in configs) as redis_url:
        if "redis" in configs and not redis_url:
            configs.remove("redis")
            print("   redis: not measured (needs redis-server on PATH and the redis package)")
        cases = run_all(configs, args, redis_url or "")
    show(cases)
    if args.chart:
        draw_chart(args.chart, cases, args)
    default = [k for k in cases if k["config"] == "adaptive"]
    best = [k for k in cases if k["config"] == ("redis" if redis_url else "adaptive")]
    verdict_on = "redis" if redis_url else "adaptive"
    summary = f"verdict on {verdict_on}: " + "; ".join(
        f"{k['config']} ({k['load']}) {k['n429'] / max(1, k['answers']):.1%} 429, {k['accepted_rate']:.2f} req/s, "
        f"{k['polls_failed'] + k['runs_failed']} failed"
        for k in default + [k for k in best if k not in default]
    )
    c.result(
        "many_hosts",
        summary,
        "(a) <= 1% 429, 0 failed; (b) >= 9 req/s, <= 5% 429, 0 failed",
        all(judge(k) for k in best),
        args.smoke,
    )
    return 0


CONFIG_TITLES = {
    "fixed": "each host's own limit, fixed",
    "adaptive": "own limit, adaptive (the default)",
    "redis": "one limit shared in Redis",
}


def draw_chart(path: str, cases: list[dict], args: argparse.Namespace) -> None:
    import _charts

    for k in cases:
        k["title"] = f"{LOAD_TITLES[k['load']]}\n{CONFIG_TITLES.get(k['config'], k['config'])}"
    note = f"bench_many_hosts.py, {args.hosts} hosts, {args.seconds:.0f} s per panel; " + _charts.machine_note()
    _charts.hosts_chart(path, cases, args.seconds, 10.0, note)


def run_all(configs: list[str], args: argparse.Namespace, redis_url: str) -> list[dict]:
    create_key = c.new_key()
    sb = c.start_sandbox([create_key], pace="fast", rate_limit=10)
    try:
        sb.set_faults(rate_limit=0)
        lookups = _hosts.create_lookups(sb, create_key, 8)
        sb.set_faults(rate_limit=10)
        cases = []
        for load in args.loads.split(","):
            for config in configs:
                c.say(f"load {load}, limiter {config}: {args.hosts} hosts for {args.seconds:.0f} s")
                cases.append(run_case(sb, config, load, args, lookups, redis_url))
        return cases
    finally:
        sb.stop()


if __name__ == "__main__":
    sys.exit(main())

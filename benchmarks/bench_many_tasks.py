"""One key, many tasks: 20 worker processes run MsgFlashNumberLookupOperator at once on one API key,
each with extra traffic beside it, so that demand is well above the key's 10 requests/second.

Each worker process (multiprocessing, fork) runs ``MsgFlashNumberLookupOperator(...).execute(context)``
(``deferrable=False``: it waits in the worker with the lookup trigger's schedule) with a minimal fake
context, on a lookup of 400 numbers; beside it, a thread sends back-to-back extra requests through
its own MsgFlashHook on the same key (instance state, instance health, small synchronous lookups of 10
numbers, instance list) until the operator is done and at least ``--load-seconds`` have passed. All 20
processes share the key's limiter through the provider's host-wide limiter file. The sandbox (own process,
REALISTIC pace: 1 s per batch of 20) enforces 10 req/s per key.

Busy period: from the moment all 20 processes are sending to the moment the first one stops sending
(demand is above 10 req/s all along). Achieved rate: requests the sandbox accepted (not 429) in that
period, from its arrival log, divided by its length.

Goals: achieved rate >= 95 % of 10 req/s; 0 failed tasks (each returns ``status: done`` with every
number accounted for). Also printed: responses 429 (absorbed by the hooks' retries) and the busiest second.

Usage: ``.venv/bin/python benchmarks/bench_many_tasks.py [--workers 20] [--numbers 400] [--load-seconds 60]``
(about 1.5 minutes; ``--smoke``: 2 workers, 100 numbers, 3 s of extra load, a few seconds).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

c.prepare_airflow_env()

CONN_ID = "bench_tasks"


def worker(
    idx: int, instance_id: str, n_numbers: int, load_seconds: float, barrier: Any, out: Any, hard_deadline: float
) -> None:
    c.quiet_logs()
    c.allow_direct_execute()
    from airflow_provider_msgflash.exceptions import MsgFlashError
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
    from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

    nums = c.numbers(n_numbers, start=idx * 100_000)
    op = MsgFlashNumberLookupOperator(
        task_id=f"lookup_{idx}",
        instance_id=instance_id,
        numbers=nums,
        msgflash_conn_id=CONN_ID,
        deferrable=False,
        timeout=300,
    )
    extra_hook = MsgFlashHook(CONN_ID)
    extra_hook.settings  # noqa: B018 - read the connection before the start line
    op_done = threading.Event()
    report: dict[str, Any] = {"idx": idx, "extra_ok": 0, "extra_failed": 0, "errors": []}

    def extra_load() -> None:
        small = c.numbers(10, start=idx * 100_000 + 50_000)
        calls = (
            lambda: extra_hook.get_instance_state(instance_id),
            lambda: extra_hook.get_instance_health(instance_id),
            lambda: extra_hook.create_number_lookup(instance_id, small),
            extra_hook.list_instances,
        )
        i = 0
        while (not op_done.is_set() or time.time() < report["start"] + load_seconds) and time.time() < hard_deadline:
            try:
                calls[i % len(calls)]()
                report["extra_ok"] += 1
            except MsgFlashError as e:
                report["extra_failed"] += 1
                report["errors"].append(f"extra: {e}"[:200])
            i += 1
        report["load_end"] = time.time()

    barrier.wait(timeout=120)
    report["start"] = time.time()
    load = threading.Thread(target=extra_load, daemon=True)
    load.start()
    try:
        summary = op.execute(c.fake_context())
        counts = summary["counts"]
        report["ok"] = summary["status"] == "done" and counts["checked"] == counts["requested"] == n_numbers
        report["counts"] = counts
    except Exception as e:
        report["ok"] = False
        report["errors"].append("task: " + "".join(traceback.format_exception_only(type(e), e)).strip()[:500])
    report["op_end"] = time.time()
    op_done.set()
    load.join(timeout=max(1.0, hard_deadline - time.time()))
    lim = extra_hook.limiter
    report["limiter_waits"] = lim.waits
    report["limiter_waited_s"] = lim.waited_seconds
    report["limiter_rebooks"], report["limiter_cuts"] = lim.rebooks, lim.cuts
    out.put(report)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--numbers", type=int, default=400)
    ap.add_argument("--load-seconds", type=float, default=60.0)
    ap.add_argument("--pace", default="realistic")
    ap.add_argument("--budget", type=float, default=420.0)
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.workers, args.numbers, args.load_seconds, args.pace, args.budget = 2, 100, 3.0, "fast", 120.0
    pace: Any = args.pace if args.pace in ("realistic", "fast", "instant") else float(args.pace)

    c.quiet_logs()
    # Loaded before forking, so that each worker starts at once.
    import airflow_provider_msgflash.operators.msgflash
    import airflow_provider_msgflash.triggers.msgflash  # noqa: F401

    key = c.new_key()
    c.banner(
        "bench_many_tasks: 20 worker processes, one key",
        workers=f"{args.workers} processes, each MsgFlashNumberLookupOperator.execute() on {args.numbers} numbers "
        "(deferrable=False) + a thread of back-to-back extra GETs / small sync lookups",
        sandbox=f"subprocess, pace {pace} (s per batch of 20), rate limit 10 req/s per key",
    )
    sb = c.start_sandbox([key], pace=pace, rate_limit=10)
    try:
        c.set_connection(CONN_ID, sb, key)
        iid = sb.instance_id("sandbox-connected")
        ctx = mp.get_context("fork")
        barrier = ctx.Barrier(args.workers)
        out = ctx.Queue()
        hard_deadline = time.time() + args.budget
        procs = [
            ctx.Process(
                target=worker,
                args=(i, iid, args.numbers, args.load_seconds, barrier, out, hard_deadline),
                daemon=True,
            )
            for i in range(args.workers)
        ]
        t0 = time.time()
        for p in procs:
            p.start()
        reports = []
        for _ in procs:
            reports.append(out.get(timeout=max(1.0, hard_deadline + 30 - time.time())))
        for p in procs:
            p.join(timeout=30)
        c.say(f"all {len(reports)} workers reported after {time.time() - t0:.0f} s")
        log = c.all_requests(sb)
        state = sb.state()
    finally:
        sb.stop()

    fp = c.fingerprint(key)
    mine = [(c.parse_iso(r["time"]) or 0.0, r) for r in log if r["key"] == fp]
    busy_start = max(r["start"] for r in reports)
    busy_end = min(r["load_end"] for r in reports)
    in_busy = [r for t, r in mine if busy_start <= t < busy_end]
    accepted = sum(1 for r in in_busy if r["status"] != 429)
    span = busy_end - busy_start
    rate = accepted / span if span > 0 else float("nan")
    n429 = sum(1 for _, r in mine if r["status"] == 429)
    ts = sorted(t for t, r in mine if r["status"] != 429)
    busiest, j = 0, 0
    for i, t in enumerate(ts):
        while ts[j] <= t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    failed = [r for r in reports if not r.get("ok")]
    extra_ok = sum(r["extra_ok"] for r in reports)
    extra_failed = sum(r["extra_failed"] for r in reports)
    total_time = max(r["op_end"] for r in reports) - min(r["start"] for r in reports)
    op_times = sorted(r["op_end"] - r["start"] for r in reports)

    rows = [
        ["tasks succeeded (all numbers accounted for)", f"{len(reports) - len(failed)} of {args.workers}", "all"],
        [
            "busy period (all workers sending)",
            f"{span:.1f} s; {accepted:,} requests accepted",
            "-",
        ],
        ["achieved rate in the busy period", f"{rate:.2f} req/s = {rate / 10:.1%} of 10 req/s", ">= 95 %"],
        ["most requests accepted in any 1 s", busiest, "<= 10"],
        ["responses 429 (absorbed by retries)", f"{n429} (sandbox total {state['total_429']})", "-"],
        [
            "limiter: permits that waited / booked again / cuts",
            f"{sum(r['limiter_waits'] for r in reports):,} / {sum(r['limiter_rebooks'] for r in reports):,} / "
            f"{sum(r['limiter_cuts'] for r in reports)}",
            "-",
        ],
        ["extra requests ok / failed", f"{extra_ok:,} / {extra_failed}", "-"],
        [
            "task durations min / median / max",
            f"{op_times[0]:.0f} / {c.median(op_times):.0f} / {op_times[-1]:.0f} s (all requests: {total_time:.0f} s)",
            "-",
        ],
    ]
    c.table(rows, ["figure", "measured", "goal"])
    for r in failed[:5]:
        print(f"  worker {r['idx']} failed: {r['errors'][:2]}")
    errors = [e for r in reports for e in r["errors"] if e.startswith("extra")]
    for e in errors[:3]:
        print(f"  {e}")
    ok = not failed and rate >= 9.5
    c.result(
        "many_tasks",
        f"{rate:.2f} req/s = {rate / 10:.1%} of 10 req/s over {span:.0f} s busy, {len(failed)} failed tasks, "
        f"{n429} x 429",
        ">= 95% of 10 req/s, 0 failed",
        ok,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

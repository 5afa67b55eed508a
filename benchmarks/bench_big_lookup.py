"""Big lookups: 100,000 numbers through one MsgFlashNumberLookupOperator (deferrable=False, result_path set).

The operator splits the numbers into 10 lookups of 10,000, submits them as the key's rate limit allows,
waits in the worker with the lookup trigger's adaptive schedule, then fetches each lookup's result and
streams it to a JSON Lines file. The sandbox (own process) runs at the REALISTIC pace by default (1 s per
batch of 20: each 10,000-number lookup takes ~501 s, the ten run side by side), rate limit 10 req/s.

Measured in one run:
- wall time of ``execute()`` vs the sandbox's own processing time for the same numbers (earliest
  ``createdAt`` to latest ``completedAt`` of the 10 lookups). Goal: <= 1.1x.
- peak memory of the task: tracemalloc peak during ``execute()`` and the peak RSS growth (sampled every
  50 ms, and ``ru_maxrss``), both beyond what the process held before ``execute()`` (the input list of
  100,000 numbers is built before and not counted), in bytes per number. Goal: the task streams, i.e.
  its tracemalloc peak stays below ONE copy of the 100,000 results held in memory as Python strings
  (the reference is measured here: the numbers as ``str`` objects in a list); a task that collected all
  results before writing them would need at least that. A small warm-up lookup runs first (at a quick
  pace, through another key) so that modules loaded on first use are not counted as per-number memory.

Usage: ``.venv/bin/python benchmarks/bench_big_lookup.py [--numbers 100000] [--pace realistic]``
(about 9 minutes at the realistic pace; ``--pace 0.5`` halves it, and the output says which pace ran;
``--smoke``: 120 numbers at 0.005 s per batch, a few seconds).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

c.prepare_airflow_env()


def reference_bytes(nums: list[str]) -> int:
    """Memory of one full copy of the results: every number as a str, in a list."""
    return sum(sys.getsizeof(n) for n in nums) + 8 * len(nums) + 56


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=100_000)
    ap.add_argument("--pace", default="realistic", help="sandbox pace: realistic (1 s per 20), fast, or seconds")
    ap.add_argument("--timeout", type=float, default=570.0, help="the operator's timeout (seconds)")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.numbers, args.pace, args.timeout = 120, "0.005", 120.0
    pace: Any = args.pace if args.pace in ("realistic", "fast", "instant") else float(args.pace)

    c.quiet_logs()
    c.allow_direct_execute()
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
    from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

    key, reader_key = c.new_key(), c.new_key()
    c.banner(
        "bench_big_lookup: 100,000 numbers through one operator",
        numbers=f"{args.numbers:,} (split into lookups of 10,000), deferrable=False, result_path set",
        sandbox=f"subprocess, pace {pace} (s per batch of 20), rate limit 10 req/s per key",
    )
    out_dir = tempfile.mkdtemp(prefix="msgflash-bench-big-")
    result_path = os.path.join(out_dir, "results.jsonl")
    nums = c.numbers(args.numbers)
    ref = reference_bytes(nums)
    sb = c.start_sandbox([key, reader_key], pace=pace, rate_limit=10)
    try:
        c.set_connection("bench_big", sb, key)
        c.set_connection("bench_reader", sb, reader_key)
        op = MsgFlashNumberLookupOperator(
            task_id="big_lookup",
            instance_id=sb.instance_id("sandbox-connected"),
            numbers=nums,
            msgflash_conn_id="bench_big",
            deferrable=False,
            result_path=result_path,
            timeout=args.timeout,
            xcom_numbers_limit=1000,
        )
        ctx = c.fake_context()
        # Warm-up (not measured): one small lookup through the same path at a quick pace, so that the
        # modules the task loads on first use (aiohttp for the in-worker wait, ...) are loaded before
        # the measurement: they are a fixed cost, not memory that grows with the numbers.
        sb.set_faults(pace=0.05)
        MsgFlashNumberLookupOperator(
            task_id="warm_up",
            instance_id=sb.instance_id("sandbox-connected"),
            numbers=c.numbers(150, prefix="+41796"),
            msgflash_conn_id="bench_reader",
            deferrable=False,
            result_path=os.path.join(out_dir, "warm_up.jsonl"),
        ).execute(c.fake_context())
        sb.set_faults(pace=pace)

        gc.collect()
        rss0 = c.rss_bytes()
        maxrss0 = c.maxrss_bytes()
        rss_peak = [rss0]
        sampling = threading.Event()

        def sample_rss() -> None:
            while not sampling.wait(0.05):
                rss_peak[0] = max(rss_peak[0], c.rss_bytes())

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        tracemalloc.start()
        c.say("execute() starts")
        t0 = time.time()
        summary = op.execute(ctx)
        wall = time.time() - t0
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        sampling.set()
        sampler.join()
        maxrss1 = c.maxrss_bytes()
        c.say(f"execute() returned after {wall:.1f} s")

        reader = MsgFlashHook("bench_reader")
        progress = [reader.get_number_lookup_progress(lid) for lid in summary["lookup_ids"]]
        created = min(c.parse_iso(p["createdAt"]) or 0.0 for p in progress)
        completed = max(c.parse_iso(p["completedAt"]) or 0.0 for p in progress)
        sandbox_span = completed - created
        log = c.all_requests(sb)
    finally:
        sb.stop()

    fp = c.fingerprint(key)
    mine = [r for r in log if r["key"] == fp]
    by_route: dict[str, int] = {}
    for r in mine:
        name = f"{r['method']} {r['route']}"
        by_route[name] = by_route.get(name, 0) + 1
    lines = 0
    statuses: dict[str, int] = {}
    with open(result_path, encoding="utf-8") as f:
        for line in f:
            lines += 1
            st = json.loads(line)["status"]
            statuses[st] = statuses.get(st, 0) + 1
    counts = summary["counts"]
    correct = (
        summary["status"] == "done"
        and lines == args.numbers
        and counts["checked"] == args.numbers
        and statuses.get("on_whatsapp", 0) == sum(1 for n in nums if n[-1] in "02468")
    )
    ratio = wall / sandbox_span
    per_number = traced_peak / args.numbers
    streams = traced_peak < ref
    ok = correct and ratio <= 1.1 and streams
    rows = [
        ["lookups", f"{len(summary['lookup_ids'])} ({', '.join(f'{k}: {v}' for k, v in sorted(by_route.items()))})"],
        ["execute() wall time", f"{wall:.1f} s"],
        ["sandbox processing (first createdAt -> last completedAt)", f"{sandbox_span:.1f} s"],
        ["wall / sandbox", f"{ratio:.3f}x (goal <= 1.1x)"],
        ["result file", f"{lines:,} lines ({os.path.getsize(result_path) / 2**20:.1f} MB); {statuses}"],
        [
            "tracemalloc peak during execute()",
            f"{traced_peak / 2**20:.1f} MB = {per_number:.0f} B/number",
        ],
        [
            "peak RSS growth (sampled every 50 ms)",
            f"{(rss_peak[0] - rss0) / 2**20:.1f} MB = {(rss_peak[0] - rss0) / args.numbers:.0f} B/number",
        ],
        [
            "ru_maxrss after - RSS before",
            f"{(maxrss1 - rss0) / 2**20:.1f} MB (ru_maxrss before: {(maxrss0 - rss0) / 2**20:+.1f} MB over RSS)",
        ],
        [
            "reference: one copy of all results as str",
            f"{ref / 2**20:.1f} MB = {ref / args.numbers:.0f} B/number (goal: peak below this)",
        ],
        ["counts", f"{counts}"],
    ]
    c.table(rows, ["figure", "measured"])
    if pace != "realistic":
        print(f"  NOTE: sandbox pace {pace} s per batch of 20, not the realistic 1 s.")
    c.result(
        "big_lookup",
        f"wall {wall:.0f} s vs sandbox {sandbox_span:.0f} s = {ratio:.3f}x; peak {traced_peak / 2**20:.1f} MB "
        f"traced ({per_number:.0f} B/number) vs {ref / args.numbers:.0f} B/number for one copy of the results; "
        f"{'correct' if correct else 'WRONG RESULTS'} (pace {pace})",
        "<= 1.1x and peak < one copy of the results",
        ok,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One key, many triggers: 1,000 MsgFlashLookupTrigger runs at once in one event loop, polling through
one API key that the sandbox limits to 10 requests/second.

Set-up (not measured): 1,000 async lookups of 100 numbers are created first through a separate creation
key with the sandbox's rate limit switched off by its admin API (``set_faults(rate_limit=0)``) for the
creation only; the limit is set back to 10 req/s before the first trigger starts. The sandbox runs at
the REALISTIC pace (1 s per batch of 20: each lookup takes ~6 s), in its own process.

Then 1,000 triggers (each following one lookup, ``submitted_at`` = its creation time) run in one
asyncio loop, as in a triggerer, with a lag sampler (sleeps 10 ms, records the overshoot) and an RSS
sampler beside them.

Goals: every event ``success`` with ``checkedCount == requestedCount``; 0 responses 429 on the polling
key (sandbox log); event-loop lag p99 <= 100 ms; memory per trigger <= 50 KB beyond the baseline
(peak RSS during the run minus RSS before the triggers were created, / 1,000). A second figure,
tracemalloc's count of the memory held by 1,000 triggers waiting for their first poll, is printed for
reference.

Where a burst comes from: the time each permit was granted is recorded client-side (the limiter's
clock) and compared with the sandbox's arrival log: the most requests in any second as sent and as
received, and the limiter's late wake-ups (waiters that queued again instead of sending late). If the
client never sends more than 10 in a second but the server counts 11, the transport or the sandbox
bunched them; if the client does, the limiter did.

Usage: ``.venv/bin/python benchmarks/bench_many_triggers.py [--triggers 1000] [--numbers 100] [--smoke]``
(about 2-3 minutes; ``--smoke``: 20 triggers at a fast pace, a few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

c.prepare_airflow_env()

LAG_SLEEP = 0.010
PROGRESS_ROUTE = "/api/v1/number-lookups/{id}/progress"


async def first_event(trigger: Any) -> dict[str, Any]:
    agen = trigger.run()
    try:
        event = await agen.__anext__()
    finally:
        await agen.aclose()
    return dict(event.payload)


def record_grants(api_key: str) -> list[float]:
    """Record when the polling key's limiter grants each permit (its own clock), as the hooks use it."""
    from airflow_provider_msgflash.ratelimit import limiter_for

    lim = limiter_for(api_key, 10)
    grants: list[float] = []
    original = lim.acquire_async

    async def recording() -> Any:
        permit = await original()
        grants.append(permit.at)
        return permit

    lim.acquire_async = recording  # type: ignore[method-assign]
    return grants


def busiest_second(times: list[float]) -> int:
    """The most of ``times`` (seconds) in any one-second window."""
    ts, best, j = sorted(times), 0, 0
    for i, t in enumerate(ts):
        while ts[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


async def run_all(lookups: list[tuple[str, float, int]], conn_id: str, budget: float) -> dict[str, Any]:
    from airflow_provider_msgflash.hooks.msgflash import close_shared_session
    from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger

    loop = asyncio.get_running_loop()
    lags: list[float] = []
    rss_peak = [c.rss_bytes()]
    stop = asyncio.Event()

    async def sampler() -> None:
        i = 0
        while not stop.is_set():
            t = loop.time()
            await asyncio.sleep(LAG_SLEEP)
            lags.append(loop.time() - t - LAG_SLEEP)
            i += 1
            if i % 10 == 0:
                rss_peak[0] = max(rss_peak[0], c.rss_bytes())

    sampler_task = asyncio.ensure_future(sampler())
    await asyncio.sleep(0.5)  # a few idle samples first
    idle_lags = list(lags)
    t0 = time.time()
    tasks = [
        asyncio.ensure_future(
            first_event(
                MsgFlashLookupTrigger(
                    lookup_ids=[lid], msgflash_conn_id=conn_id, submitted_at=submitted, requested=[size]
                )
            )
        )
        for lid, submitted, size in lookups
    ]
    done, pending = await asyncio.wait(tasks, timeout=budget)
    elapsed = time.time() - t0
    for t in pending:
        t.cancel()
    stop.set()
    await sampler_task
    await close_shared_session()
    events = [t.result() if not t.exception() else {"status": f"exception {t.exception()!r}"} for t in done]
    return {
        "events": events,
        "pending": len(pending),
        "elapsed": elapsed,
        "lags": lags[len(idle_lags) :],
        "idle_lags": idle_lags,
        "rss_peak": rss_peak[0],
    }


async def first_event_warmup(lookup_id: str) -> None:
    from airflow_provider_msgflash.hooks.msgflash import close_shared_session
    from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger

    await first_event(MsgFlashLookupTrigger(lookup_ids=[lookup_id], msgflash_conn_id="bench_create", requested=[1]))
    await close_shared_session()


async def waiting_memory(n: int, conn_id: str) -> float:
    """tracemalloc: bytes held per trigger while n triggers wait for their first poll (no network)."""
    import tracemalloc

    from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    now = time.time()
    tasks = [
        asyncio.ensure_future(
            first_event(
                MsgFlashLookupTrigger(
                    lookup_ids=[f"00000000-0000-4000-8000-{i:012d}"],
                    msgflash_conn_id=conn_id,
                    submitted_at=now,
                    requested=[10_000],  # first poll ~125 s away: all of them wait
                )
            )
        )
        for i in range(n)
    ]
    for _ in range(5):
        await asyncio.sleep(0.05)
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return held / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triggers", type=int, default=1000)
    ap.add_argument("--numbers", type=int, default=100, help="numbers per lookup (100 or more: async)")
    ap.add_argument("--pace", default="realistic")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds allowed for the triggers")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.triggers, args.pace, args.budget = 20, "fast", 60.0
    n = args.triggers
    pace: Any = args.pace if args.pace in ("realistic", "fast", "instant") else float(args.pace)

    c.quiet_logs()
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    poll_key, create_key = c.new_key(), c.new_key()
    c.banner(
        "bench_many_triggers: 1,000 triggers, one key, one event loop",
        triggers=f"{n:,}, each following one lookup of {args.numbers} numbers",
        sandbox=f"subprocess, pace {pace} (s per batch of 20), rate limit 10 req/s per key",
        creation="separate key, sandbox rate limit switched off (admin API) during creation only",
    )
    sb = c.start_sandbox([poll_key, create_key], pace=pace, rate_limit=10)
    try:
        c.set_connection("bench_poll", sb, poll_key)
        c.set_connection("bench_create", sb, create_key, requests_per_second=0)
        iid = sb.instance_id("sandbox-connected")
        sb.set_faults(rate_limit=0)
        creator = MsgFlashHook("bench_create")
        lookups = []
        t = time.time()
        for i in range(n):
            submitted = time.time()
            answer = creator.create_number_lookup(iid, c.numbers(args.numbers, start=i * args.numbers))
            assert answer["mode"] == "async", answer
            lookups.append((answer["lookupId"], submitted, args.numbers))
        creator.close()
        sb.set_faults(rate_limit=10)
        c.say(f"created {n:,} lookups in {time.time() - t:.1f} s; rate limit back to 10 req/s; starting triggers")

        # Warm-up through the creation key (not counted): imports aiohttp and the async connection path,
        # so that the baseline below holds what any triggerer has loaded before its first trigger.
        asyncio.run(first_event_warmup(lookups[0][0]))
        gc.collect()
        rss_base = c.rss_bytes()
        grants = record_grants(poll_key)
        out = asyncio.run(run_all(lookups, "bench_poll", args.budget))
        c.say(f"triggers finished in {out['elapsed']:.1f} s")
        tm_per_trigger = asyncio.run(waiting_memory(n, "bench_poll"))

        log = c.all_requests(sb)
        fp = c.fingerprint(poll_key)
        polls = [r for r in log if r["key"] == fp]
        n429 = sum(1 for r in polls if r["status"] == 429)
        progress_calls = sum(1 for r in polls if r["route"] == PROGRESS_ROUTE)
        other = sorted({f"{r['method']} {r['route']} {r['status']}" for r in polls if r["route"] != PROGRESS_ROUTE})
        state = sb.state()
    finally:
        sb.stop()

    events = out["events"]
    good = 0
    bad_examples = []
    for ev in events:
        lk = (ev.get("lookups") or [{}])[0]
        if ev.get("status") == "success" and lk.get("checkedCount") == lk.get("requestedCount") == args.numbers:
            good += 1
        elif len(bad_examples) < 3:
            bad_examples.append(ev)
    polls_per_trigger = [ev.get("polls", 0) for ev in events]
    ts = sorted(c.parse_iso(r["time"]) or 0.0 for r in polls)
    span = ts[-1] - ts[0] if ts else 0.0
    busiest = busiest_second(ts)  # as the sandbox received them (its limit: 10)
    from airflow_provider_msgflash.ratelimit import limiter_for

    lim = limiter_for(poll_key, 10)
    lag_p50, lag_p99, lag_max = (c.percentile(out["lags"], p) for p in (50, 99, 100))
    per_trigger = (out["rss_peak"] - rss_base) / n

    rows = [
        ["triggers finished / successful", f"{len(events):,} / {good:,} (pending {out['pending']})", f"all {n:,}"],
        ["wall time of the triggers", f"{out['elapsed']:.1f} s", "-"],
        [
            "progress calls (polling key)",
            f"{progress_calls:,} = {progress_calls / n:.2f} per trigger (max {max(polls_per_trigger)})",
            "-",
        ],
        [
            "requests on the polling key",
            f"{len(polls):,} in {span:.0f} s; at most {busiest} in any 1 s as received (sandbox log)",
            "<= 10 in any 1 s",
        ],
        [
            "  as sent (limiter's grants, client-side)",
            f"{len(grants):,} permits; at most {busiest_second(grants)} in any 1 s; {lim.rebooks} bookings redone "
            f"(late, or dropped by a cut), {lim.cuts} cuts",
            "<= 10 in any 1 s",
        ],
        ["responses 429 (polling key; sandbox total)", f"{n429} ({state['total_429']})", "0"],
        [
            "event-loop lag p50 / p99 / max",
            f"{lag_p50 * 1e3:.1f} / {lag_p99 * 1e3:.1f} / {lag_max * 1e3:.1f} ms ({len(out['lags']):,} samples)",
            "p99 <= 100 ms",
        ],
        ["  idle lag p99 (before the triggers)", f"{c.percentile(out['idle_lags'], 99) * 1e3:.1f} ms", "-"],
        [
            "memory per trigger (peak RSS - baseline)",
            f"{per_trigger / 1024:.1f} KB ({(out['rss_peak'] - rss_base) / 2**20:.1f} MB / {n:,})",
            "<= 50 KB",
        ],
        ["  tracemalloc, per waiting trigger", f"{tm_per_trigger / 1024:.1f} KB", "-"],
    ]
    c.table(rows, ["figure", "measured", "goal"])
    if other:
        print(f"  other requests on the polling key: {', '.join(other)}")
    for ev in bad_examples:
        print(f"  not successful: {str(ev)[:300]}")
    ok = good == n and n429 == 0 and lag_p99 <= 0.100 and per_trigger <= 50 * 1024
    c.result(
        "many_triggers",
        f"{good}/{n} correct, {n429} x 429, lag p99 {lag_p99 * 1e3:.0f} ms, {per_trigger / 1024:.1f} KB/trigger "
        f"(pace {pace}, {out['elapsed']:.0f} s)",
        "all correct, 0 x 429, p99 <= 100 ms, <= 50 KB/trigger",
        ok,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

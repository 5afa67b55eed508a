"""Polling cost: MsgFlashLookupTrigger's adaptive schedule vs a fixed 2-second poller on the same lookups.

Three async lookups (250, 2,000 and 10,000 numbers) run concurrently in a sandbox at the REALISTIC pace
(1 s per batch of 20; the 10,000-number lookup takes ~501 s). Each lookup is followed at the same time,
in one event loop (as in the triggerer), by:

- ``ours``: :class:`MsgFlashLookupTrigger` (the provider as it is),
- ``fixed``: a plain aiohttp loop polling ``/progress`` every 2 s (what the API docs suggest).

Each follower uses its own API key, so the sandbox's request log tells their calls apart (client-side
counts are printed next to the server's). Lateness = local time at which a follower saw ``done`` minus
the lookup's ``completedAt`` (the sandbox runs on this machine's clock).

Goals per size: ours <= 0.3x the fixed poller's progress calls; lateness <= max(2 s, 10 % of the
lookup's createdAt->completedAt duration).

Usage: ``.venv/bin/python benchmarks/bench_polling.py [--sizes 250,2000,10000] [--pace realistic] [--smoke]``
(about 8.5 minutes; ``--smoke``: 100 and 300 numbers at 0.05 s per batch, a few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

c.prepare_airflow_env()

TERMINAL = ("done", "failed", "cancelled")
FIXED_INTERVAL = 2.0


# ---------------------------------------------------------------------------------------------------
async def follow_with_trigger(lookup_id: str, conn_id: str, submitted_at: float, requested: int) -> dict[str, Any]:
    from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger

    trigger = MsgFlashLookupTrigger(
        lookup_ids=[lookup_id], msgflash_conn_id=conn_id, submitted_at=submitted_at, requested=[requested]
    )
    agen = trigger.run()
    try:
        event = await agen.__anext__()
    finally:
        await agen.aclose()
    return {"noticed": time.time(), "calls": event.payload["polls"], "status": event.payload["status"]}


async def follow_fixed(session: Any, url: str, headers: dict[str, str], deadline: float) -> dict[str, Any]:
    """Poll every 2 s on a fixed clock until the lookup is terminal."""
    start = time.monotonic()
    calls = errors = 0
    for i in range(1, 100_000):
        await asyncio.sleep(max(0.0, start + i * FIXED_INTERVAL - time.monotonic()))
        if time.time() > deadline:
            raise TimeoutError("fixed poller: deadline passed")
        calls += 1
        async with session.get(url, headers=headers) as resp:
            body = await resp.json()
        if resp.status != 200:
            errors += 1
            continue
        data = body["data"]
        if data["status"] in TERMINAL:
            return {"noticed": time.time(), "calls": calls, "status": data["status"], "errors": errors}
    raise RuntimeError("unreachable")


async def run_followers(
    sb: Any, lookups: list[dict[str, Any]], keys: dict[str, str], budget: float
) -> dict[tuple[str, str], dict[str, Any]]:
    import aiohttp

    from airflow_provider_msgflash.hooks.msgflash import close_shared_session

    deadline = time.time() + budget
    results: dict[tuple[str, str], dict[str, Any]] = {}
    async with aiohttp.ClientSession() as session:
        tasks: dict[asyncio.Task[Any], tuple[str, str]] = {}
        for lk in lookups:
            lid = lk["id"]
            tasks[asyncio.ensure_future(follow_with_trigger(lid, "bench_ours", lk["submitted_at"], lk["size"]))] = (
                lid,
                "ours",
            )
            url = f"{sb.api_url}/number-lookups/{lid}/progress"
            tasks[asyncio.ensure_future(follow_fixed(session, url, {"x-api-key": keys["fixed"]}, deadline))] = (
                lid,
                "fixed",
            )
        done, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - time.time()))
        for t in pending:
            t.cancel()
        for t in done:
            results[tasks[t]] = t.result()
        if pending:
            raise TimeoutError(f"{len(pending)} follower(s) had not finished after {budget:.0f} s")
    await close_shared_session()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="250,2000,10000")
    ap.add_argument("--pace", default="realistic", help="sandbox pace: realistic (1 s per 20), fast, or seconds")
    ap.add_argument("--budget", type=float, default=570.0, help="seconds allowed for following the lookups")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.pace, args.budget = "100,300", "0.05", 60.0
    sizes = [int(s) for s in args.sizes.split(",")]
    pace: Any = args.pace if args.pace in ("realistic", "fast", "instant") else float(args.pace)

    c.quiet_logs()
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    keys = {name: c.new_key() for name in ("ours", "fixed", "reader")}
    c.banner(
        "bench_polling: adaptive trigger vs fixed 2 s poller",
        sizes=", ".join(f"{s:,}" for s in sizes),
        sandbox=f"pace {pace} (s per batch of 20), rate limit 10 req/s per key, one key per follower",
    )
    sb = c.start_sandbox(list(keys.values()), pace=pace, rate_limit=10)
    try:
        for name in ("ours", "reader"):
            c.set_connection(f"bench_{name}", sb, keys[name])
        iid = sb.instance_id("sandbox-connected")
        hook = MsgFlashHook("bench_ours")
        lookups = []
        for i, size in enumerate(sizes):
            submitted_at = time.time()
            answer = hook.create_number_lookup(iid, c.numbers(size, start=i * 100_000))
            lookups.append({"id": answer["lookupId"], "size": size, "submitted_at": submitted_at})
        c.say(f"submitted {len(lookups)} lookups; following them (the largest takes ~{max(sizes) / 20:.0f} s)")
        t0 = time.time()
        res = asyncio.run(run_followers(sb, lookups, keys, args.budget))
        c.say(f"all followers done after {time.time() - t0:.0f} s")

        reader = MsgFlashHook("bench_reader")
        log = c.all_requests(sb)
        fps = {name: c.fingerprint(k) for name, k in keys.items()}
        rows = []
        ok_all = True
        summary = []
        for lk in lookups:
            lid = lk["id"]
            p = reader.get_number_lookup_progress(lid)
            created, completed = c.parse_iso(p["createdAt"]), c.parse_iso(p["completedAt"])
            assert created is not None and completed is not None and p["status"] == "done", p
            duration = completed - created
            goal_late = max(2.0, 0.1 * duration)
            srv = {
                who: sum(
                    1
                    for r in log
                    if r["route"] == "/api/v1/number-lookups/{id}/progress"
                    and lid in r["path"]
                    and r["key"] == fps[who]
                )
                for who in ("ours", "fixed")
            }
            late = {who: res[(lid, who)]["noticed"] - completed for who in ("ours", "fixed")}
            calls = {who: res[(lid, who)]["calls"] for who in ("ours", "fixed")}
            ratio = srv["ours"] / srv["fixed"]
            ok = ratio <= 0.3 and late["ours"] <= goal_late and res[(lid, "ours")]["status"] == "success"
            ok_all &= ok
            rows.append(
                [
                    f"{lk['size']:,}",
                    f"{duration:.1f} s",
                    f"{srv['fixed']} ({calls['fixed']})",
                    f"{srv['ours']} ({calls['ours']})",
                    f"{ratio:.2f}x",
                    f"{late['fixed']:.2f} s",
                    f"{late['ours']:.2f} s",
                    f"{goal_late:.1f} s",
                    "PASS" if ok else "MISS",
                ]
            )
            summary.append(f"{lk['size']}: {ratio:.2f}x calls, late {late['ours']:.1f}/{goal_late:.0f} s")
        print()
        c.table(
            rows,
            [
                "numbers",
                "duration",
                "fixed calls (client)",
                "ours calls (client)",
                "ours/fixed",
                "fixed late",
                "ours late",
                "goal late",
                "ours",
            ],
        )
        print(
            "  calls: progress GETs counted by the sandbox (client-side count in brackets). The lookup "
            "operator adds one\n  progress GET of its own before deferring (poll once before deferring), "
            "not counted here for either side."
        )
    finally:
        sb.stop()
    c.result(
        "polling",
        "; ".join(summary),
        "<= 0.3x calls and late <= max(2 s, 10% of duration), each size",
        ok_all,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

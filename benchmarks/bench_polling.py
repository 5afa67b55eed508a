"""Polling cost: MsgFlashLookupTrigger's adaptive schedule vs a fixed 2-second poller on the same lookups,
under each sandbox dialect (docs/sandbox.md: the undocumented answers in other shapes, such as
``updatedAt`` being the time of the read, or the server clock 7 minutes ahead or behind).

For each dialect, a sandbox of its own (its own process) at the REALISTIC pace (1 s per batch of 20; the
10,000-number lookup takes ~501 s) runs three async lookups (250, 2,000 and 10,000 numbers). All
dialects run at the same time, and each lookup is followed, in one event loop (as in the triggerer), by:

- ``ours``: :class:`MsgFlashLookupTrigger` (the provider as it is),
- ``fixed``: a plain aiohttp loop polling ``/progress`` every 2 s (what the API docs suggest),

both starting as soon as the lookup is submitted. Each follower uses its own API key, so the sandbox's
request log tells their calls apart (client-side counts are printed next to the server's). Lateness =
local time at which a follower saw ``done`` minus the lookup's true completion time (from the sandbox's
admin state, which the clock dialects do not shift; the sandbox runs on this machine's clock).

Goals per dialect and size: ours <= 0.3x the fixed poller's progress calls; lateness <= max(2 s, 10 % of
the lookup's duration).

Usage: ``.venv/bin/python benchmarks/bench_polling.py [--sizes 250,2000,10000] [--pace realistic]
[--dialects none,updated-now,...,all] [--smoke]`` (about 8.5 minutes; ``--dialects`` takes names separated
by commas, ``none`` being the canonical shapes and ``a+b`` two dialects together; default: the canonical
shapes, every dialect on its own, and ``all``; ``--smoke``: 100 and 300 numbers at 0.05 s per batch, the
canonical shapes and ``all``, a few seconds).
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


async def submit_and_follow(
    session: Any, run: dict[str, Any], size: int, start: int, deadline: float
) -> dict[str, Any]:
    """Submit one lookup in ``run``'s sandbox, then follow it with both followers at once."""
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    hook = MsgFlashHook(run["conn_ours"])
    submitted_at = time.time()
    answer = await asyncio.to_thread(hook.create_number_lookup, run["iid"], c.numbers(size, start=start))
    hook.close()
    lid = answer["lookupId"]
    url = f"{run['sb'].api_url}/number-lookups/{lid}/progress"
    ours, fixed = await asyncio.gather(
        follow_with_trigger(lid, run["conn_ours"], submitted_at, size),
        follow_fixed(session, url, {"x-api-key": run["keys"]["fixed"]}, deadline),
    )
    return {"id": lid, "size": size, "ours": ours, "fixed": fixed}


async def run_followers(runs: list[dict[str, Any]], sizes: list[int], budget: float) -> None:
    """Every lookup of every dialect, submitted and followed concurrently; results go to ``run["lookups"]``."""
    import aiohttp

    from airflow_provider_msgflash.hooks.msgflash import close_shared_session

    deadline = time.time() + budget
    async with aiohttp.ClientSession() as session:
        jobs = {
            asyncio.ensure_future(submit_and_follow(session, run, size, i * 100_000, deadline)): run
            for run in runs
            for i, size in enumerate(sizes)
        }
        done, pending = await asyncio.wait(jobs, timeout=max(1.0, deadline - time.time()))
        for t in pending:
            t.cancel()
        if pending:
            raise TimeoutError(f"{len(pending)} lookup(s) had not been followed to the end after {budget:.0f} s")
        for t in done:
            jobs[t]["lookups"].append(t.result())
    await close_shared_session()


def start_run(dialect: str, pace: Any) -> dict[str, Any]:
    """A sandbox answering in ``dialect``, its keys (one per follower) and the connection of ``ours``."""
    keys = {name: c.new_key() for name in ("ours", "fixed")}
    sb = c.start_sandbox(list(keys.values()), pace=pace, rate_limit=10, dialect=dialect.replace("+", ","))
    run = {"dialect": dialect, "sb": sb, "keys": keys, "lookups": [], "iid": sb.instance_id("sandbox-connected")}
    run["conn_ours"] = c.set_connection(f"bench_ours_{len(_RUNS)}", sb, keys["ours"])
    _RUNS.append(run)
    return run


_RUNS: list[dict[str, Any]] = []


def rows_of(run: dict[str, Any]) -> tuple[list[list[str]], bool, str]:
    """Table rows of one dialect, whether every goal was met, and its RESULT summary."""
    sb, log = run["sb"], c.all_requests(run["sb"])
    fps = {who: c.fingerprint(k) for who, k in run["keys"].items()}
    truth = {lk["id"]: lk for lk in sb.state()["lookups"]}  # admin state: the true clock in every dialect
    rows, ok_all, worst_ratio, worst_late = [], True, 0.0, 0.0
    for lk in sorted(run["lookups"], key=lambda x: x["size"]):
        lid, true = lk["id"], truth[lk["id"]]
        created, completed = c.parse_iso(true["createdAt"]), c.parse_iso(true["completedAt"])
        assert created is not None and completed is not None and true["status"] == "done", true
        duration = completed - created
        goal_late = max(2.0, 0.1 * duration)
        route = "/api/v1/number-lookups/{id}/progress"
        srv = {w: sum(1 for r in log if r["route"] == route and lid in r["path"] and r["key"] == fps[w]) for w in fps}
        late = {w: lk[w]["noticed"] - completed for w in fps}
        ratio = srv["ours"] / srv["fixed"]
        ok = ratio <= 0.3 and late["ours"] <= goal_late and lk["ours"]["status"] == "success"
        ok_all &= ok
        worst_ratio, worst_late = max(worst_ratio, ratio), max(worst_late, late["ours"] / goal_late)
        rows.append(
            [
                run["dialect"],
                f"{lk['size']:,}",
                f"{duration:.1f} s",
                f"{srv['fixed']} ({lk['fixed']['calls']})",
                f"{srv['ours']} ({lk['ours']['calls']})",
                f"{ratio:.2f}x",
                f"{late['fixed']:.2f} s",
                f"{late['ours']:.2f} s",
                f"{goal_late:.1f} s",
                "PASS" if ok else "MISS",
            ]
        )
    return rows, ok_all, f"{run['dialect']} {worst_ratio:.2f}x/{worst_late:.2f}"


def main() -> int:
    from airflow_provider_msgflash.sandbox import DIALECTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="250,2000,10000")
    ap.add_argument("--pace", default="realistic", help="sandbox pace: realistic (1 s per 20), fast, or seconds")
    ap.add_argument("--dialects", default=",".join(["none", *DIALECTS, "all"]), help="one row group per name")
    ap.add_argument("--budget", type=float, default=570.0, help="seconds allowed for following the lookups")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.pace, args.budget, args.dialects = "100,300", "0.05", 60.0, "none,all"
    sizes = [int(s) for s in args.sizes.split(",")]
    dialects = [d.strip() for d in args.dialects.split(",") if d.strip()]
    pace: Any = args.pace if args.pace in ("realistic", "fast", "instant") else float(args.pace)

    c.quiet_logs()
    c.banner(
        "bench_polling: adaptive trigger vs fixed 2 s poller, per sandbox dialect",
        sizes=", ".join(f"{s:,}" for s in sizes),
        dialects=", ".join(dialects),
        sandbox=f"one per dialect, pace {pace} (s per batch of 20), rate limit 10 req/s per key, one key per follower",
    )
    try:
        runs = [start_run(d, pace) for d in dialects]
        c.say(f"{len(runs)} sandboxes up; submitting and following {len(runs) * len(sizes)} lookups "
              f"(the largest takes ~{max(sizes) / 20:.0f} s)")  # fmt: skip
        t0 = time.time()
        asyncio.run(run_followers(runs, sizes, args.budget))
        c.say(f"all followers done after {time.time() - t0:.0f} s")
        rows, summary, ok_all = [], [], True
        for run in runs:
            run_rows, ok, text = rows_of(run)
            rows += run_rows
            summary.append(text)
            ok_all &= ok
        print()
        c.table(
            rows,
            ["dialect", "numbers", "duration", "fixed calls (client)", "ours calls (client)", "ours/fixed",
             "fixed late", "ours late", "goal late", "ours"],
        )  # fmt: skip
        print(
            "  calls: progress GETs counted by the sandbox (client-side count in brackets). The lookup "
            "operator adds one\n  progress GET of its own before deferring (poll once before deferring), "
            "not counted here for either side.\n  RESULT: per dialect, the worst calls ratio / the worst "
            "lateness as a share of its goal."
        )
    finally:
        for run in _RUNS:  # also those started before a failure
            run["sb"].stop()
    c.result(
        "polling",
        "; ".join(summary),
        "<= 0.3x calls and late <= max(2 s, 10% of duration), each dialect and size",
        ok_all,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

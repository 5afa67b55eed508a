"""Polling cost of a whole lookup task: MsgFlashNumberLookupOperator (deferrable) and its trigger vs a fixed
2-second poller, each counting EVERY progress call of the task, under each sandbox dialect and at service
paces slower, faster and changing against what the polling schedule assumes (20 numbers/s).

Each row is one async lookup (250, 2,000 or 10,000 numbers) followed by two followers at once:

- ``ours``: the provider's real path. ``MsgFlashNumberLookupOperator(deferrable=True).execute()`` checks
  the instance, submits the lookup and raises ``TaskDeferred`` (with any progress check it makes itself
  before deferring); its trigger then runs in this process's event loop (as in the triggerer) until its
  event, and ``execute_complete`` fetches the result. Every progress call of the task is counted.
- ``fixed``: what the API docs suggest, as a task would do it: one progress call at once (the check before
  deferring), then one every 2 s counted from the submission, until ``done``.

Each follower has its own API key, so the sandbox's request log tells their calls apart (client-side
counts next to it). Lateness = local time at which a follower saw ``done`` minus the lookup's true
completion time (the sandbox's admin state, which the clock dialects do not shift; the sandbox runs on
this machine's clock).

Row groups, each a sandbox of its own (its own process), all running at the same time:
- one per dialect (``--dialects``: the canonical shapes ``none``, each dialect, ``all``), at ``--pace``
  (default realistic: 1 s per batch of 20 = 20 numbers/s, the pace the schedule assumes; the 10,000-number
  lookup takes ~501 s);
- one per service pace (``--paces``), canonical shapes: ``5`` and ``50`` numbers/s, and a pace that
  changes mid-lookup, ``20>50`` (speeds up) and ``20>5`` (slows down), changed by the sandbox's
  ``set_faults(pace=...)`` (running lookups follow it at once). In a changing group the sizes are submitted
  at staggered times so that the change falls at 40 % of each lookup's duration at the first pace.
  A row whose lookup would take longer than ``--max-row-seconds`` (default 540) is not run and is listed
  (10,000 numbers at 5/s takes ~2,000 s): ``--long`` runs them too (about 35 minutes).

- one "stalled" group (``--stall``, default 900 s: 15 minutes): a 2,000-number lookup that stands still after its
  first batch for that long (the sandbox's ``stall_lookups`` with ``stall_seconds``), then finishes at 20/s. Its
  calls are also counted over the stall alone (``ours/fixed in the stall``).

Goals per row: ours <= 0.3x the fixed poller's progress calls (for the stalled row, over the stall too); completion
seen <= max(2 s, 10 % of the lookup's duration) late. A row that misses says by how much, and the poll times that
explain it.

Usage: ``.venv/bin/python benchmarks/bench_polling.py [--sizes 250,2000,10000] [--pace realistic]
[--dialects none,updated-now,...,all] [--paces 5,50,20>50,20>5] [--long] [--smoke] [--chart FILE.png]``
(about 9.5 minutes; ``a+b`` in ``--dialects`` is two dialects together; ``--smoke``: 100 and 300 numbers at 20x
the paces, canonical shapes and ``all``, a few seconds). ``--chart`` also draws the progress calls of each
lookup of the canonical-shapes and changing-pace groups over its life, ours against the fixed poller's
(``make charts`` draws the performance guide's).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

c.prepare_airflow_env()

TERMINAL = ("done", "failed", "cancelled")
FIXED_INTERVAL = 2.0
BATCH = 20  # numbers per provider batch: the sandbox advances one batch per pace interval
CHANGE_AT = 0.4  # share of a lookup's duration (at the first pace) after which a changing pace changes
PROGRESS_ROUTE = "/api/v1/number-lookups/{id}/progress"


@dataclass
class Group:
    """One sandbox (own process) and the lookups followed in it."""

    label: str
    dialect: str  # "none": the canonical shapes
    rate: float  # numbers per second at the start
    new_rate: float | None = None  # the rate after the change (changing groups)
    change_at: float = 0.0  # seconds after the start at which the rate changes
    jobs: list[tuple[int, float]] = field(default_factory=list)  # (size, seconds before submitting)
    skipped: list[tuple[int, float]] = field(default_factory=list)  # (size, estimated seconds): too long
    lookups: list[dict[str, Any]] = field(default_factory=list)
    changed: float | None = None  # local epoch seconds when the pace was changed
    stall: float = 0.0  # seconds each lookup stands still after its first batch (the "stalled" group)
    run: dict[str, Any] = field(default_factory=dict)  # sandbox, keys, connection, instance


def nominal(size: int, rate: float) -> float:
    """Seconds a lookup of ``size`` takes at ``rate`` numbers/s in the sandbox (one step from pending to
    processing, then one batch of 20 per step)."""
    return (1 + math.ceil(size / BATCH)) * BATCH / rate


def planned(size: int, g: Group) -> float:
    """Seconds from submission to completion of a lookup of ``size`` in ``g`` (the change included)."""
    t = nominal(size, g.rate) + g.stall
    return t if g.new_rate is None else CHANGE_AT * t + (1 - CHANGE_AT) * t * g.rate / g.new_rate


def plan(g: Group, sizes: list[int], max_seconds: float) -> Group:
    """Which sizes run in ``g`` and when each is submitted (staggered around the change)."""
    fits = [s for s in sizes if planned(s, g) <= max_seconds]
    g.skipped = [(s, planned(s, g)) for s in sizes if s not in fits]
    if g.new_rate is not None and fits:
        g.change_at = CHANGE_AT * nominal(max(fits), g.rate)
        g.jobs = [(s, g.change_at - CHANGE_AT * nominal(s, g.rate)) for s in fits]
    else:
        g.jobs = [(s, 0.0) for s in fits]
    return g


def parse_paces(text: str) -> list[tuple[float, float | None]]:
    """``"5,50,20>50"`` -> ``[(5, None), (50, None), (20, 50)]`` (numbers per second)."""
    out: list[tuple[float, float | None]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, then = part.partition(">")
        out.append((float(first), float(then) if then else None))
    return out


def rate_label(g: Group) -> str:
    if g.stall:
        return f"{g.rate:g}/s, still {g.stall:g} s"
    if g.new_rate is None:
        return f"{g.rate:g}/s"
    return f"{g.rate:g}>{g.new_rate:g}/s at {CHANGE_AT:.0%}"


# ---------------------------------------------------------------------------------------------------
async def follow_ours(g: Group, size: int, start: int, pool: ThreadPoolExecutor, budget: float) -> dict[str, Any]:
    """The lookup task as Airflow runs it: ``execute`` to ``TaskDeferred``, the trigger to its event,
    ``execute_complete``. Returns the lookup id, when it was submitted, and when ``done`` was seen."""
    from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator
    from airflow_provider_msgflash.version_compat import TaskDeferred

    op = MsgFlashNumberLookupOperator(
        task_id=f"lookup_{size}",
        instance_id=g.run["iid"],
        numbers=c.numbers(size, start=start),
        msgflash_conn_id=g.run["conn_ours"],
        deferrable=True,
        timeout=budget,
    )
    ctx = c.fake_context()
    loop = asyncio.get_running_loop()
    try:
        summary = await loop.run_in_executor(pool, op.execute, ctx)
    except TaskDeferred as deferred:
        trigger = deferred.trigger
    else:  # finished before deferring (possible only when the first check found it done)
        return {"id": summary["lookup_id"], "submitted": time.time(), "noticed": time.time(), "status": "done"}
    ours: dict[str, Any] = {"id": trigger.lookup_ids[0], "submitted": trigger.submitted_at}
    g.run["submitted"][size] = ours  # the fixed poller starts following the same lookup now
    agen = trigger.run()
    try:
        event = await agen.__anext__()
    finally:
        await agen.aclose()
    ours["noticed"], ours["polls"] = time.time(), event.payload["polls"]
    summary = await loop.run_in_executor(pool, op.execute_complete, ctx, event.payload)
    ours["status"] = summary["status"]
    return ours


async def follow_fixed(session: Any, url: str, headers: dict[str, str], t0: float, deadline: float) -> dict[str, Any]:
    """One progress call at once (the check before deferring), then one every 2 s from ``t0`` (the
    submission), until the lookup is terminal."""
    calls = errors = 0
    samples: list[tuple[float, float]] = []  # (local time, progress %) as this poller read it
    for i in range(100_000):
        await asyncio.sleep(max(0.0, t0 + i * FIXED_INTERVAL - time.time()))
        if time.time() > deadline:
            raise TimeoutError("fixed poller: deadline passed")
        calls += 1
        async with session.get(url, headers=headers) as resp:
            body = await resp.json()
        if resp.status != 200:
            errors += 1
            continue
        if isinstance(body["data"].get("progress"), int | float):
            samples.append((time.time(), float(body["data"]["progress"])))
        if body["data"]["status"] in TERMINAL:
            status = body["data"]["status"]
            return {"noticed": time.time(), "calls": calls, "status": status, "errors": errors, "samples": samples}
    raise RuntimeError("unreachable")


async def submit_and_follow(
    session: Any, g: Group, size: int, delay: float, start: int, pool: ThreadPoolExecutor, deadline: float
) -> dict[str, Any]:
    """After ``delay`` s, run the lookup task (ours); follow its lookup with the fixed poller at once."""
    await asyncio.sleep(delay)
    ours_task = asyncio.ensure_future(follow_ours(g, size, start, pool, deadline - time.time()))
    while size not in g.run["submitted"] and not ours_task.done():
        await asyncio.sleep(0.005)
    if size not in g.run["submitted"]:
        ours = await ours_task  # no deferral: the fixed poller follows from the submission anyway
        info = {"id": ours["id"], "submitted": ours["submitted"]}
    else:
        info = g.run["submitted"][size]
    url = f"{g.run['sb'].api_url}/number-lookups/{info['id']}/progress"
    fixed = await follow_fixed(session, url, {"x-api-key": g.run["keys"]["fixed"]}, info["submitted"], deadline)
    ours = await ours_task
    return {"id": ours["id"], "size": size, "ours": ours, "fixed": fixed}


async def change_pace(g: Group, t0: float) -> None:
    if g.new_rate is None or not g.jobs:
        return
    await asyncio.sleep(max(0.0, t0 + g.change_at - time.time()))
    await asyncio.to_thread(g.run["sb"].set_faults, pace=BATCH / g.new_rate)
    g.changed = time.time()


async def run_followers(groups: list[Group], budget: float) -> None:
    """Every lookup of every group, submitted and followed concurrently; results go to ``g.lookups``."""
    import aiohttp

    from airflow_provider_msgflash.hooks.msgflash import close_shared_session

    t0 = time.time()
    deadline = t0 + budget
    for g in groups:
        g.run["submitted"] = {}
    with ThreadPoolExecutor(max_workers=64, thread_name_prefix="task") as pool:
        async with aiohttp.ClientSession() as session:
            jobs = {
                asyncio.ensure_future(submit_and_follow(session, g, size, delay, i * 100_000, pool, deadline)): g
                for g in groups
                for i, (size, delay) in enumerate(g.jobs)
            }
            changes = [asyncio.ensure_future(change_pace(g, t0)) for g in groups]
            done, pending = await asyncio.wait(jobs, timeout=max(1.0, deadline - time.time()))
            for t in [*pending, *changes]:
                t.cancel()
            if pending:
                raise TimeoutError(f"{len(pending)} lookup(s) had not been followed to the end after {budget:.0f} s")
            for t in done:
                jobs[t].lookups.append(t.result())
        await close_shared_session()


def start_group(g: Group, index: int) -> Group:
    """A sandbox answering in ``g.dialect`` at ``g.rate``, its keys (one per follower), ours' connection."""
    keys = {name: c.new_key() for name in ("ours", "fixed")}
    dialect = "" if g.dialect == "none" else g.dialect.replace("+", ",")
    stall = {"stall_lookups": len(g.jobs), "stall_seconds": g.stall} if g.stall else {}
    sb = c.start_sandbox(list(keys.values()), pace=BATCH / g.rate, rate_limit=10, dialect=dialect, **stall)
    g.run.update(sb=sb, keys=keys, iid=sb.instance_id("sandbox-connected"))
    g.run["conn_ours"] = c.set_connection(f"bench_ours_{index}", sb, keys["ours"])
    return g


# ---------------------------------------------------------------------------------------------------
def first_poll(size: int) -> float:
    """Seconds after submission of the trigger's first poll, as the provider's schedule places it."""
    from airflow_provider_msgflash.polling import PollSchedule

    return PollSchedule(size, 0.0).next_delay(now=0.0)


def explain(row: dict[str, Any]) -> str:
    """Why a row missed, from its measured figures."""
    why = []
    fixed_n, ours_n, d, goal, times = row["fixed"], row["ours"], row["duration"], row["goal_late"], row["times"]
    if row["ratio"] > 0.3:
        allowed = math.floor(0.3 * fixed_n + 1e-9)
        why.append(f"calls {ours_n} vs {fixed_n} = {row['ratio']:.2f}x, {row['ratio'] / 0.3:.1f}x the goal")
        if allowed == 0:
            why.append(
                f"out of reach: a {d:.1f} s lookup gives the fixed poller only {fixed_n} calls (1 at once + 1 every "
                f"2 s), and 0.3x of that ({0.3 * fixed_n:.1f}) is less than the 1 call any follower needs"
            )
        elif allowed == 1 and ours_n > 1:
            why.append(
                f"0.3x of {fixed_n} allows 1 call: only a first poll that already finds the lookup done (within "
                f"{goal:.0f} s after it) would do, i.e. predicting the end before measuring anything"
            )
        else:
            why.append(f"0.3x of {fixed_n} allows {allowed} calls")
    if row["late"] > goal:
        why.append(f"done seen {row['late']:.1f} s late, goal {goal:.1f} s (by {row['late'] - goal:.1f} s)")
        if times and times[0] > d + goal:
            why.append(
                f"the lookup was done at {d:.1f} s, before the trigger's first poll at {times[0]:.1f} s (the schedule "
                f"places it at {first_poll(row['size']):.1f} s: a quarter of {row['size']:,} numbers at the assumed "
                "20/s, at least 2 s): the service was faster than the schedule assumes"
            )
        elif len(times) > 1:
            why.append(f"the poll before the one that saw done was at {times[-2]:.1f} s (not done yet)")
    why.append("ours polled at " + ", ".join(f"{t:.1f}" for t in times) + f" s after submission; done at {d:.1f} s")
    return "; ".join(why)


def rows_of(g: Group) -> tuple[list[list[str]], list[str], dict[str, Any]]:
    """Table rows of one group, notes for the rows that missed, and the group's worst figures."""
    sb, log = g.run["sb"], c.all_requests(g.run["sb"])
    fps = {who: c.fingerprint(k) for who, k in g.run["keys"].items()}
    truth = {lk["id"]: lk for lk in sb.state()["lookups"]}  # admin state: the true clock in every dialect
    rows, notes, worst = [], [], {"ratio": 0.0, "late": 0.0, "ok": True, "rows": 0, "passed": 0}
    for lk in sorted(g.lookups, key=lambda x: x["size"]):
        true = truth[lk["id"]]
        created, completed = c.parse_iso(true["createdAt"]), c.parse_iso(true["completedAt"])
        assert created is not None and completed is not None and true["status"] == "done", true
        progress = [r for r in log if r["route"] == PROGRESS_ROUTE and lk["id"] in r["path"]]
        srv = {w: sum(1 for r in progress if r["key"] == fps[w]) for w in fps}
        times = [(c.parse_iso(r["time"]) or 0.0) - created for r in progress if r["key"] == fps["ours"]]
        fixed_times = [(c.parse_iso(r["time"]) or 0.0) - created for r in progress if r["key"] == fps["fixed"]]
        row = {
            "size": lk["size"],
            "duration": completed - created,
            "fixed": srv["fixed"],
            "ours": srv["ours"],
            "ratio": srv["ours"] / srv["fixed"],
            "late": lk["ours"]["noticed"] - completed,
            "times": times,
        }
        row["goal_late"] = max(2.0, 0.1 * row["duration"])
        g.run.setdefault("panels", []).append(
            {
                "title": f"{lk['size']:,} numbers, {rate_label(g)}",
                "duration": row["duration"],
                "ours": times,
                "fixed": fixed_times,
                "progress": [(t - created, pct) for t, pct in lk["fixed"].get("samples", [])],
                "late": row["late"],
                "changed": None if g.changed is None else g.changed - created,
            }
        )
        ok = row["ratio"] <= 0.3 and row["late"] <= row["goal_late"] and lk["ours"].get("status") == "done"
        stalled = ""
        if g.stall:  # calls while it stood still: after its first batch, for g.stall seconds
            still = (created + 2 * BATCH / g.rate, created + BATCH / g.rate + g.stall)
            inside = [r for r in progress if still[0] <= (c.parse_iso(r["time"]) or 0.0) <= still[1]]
            n = {w: sum(1 for r in inside if r["key"] == fps[w]) for w in fps}
            stalled = f"{n['ours']} vs {n['fixed']} = {n['ours'] / max(1, n['fixed']):.2f}x"
            ok &= n["ours"] <= 0.3 * n["fixed"]
        worst["ratio"] = max(worst["ratio"], row["ratio"])
        worst["late"] = max(worst["late"], row["late"] / row["goal_late"])
        worst["ok"] &= ok
        worst["rows"] += 1
        worst["passed"] += ok
        trigger_polls = lk["ours"].get("polls", 0)
        rows.append(
            [
                g.label,
                rate_label(g),
                f"{lk['size']:,}",
                f"{row['duration']:.1f} s",
                f"{srv['fixed']} ({lk['fixed']['calls']})",
                f"{srv['ours']} ({srv['ours'] - trigger_polls}+{trigger_polls})",
                f"{row['ratio']:.2f}x",
                f"{lk['fixed']['noticed'] - completed:.2f} s",
                f"{row['late']:.2f} s",
                f"{row['goal_late']:.1f} s",
                stalled or "-",
                "PASS" if ok else "MISS",
            ]
        )
        if not ok:
            notes.append(f"  MISS {g.label} {rate_label(g)} {lk['size']:,}: {explain(row)}.")
    for size, seconds in g.skipped:
        notes.append(f"  not run: {g.label} {rate_label(g)} {size:,} numbers (~{seconds:.0f} s; --long runs it).")
    return rows, notes, worst


def build_groups(args: argparse.Namespace) -> list[Group]:
    from airflow_provider_msgflash.sandbox.rules import parse_pace

    sizes = [int(s) for s in args.sizes.split(",")]
    dialect_rate = BATCH / parse_pace(args.pace)
    groups = [
        plan(Group(f"dialect {d}", d, dialect_rate), sizes, args.max_row_seconds)
        for d in (x.strip() for x in args.dialects.split(","))
        if d
    ]
    for rate, new_rate in parse_paces(args.paces):
        label = "pace changes" if new_rate is not None else "pace"
        groups.append(plan(Group(label, "none", rate, new_rate), sizes, args.max_row_seconds))
    if args.stall > 0:
        stalled = Group("stalled", "none", dialect_rate, stall=args.stall)
        groups.append(plan(stalled, [args.stall_size], args.stall + 2 * nominal(args.stall_size, dialect_rate)))
    return groups


def draw_chart(path: str, groups: list[Group], passed: int, total: int) -> None:
    """The rows of the canonical-shapes and changing-pace groups (every row when neither ran), smallest first."""
    import _charts

    chosen = [g for g in groups if g.dialect == "none" and (g.label == "dialect none" or g.new_rate is not None)]
    panels = [p for g in (chosen or groups) for p in g.run.get("panels", [])][:6]
    note = f"bench_polling.py: {passed} of {total} rows met both goals in this run; " + _charts.machine_note()
    _charts.polling_chart(path, panels, note)


def main() -> int:
    from airflow_provider_msgflash.sandbox import DIALECTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="250,2000,10000")
    ap.add_argument("--pace", default="realistic", help="dialect rows' pace: realistic (1 s per 20), fast, or seconds")
    ap.add_argument("--dialects", default=",".join(["none", *DIALECTS, "all"]), help="one row group per name")
    ap.add_argument("--paces", default="5,50,20>50,20>5", help="numbers/s of the pace rows; a>b: changes mid-lookup")
    ap.add_argument("--max-row-seconds", type=float, default=540.0, help="skip rows whose lookup would take longer")
    ap.add_argument("--long", action="store_true", help="run every row, however long (~35 minutes)")
    ap.add_argument("--stall", type=float, default=900.0, help="seconds the stalled row stands still (0: no row)")
    ap.add_argument("--stall-size", type=int, default=2000, help="numbers in the stalled row's lookup")
    ap.add_argument("--chart", metavar="FILE.png", help="also draw each lookup's progress calls, ours vs fixed")
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.long:
        args.max_row_seconds = 2400.0
    if args.smoke:
        args.sizes, args.pace, args.dialects, args.paces = "100,300", "0.05", "none,all", "100,1000,400>1000,400>100"
        args.max_row_seconds, args.stall, args.stall_size = 30.0, 12.0, 300
    groups = build_groups(args)
    longest = max(planned(s, g) + d for g in groups for s, d in g.jobs)
    budget = longest * 1.15 + 60

    c.quiet_logs()
    c.allow_direct_execute()
    c.banner(
        "bench_polling: the lookup task (operator, deferred, trigger) vs a fixed 2 s poller, every progress call",
        sizes=args.sizes,
        groups=", ".join(f"{g.label} {rate_label(g)}" for g in groups),
        changes=", ".join(f"{rate_label(g)}: {g.change_at:.3g} s after the start" for g in groups if g.new_rate)
        or "none",
        sandbox="one per group (own process), rate limit 10 req/s per key, one key per follower",
    )
    try:
        with ThreadPoolExecutor(max_workers=4) as starter:
            list(starter.map(start_group, groups, range(len(groups))))
        jobs = sum(len(g.jobs) for g in groups)
        c.say(f"{len(groups)} sandboxes up; {jobs} lookup tasks, the longest ~{longest:.0f} s")
        t0 = time.time()
        asyncio.run(run_followers(groups, budget))
        c.say(f"all followers done after {time.time() - t0:.0f} s")
        rows, notes, summary, ok_all, passed, total = [], [], [], True, 0, 0
        for g in groups:
            g_rows, g_notes, worst = rows_of(g)
            rows += g_rows
            notes += g_notes
            ok_all &= worst["ok"]
            passed, total = passed + worst["passed"], total + worst["rows"]
            summary.append(f"{g.label} {rate_label(g)} {worst['ratio']:.2f}x/{worst['late']:.2f}")
    finally:
        for g in groups:  # also those started before a failure
            if "sb" in g.run:
                g.run["sb"].stop()
    print()
    c.table(
        rows,
        ["group", "service pace", "numbers", "duration", "fixed calls (client)", "ours calls (pre-defer+trigger)",
         "ours/fixed", "fixed late", "ours late", "goal late", "ours/fixed in the stall", "ours"],
    )  # fmt: skip
    print(
        "  calls: every progress GET of the task counted by the sandbox. fixed: 1 at once (the check before\n"
        "  deferring) + 1 every 2 s (client-side count in brackets). ours: the operator's own checks before\n"
        "  deferring + its trigger's polls. The schedule assumes 20 numbers/s. RESULT: per group, the worst calls\n"
        "  ratio / the worst lateness as a share of its goal."
    )
    print("\n".join(notes))
    if args.chart:
        draw_chart(args.chart, groups, passed, total)
    c.result(
        "polling",
        f"{passed} of {total} rows meet both goals; " + "; ".join(summary),
        "<= 0.3x calls and late <= max(2 s, 10% of duration), each row",
        ok_all,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

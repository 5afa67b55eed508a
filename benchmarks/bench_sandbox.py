"""Throughput of the MsgFlash sandbox: how many API requests per second it serves.

Starts the sandbox as a subprocess (rate limit off, faults off) and drives it from this process with
several concurrent aiohttp clients: a fixed number of requests (a realistic mix of polling GETs and
small lookups), capped in time. One row per dialect (default: none, and ``all``, which reshapes the
list, health and lookup answers and shifts every timestamp), measured one after the other in one
run. Prints requests/second and latency percentiles against the goal of at least 500 requests/second
on every row. Exits non-zero only if a request failed (not on a missed goal).

    .venv/bin/python benchmarks/bench_sandbox.py [--requests 6000] [--clients 8] [--time-cap 40]
        [--dialect none --dialect all] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from _common import result, table

from airflow_provider_msgflash.sandbox import running_sandbox

GOAL = 500.0


def plan_for(lookup_id: str, instance: str) -> list[tuple[str, str, Any]]:
    """The request mix: mostly polling reads, one small lookup in ten."""
    small = {"instanceId": instance, "numbers": ["+41791234567", "+41791234568", "0041 79 123 45 69"]}
    return [
        ("GET", f"/number-lookups/{lookup_id}/progress", None),
        ("GET", f"/instances/{instance}/state", None),
        ("GET", "/instances", None),
        ("GET", f"/number-lookups/{lookup_id}/progress", None),
        ("GET", f"/instances/{instance}/health", None),
        ("GET", "/number-lookups?limit=5", None),
        ("GET", f"/number-lookups/{lookup_id}/progress", None),
        ("GET", f"/instances/{instance}/state", None),
        ("GET", "/me", None),
        ("POST", "/number-lookups", small),
    ]


async def drive(
    base: str, headers: dict[str, str], instance: str, total: int, clients: int, cap: float
) -> dict[str, Any]:
    api = base + "/api/v1"
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    deadline = time.monotonic() + cap

    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=clients)) as session:
        async with session.post(
            api + "/number-lookups", json={"instanceId": instance, "numbers": [f"+4179555{i:04d}" for i in range(150)]}
        ) as r:
            lookup_id = (await r.json())["data"]["lookupId"]
        plan = plan_for(lookup_id, instance)

        async def worker() -> None:
            nonlocal sent
            while sent < total and time.monotonic() < deadline:
                method, path, body = plan[sent % len(plan)]
                sent += 1
                t0 = time.perf_counter()
                try:
                    async with session.request(method, api + path, json=body) as resp:
                        await resp.read()
                        if resp.status >= 300:
                            errors.append(f"{method} {path}: HTTP {resp.status}")
                except aiohttp.ClientError as e:
                    errors.append(f"{method} {path}: {type(e).__name__}: {e}")
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed, "capped": time.monotonic() >= deadline}


def measure(dialect: str, args: argparse.Namespace) -> dict[str, Any]:
    """One row: a fresh subprocess sandbox answering in ``dialect``, driven by the mix."""
    t0 = time.perf_counter()
    with running_sandbox(subprocess=True, rate_limit=0, pace="fast", dialect=dialect) as sb:
        startup = time.perf_counter() - t0
        out = asyncio.run(
            drive(
                sb.base_url,
                sb.headers(),
                sb.instance_id("sandbox-connected"),
                args.requests,
                args.clients,
                args.time_cap,
            )
        )
        out["seen"] = sb.state()["requests_total"]
    lat = sorted(out["latencies"])
    n = len(lat)
    out["n"] = n
    out["rps"] = n / out["elapsed"] if out["elapsed"] > 0 else 0.0
    out["pct"] = {p: lat[min(n - 1, int(n * p / 100))] * 1000 for p in (50, 90, 99)} if n else {}
    out["mean"] = statistics.fmean(lat) * 1000 if n else 0.0
    out["startup"] = startup
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000, help="requests to send per row")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--time-cap", type=float, default=40.0, help="stop sending after this many seconds per row")
    parser.add_argument("--dialect", action="append", help="a row per dialect (repeatable; default: none and all)")
    parser.add_argument("--smoke", action="store_true", help="300 requests per row: checks the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.requests = 300
    dialects = args.dialect or ["none", "all"]

    rows: dict[str, dict[str, Any]] = {d: measure(d, args) for d in dialects}
    print(f"sandbox benchmark: subprocess sandbox per row, {args.clients} concurrent clients, rate limit off")
    table(
        [
            [
                d,
                f"{r['n']} in {r['elapsed']:.2f} s" + (" (time cap)" if r["capped"] else ""),
                f"{r['rps']:.0f}",
                f"{r['pct'].get(50, 0):.1f} / {r['pct'].get(90, 0):.1f} / {r['pct'].get(99, 0):.1f}",
                f"{r['mean']:.1f}",
                r["seen"],
                len(r["errors"]),
            ]
            for d, r in rows.items()
        ],
        ["dialect", "requests", "req/s", "p50 / p90 / p99 ms", "mean ms", "server saw", "errors"],
    )
    failed = {d: r["errors"][:3] for d, r in rows.items() if r["errors"]}
    if failed:
        print(f"  ERRORS (first of each row): {failed}", file=sys.stderr)
    worst = min(rows.values(), key=lambda r: r["rps"])
    measured = ", ".join(f"{d} {r['rps']:.0f} req/s" for d, r in rows.items())
    result("sandbox_throughput", measured, f">= {GOAL:.0f} req/s on every row", worst["rps"] >= GOAL, args.smoke)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of the MsgFlash sandbox: how many API requests per second it serves.

Starts the sandbox as a subprocess (rate limit off, faults off) and drives it from this process with
several concurrent aiohttp clients: a fixed number of requests (a realistic mix of polling GETs and
small lookups), capped in time. Prints requests/second and latency percentiles against the goal of
at least 500 requests/second. Exits non-zero only if a request failed (not on a missed goal).

    .venv/bin/python benchmarks/bench_sandbox.py [--requests 6000] [--clients 8] [--time-cap 40] [--smoke]

Ends with a ``RESULT`` line like the other benchmarks (``--smoke``: 300 requests, a few seconds).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import aiohttp

from airflow_provider_msgflash.sandbox import running_sandbox

GOAL = 500.0


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
        small = {"instanceId": instance, "numbers": ["+41791234567", "+41791234568", "0041 79 123 45 69"]}
        plan = [
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000, help="requests to send in all")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--time-cap", type=float, default=40.0, help="stop sending after this many seconds")
    c.add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.time_cap = 300, 10.0

    t0 = time.perf_counter()
    with running_sandbox(subprocess=True, rate_limit=0, pace="fast") as sb:
        startup = time.perf_counter() - t0
        result = asyncio.run(
            drive(
                sb.base_url,
                sb.headers(),
                sb.instance_id("sandbox-connected"),
                args.requests,
                args.clients,
                args.time_cap,
            )
        )
        seen = sb.state()["requests_total"]

    lat = sorted(result["latencies"])
    n = len(lat)
    rps = n / result["elapsed"] if result["elapsed"] > 0 else 0.0
    pct = {p: lat[min(n - 1, int(n * p / 100))] * 1000 for p in (50, 90, 99)} if n else {}
    print(f"sandbox benchmark: subprocess sandbox (started in {startup:.2f} s), {args.clients} concurrent clients")
    print(f"  requests     {n} in {result['elapsed']:.2f} s{' (time cap reached)' if result['capped'] else ''}")
    print(f"  throughput   {rps:.0f} requests/s   (goal: >= {GOAL:.0f} req/s: {'met' if rps >= GOAL else 'NOT met'})")
    if n:
        print(
            f"  latency      p50 {pct[50]:.1f} ms   p90 {pct[90]:.1f} ms   p99 {pct[99]:.1f} ms   "
            f"mean {statistics.fmean(lat) * 1000:.1f} ms"
        )
    print(f"  server saw   {seen} API requests")
    if result["errors"]:
        print(f"  ERRORS       {len(result['errors'])}, first: {result['errors'][:3]}", file=sys.stderr)
        return 1
    print("  errors       0")
    c.result(
        "sandbox",
        f"{rps:.0f} requests/s ({args.clients} clients, {n} requests)",
        f">= {GOAL:.0f} req/s",
        rps >= GOAL,
        args.smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

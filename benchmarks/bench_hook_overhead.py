"""Hook overhead: MsgFlashHook vs a bare requests.Session doing the same GETs.

A sandbox in its own process with its rate limit off; the hook's client-side limiter off too (extra
``requests_per_second=0``). 500 sequential ``GET /api/v1/instances`` through ``MsgFlashHook.list_instances()``
and 500 through a bare ``requests.Session`` (same headers, ``resp.json()["data"]``), interleaved in
rounds of 25 (alternating which side goes first) so that drift hits both alike.

Goal: hook time / bare time <= 1.2 (total time, i.e. the mean per request); and the hook reuses one
keep-alive connection for all its requests (urllib3's pool statistics: connections opened).

Usage: ``.venv/bin/python benchmarks/bench_hook_overhead.py [--requests 500]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c

c.prepare_airflow_env()

ROUND = 25


def pool_stats(session: Any) -> tuple[int, int]:
    """(connections opened, requests sent) summed over the session's urllib3 pools."""
    opened = sent = 0
    for adapter in session.adapters.values():
        for key in adapter.poolmanager.pools:
            pool = adapter.poolmanager.pools[key]
            opened += pool.num_connections
            sent += pool.num_requests
    return opened, sent


def limiter_cost_us(n: int = 2000) -> float:
    """Microseconds per reservation of a host-shared limiter (flock'ed file), without the waiting."""
    import tempfile

    from airflow_provider_msgflash._ratelimit import KeyRateLimiter

    with tempfile.TemporaryDirectory() as tmp:
        lim = KeyRateLimiter(10, shared_file=os.path.join(tmp, "limit.log"))
        t = time.perf_counter()
        for _ in range(n):
            lim.reserve()  # books ever later slots; nobody sleeps
        return (time.perf_counter() - t) / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args()
    n = args.requests

    c.quiet_logs()
    import requests

    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    key = c.new_key()
    c.banner(
        "bench_hook_overhead: MsgFlashHook vs bare requests.Session",
        requests=f"{n} sequential GET /api/v1/instances per side, interleaved in rounds of {ROUND}",
        sandbox="subprocess, rate limit off; hook extra requests_per_second=0",
    )
    sb = c.start_sandbox([key], rate_limit=0)
    try:
        c.set_connection("bench_hook", sb, key, requests_per_second=0)
        hook = MsgFlashHook("bench_hook")
        bare = requests.Session()
        bare.headers.update({"x-api-key": key, "Accept": "application/json"})
        url = sb.api_url + "/instances"

        def via_hook() -> Any:
            return hook.list_instances()

        def via_bare() -> Any:
            resp = bare.get(url, timeout=30)
            resp.raise_for_status()
            return resp.json()["data"]

        assert via_hook() == via_bare(), "hook and bare session disagree"
        for _ in range(20):  # warm-up: imports, first connections, tenacity, JSON paths
            via_hook()
            via_bare()
        before_hook = pool_stats(hook.session)

        times: dict[str, list[float]] = {"hook": [], "bare": []}
        sides = (("hook", via_hook), ("bare", via_bare))
        for r in range(max(1, n // ROUND)):
            order = sides if r % 2 == 0 else sides[::-1]
            for name, fn in order:
                for _ in range(ROUND):
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
        after_hook = pool_stats(hook.session)
        bare_pool = pool_stats(bare)
        log = c.all_requests(sb)
    finally:
        sb.stop()

    total = {k: sum(v) for k, v in times.items()}
    ratio = total["hook"] / total["bare"]
    rows = []
    for name in ("hook", "bare"):
        v = times[name]
        rows.append(
            [
                name,
                len(v),
                f"{total[name]:.3f} s",
                f"{total[name] / len(v) * 1e3:.3f} ms",
                f"{c.median(v) * 1e3:.3f} ms",
                f"{c.percentile(v, 95) * 1e3:.3f} ms",
            ]
        )
    c.table(rows, ["side", "requests", "total", "mean", "median", "p95"])
    med_ratio = c.median(times["hook"]) / c.median(times["bare"])
    overhead_us = (total["hook"] - total["bare"]) / len(times["hook"]) * 1e6
    print(f"  hook/bare: {ratio:.2f}x (total), {med_ratio:.2f}x (median); hook overhead {overhead_us:.0f} us/request")
    new_conns = after_hook[0]
    print(
        f"  hook connections opened (urllib3 pool): {new_conns} for {after_hook[1]} requests "
        f"({after_hook[0] - before_hook[0]} during the timed part); bare session: {bare_pool[0]} for {bare_pool[1]}"
    )
    print(
        f"  sandbox saw {sum(1 for r in log if r['route'] == '/api/v1/instances')} GET /instances, all "
        f"{'200' if all(r['status'] == 200 for r in log) else 'NOT 200'}"
    )
    lim_us = limiter_cost_us()
    print(
        f"  for reference: one reservation of the default host-shared limiter (10 req/s, flock'ed file) costs "
        f"{lim_us:.0f} us (not in the figures above: the limiter is off here)"
    )
    ok = ratio <= 1.2 and new_conns == 1
    c.result(
        "hook_overhead",
        f"{ratio:.2f}x bare requests.Session ({overhead_us:.0f} us/request), {new_conns} connection(s) "
        f"for {after_hook[1]} requests",
        "<= 1.2x and 1 kept-alive connection",
        ok,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

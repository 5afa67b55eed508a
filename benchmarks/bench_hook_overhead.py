"""Hook overhead: MsgFlashHook vs a bare requests.Session doing the same GETs.

A sandbox in its own process with its rate limit off. Three sides, each 500 sequential
``GET /api/v1/instances``, interleaved in rounds of 25 (rotating which side goes first) so that drift
hits them alike:

- ``bare``: a bare ``requests.Session`` (same headers, ``resp.json()["data"]``);
- ``hook, limiter off``: ``MsgFlashHook.list_instances()`` with extra ``requests_per_second=0``: the
  transport overhead (retry policy, envelope parsing, error mapping);
- ``hook, limiter on``: the default limiter (host-wide file, adaptive), at a rate this benchmark never
  reaches (10,000/s), so the figure is the limiter's bookkeeping per request, not its waiting.

Goal: hook (limiter off) / bare <= 1.2 (total time, i.e. the mean per request), and the hook reuses one
keep-alive connection for all its requests (urllib3's pool statistics). The limiter-on ratio is printed,
and so is what 20 requests take at the default 10 requests/second (the limit itself, for reference).

Usage: ``.venv/bin/python benchmarks/bench_hook_overhead.py [--requests 500] [--smoke]``
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
        pools = adapter.poolmanager.pools  # urllib3's RecentlyUsedContainer: keys(), not iteration
        for key in pools.keys():  # noqa: SIM118
            pool = pools.get(key)
            if pool is not None:
                opened += pool.num_connections
                sent += pool.num_requests
    return opened, sent


def limiter_cost_us(n: int = 2000) -> float:
    """Microseconds per reservation of a host-shared limiter (flock'ed file), without the waiting."""
    import tempfile

    from airflow_provider_msgflash.ratelimit import KeyRateLimiter

    with tempfile.TemporaryDirectory() as tmp:
        lim = KeyRateLimiter(10, shared_file=os.path.join(tmp, "limit.log"))
        t = time.perf_counter()
        for _ in range(n):
            lim.reserve()  # books ever later slots; nobody sleeps
        return (time.perf_counter() - t) / n * 1e6


def timed_rounds(sides: dict[str, Any], n: int) -> dict[str, list[float]]:
    """Per-request times of each side: ``n`` requests each, in rounds of ROUND, rotating the order."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    for r in range(max(1, n // ROUND)):
        for name, fn in order[r % len(order) :] + order[: r % len(order)]:
            for _ in range(ROUND):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return times


def at_default_rate(sb: Any, requests: int) -> float:
    """Seconds that ``requests`` sequential GETs take through the default limiter (10 req/s, fresh key)."""
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    key = c.new_key()
    sb.add_key(key)
    c.set_connection("bench_hook_default", sb, key)
    hook = MsgFlashHook("bench_hook_default")
    t = time.perf_counter()
    for _ in range(requests):
        hook.list_instances()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    c.add_smoke(ap)
    args = ap.parse_args()
    n = 50 if args.smoke else args.requests

    c.quiet_logs()
    import requests

    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    key = c.new_key()
    c.banner(
        "bench_hook_overhead: MsgFlashHook vs bare requests.Session",
        requests=f"{n} sequential GET /api/v1/instances per side, interleaved in rounds of {ROUND}",
        sandbox="subprocess, rate limit off",
        sides="bare session; hook with the limiter off; hook with the default limiter (host file) at 10,000/s",
    )
    sb = c.start_sandbox([key], rate_limit=0)
    try:
        c.set_connection("bench_hook", sb, key, requests_per_second=0)
        c.set_connection("bench_hook_lim", sb, key, requests_per_second=10_000)
        hook, hook_lim = MsgFlashHook("bench_hook"), MsgFlashHook("bench_hook_lim")
        bare = requests.Session()
        bare.headers.update({"x-api-key": key, "Accept": "application/json"})
        url = sb.api_url + "/instances"

        def via_bare() -> Any:
            resp = bare.get(url, timeout=30)
            resp.raise_for_status()
            return resp.json()["data"]

        sides = {
            "bare": via_bare,
            "hook, limiter off": hook.list_instances,
            "hook, limiter on": hook_lim.list_instances,
        }
        assert hook.list_instances() == via_bare() == hook_lim.list_instances(), "hook and bare session disagree"
        for _ in range(20):  # warm-up: imports, first connections, tenacity, JSON paths, the limiter file
            for fn in sides.values():
                fn()
        before_hook = pool_stats(hook.session)
        times = timed_rounds(sides, n)
        after_hook = pool_stats(hook.session)
        bare_pool = pool_stats(bare)
        log = c.all_requests(sb)
        default_n = 20
        default_s = at_default_rate(sb, default_n)
    finally:
        sb.stop()
    return report(times, before_hook, after_hook, bare_pool, log, (default_n, default_s), args.smoke)


def report(
    times: dict[str, list[float]],
    before_hook: tuple[int, int],
    after_hook: tuple[int, int],
    bare_pool: tuple[int, int],
    log: list[dict[str, Any]],
    default_run: tuple[int, float],
    smoke: bool,
) -> int:
    total = {k: sum(v) for k, v in times.items()}
    rows = []
    for name, v in times.items():
        rows.append(
            [
                name,
                len(v),
                f"{total[name]:.3f} s",
                f"{total[name] / len(v) * 1e3:.3f} ms",
                f"{c.median(v) * 1e3:.3f} ms",
                f"{c.percentile(v, 95) * 1e3:.3f} ms",
                f"{total[name] / total['bare']:.2f}x",
            ]
        )
    c.table(rows, ["side", "requests", "total", "mean", "median", "p95", "vs bare"])
    ratio = total["hook, limiter off"] / total["bare"]
    ratio_on = total["hook, limiter on"] / total["bare"]
    per_req = {k: (total[k] - total["bare"]) / len(times[k]) * 1e6 for k in total}
    print(
        f"  overhead per request vs bare: limiter off {per_req['hook, limiter off']:.0f} us, "
        f"limiter on {per_req['hook, limiter on']:.0f} us (the limiter's file transaction: "
        f"{per_req['hook, limiter on'] - per_req['hook, limiter off']:.0f} us)"
    )
    new_conns = after_hook[0]
    print(
        f"  hook connections opened (urllib3 pool): {new_conns} for {after_hook[1]} requests "
        f"({after_hook[0] - before_hook[0]} during the timed part); bare session: {bare_pool[0]} for {bare_pool[1]}"
    )
    print(
        f"  sandbox saw {sum(1 for r in log if r['route'] == '/api/v1/instances')} GET /instances, all "
        f"{'200' if all(r['status'] == 200 for r in log) else 'NOT 200'}"
    )
    print(f"  one reservation of a host-file limiter (booking only, no waiting): {limiter_cost_us():.0f} us")
    print(
        f"  at the default 10 requests/s, {default_run[0]} sequential requests took {default_run[1]:.2f} s "
        "(the limit itself: 10 at once, the next 10 one window of 1.04 s later)"
    )
    ok = ratio <= 1.2 and new_conns == 1
    c.result(
        "hook_overhead",
        f"limiter off {ratio:.2f}x bare requests.Session ({per_req['hook, limiter off']:.0f} us/request), "
        f"limiter on {ratio_on:.2f}x; {new_conns} connection(s) for {after_hook[1]} requests",
        "limiter off <= 1.2x and 1 kept-alive connection; limiter on printed",
        ok,
        smoke,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

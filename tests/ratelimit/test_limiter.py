"""KeyRateLimiter waiting for real: threads and coroutines, in memory and through the host file.

Every assertion is on times the limiter itself handed out (a permit's slot and grant time, on the
store's clock) or on a virtual clock, never on how long something took: the invariants hold on a loaded
machine exactly as on an idle one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from airflow_provider_msgflash.ratelimit import FileStore, KeyRateLimiter, MemoryStore, Permit, Policy
from tests.ratelimit.ratelimit_kit import FakeClock, VirtualTimeLoop, busiest, run_virtual

#: MsgFlash's own rate-limit answer (a gateway's bare 429 does not cut the key's limit).
RATE_LIMITED = '{"error": {"code": "API_RATE_LIMIT_EXCEEDED", "message": "slow down"}}'

STORES = ["memory", "file"]


def make(kind: str, tmp_path, clock: Callable[[], float], rate: float = 10, **kw) -> KeyRateLimiter:
    store = FileStore(str(tmp_path / "key.state"), clock=clock) if kind == "file" else MemoryStore(clock)
    return KeyRateLimiter(rate, store=store, **kw)


def assert_server_safe(lim: KeyRateLimiter, permits: list[Permit]) -> None:
    """Each request left within ``late`` of its slot, and no one-second window (plus half the margin)
    of the server's could see more than the rate."""
    pol = lim.policy
    assert pol is not None
    assert all(0 <= p.at - p.slot <= pol.late for p in permits)
    assert busiest([p.at for p in permits], 1.0 + pol.margin / 2) <= lim.rate


# --------------------------------------------------------------------------------------------------
# Queues of 10,000
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", STORES)
def test_10000_coroutines_on_one_loop_send_at_most_the_rate_per_window(kind, tmp_path) -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[KeyRateLimiter, list[Permit], float]:
        lim = make(kind, tmp_path, loop.time)
        t0 = loop.time()
        permits = await asyncio.gather(*(lim.acquire_async() for _ in range(10_000)))
        return lim, permits, loop.time() - t0

    lim, permits, took = run_virtual(main)
    assert_server_safe(lim, permits)
    assert busiest([p.at for p in permits], lim.window) == 10  # and the limit is used in full
    assert took == pytest.approx(999 * lim.window)  # one chain: no slot wasted, none doubled
    assert lim.rebooks == 0
    if kind == "file":
        assert lim.store.resets == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", STORES)
def test_a_queue_of_10000_bookings_is_one_chain(kind, tmp_path) -> None:
    clock = FakeClock()
    lim = make(kind, tmp_path, clock)
    delays = [lim.reserve() for _ in range(10_000)]  # ten thousand holders, nobody has sent yet
    slots = [clock.now + d for d in delays]
    assert busiest(slots, lim.window) == 10
    assert delays[-1] == pytest.approx(999 * lim.window)  # 17 minutes ahead, still the same chain
    if kind == "file":
        assert lim.store.resets == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", STORES)
def test_threads_share_one_limit(kind, tmp_path) -> None:
    import time

    lim = make(kind, tmp_path, time.monotonic, rate=100)
    permits: list[Permit] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(30):
            p = lim.acquire()
            with lock:
                permits.append(p)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(permits) == 240
    # 240 at 100 per window: three windows' slots, and no late thread sent out of its slot.
    slots = sorted(p.slot for p in permits)
    assert slots[-1] - slots[0] >= 2 * lim.window - 1e-9
    assert busiest(slots, lim.window) == 100
    assert_server_safe(lim, permits)


# --------------------------------------------------------------------------------------------------
# Late wake-ups
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", STORES)
def test_a_stalled_event_loop_releases_no_burst(kind, tmp_path) -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[KeyRateLimiter, list[Permit]]:
        lim = make(kind, tmp_path, loop.time)
        # A callback that blocks the loop for 330 ms just before the second window's slots.
        loop.call_at(loop.time() + lim.window - 0.1, loop.stall, 0.33)
        permits = await asyncio.gather(*(lim.acquire_async() for _ in range(60)))
        return lim, permits

    lim, permits = run_virtual(main)
    assert lim.rebooks >= 10  # the second window's ten woke late and queued again
    assert_server_safe(lim, permits)


@pytest.mark.parametrize("kind", STORES)
def test_a_loop_stalled_right_after_immediate_grants_sends_no_burst(kind, tmp_path) -> None:
    """A thousand triggers starting at once: the first window's permits are granted at once, then the
    loop is busy for 330 ms before those requests can leave (a request leaves at least one loop turn
    after its permit: connecting, writing). They must not leave late on top of the next window."""

    async def main(loop: VirtualTimeLoop) -> tuple[KeyRateLimiter, list[float]]:
        lim = make(kind, tmp_path, loop.time)
        sent: list[float] = []

        async def request() -> None:
            await lim.acquire_async()
            await asyncio.sleep(0)  # the request goes out when the loop next gets to it
            sent.append(loop.time())

        tasks = [asyncio.ensure_future(request()) for _ in range(40)]
        loop.call_soon(loop.stall, 0.33)  # runs right after every task's first step
        await asyncio.gather(*tasks)
        return lim, sent

    lim, sent = run_virtual(main)
    assert len(sent) == 40
    assert lim.rebooks >= 10  # the first window's ten saw the stall and queued again
    assert busiest(sent, 1.0 + lim.policy.margin / 2) <= 10  # type: ignore[union-attr]


def test_a_thread_that_wakes_late_queues_again() -> None:
    clock = FakeClock()
    oversleep = iter([0.3])

    def sleep(seconds: float) -> None:  # the first wait overruns by 300 ms (a busy machine)
        clock.sleep(seconds + next(oversleep, 0.0))

    lim = KeyRateLimiter(10, clock=clock, sleep=sleep)
    queued = [lim.reserve() for _ in range(20)]  # 10 now, 10 booked at +W by other holders
    assert queued[10:] == pytest.approx([lim.window] * 10)
    permits = [lim.acquire() for _ in range(5)]
    assert lim.rebooks == 1
    # Its slot at +W was taken by ten others already: it went after them, not in the same window.
    assert permits[0].at == pytest.approx(1000.0 + 2 * lim.window + 0.3)
    assert_server_safe(lim, permits)


# --------------------------------------------------------------------------------------------------
# Adaptive limit through the limiter's own API
# --------------------------------------------------------------------------------------------------
def test_a_429_cuts_the_rate_and_it_grows_back() -> None:
    clock = FakeClock()
    lim = KeyRateLimiter(10, clock=clock, sleep=clock.sleep)
    burst = [lim.acquire() for _ in range(10)]
    lim.report(burst[-1], 429, RATE_LIMITED)
    for p in burst[:-1]:
        lim.report(p, 429, RATE_LIMITED)  # the same burst's other 429s: one cut is enough
    assert (lim.cuts, lim.limit) == (1, 7.0)
    permits = []
    for _ in range(200):
        p = lim.acquire()
        lim.report(p, 200, "{}")
        permits.append(p)
    # 7 per window right after the cut, growing by a quarter request per second, back to 10 after 12 s.
    assert busiest([p.at for p in permits[:14]], lim.window) == 7
    assert lim.limit == 10.0
    assert busiest([p.at for p in permits[-40:]], lim.window) == 10
    assert lim.cuts == 1


async def test_coroutines_report_429s_too() -> None:
    lim = KeyRateLimiter(10, store=MemoryStore())
    permit = await lim.acquire_async()
    await lim.report_async(permit, 429, RATE_LIMITED)
    await lim.report_async(permit, 429, RATE_LIMITED)
    assert lim.cuts == 1
    assert lim.limit < 10


def test_a_gateways_bare_429_does_not_cut_the_keys_limit() -> None:
    """A 429 without MsgFlash's envelope comes from a gateway in front of the service, not from another
    client on the key: the request's own retry backs off, the key's limit stays (no starving)."""
    clock = FakeClock()
    lim = KeyRateLimiter(10, clock=clock, sleep=clock.sleep)
    for body in ("", "<html><body><h1>429 Too Many Requests</h1></body></html>", "Too Many Requests"):
        lim.report(lim.acquire(), 429, body)
    assert (lim.cuts, lim.limit) == (0, 10.0)
    lim.report(lim.acquire(), 429, RATE_LIMITED)
    assert lim.cuts == 1


def test_the_monthly_quota_does_not_slow_the_key_down() -> None:
    clock = FakeClock()
    lim = KeyRateLimiter(10, clock=clock, sleep=clock.sleep)
    p = lim.acquire()
    lim.report(p, 429, '{"error": {"code": "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", "message": "used up"}}')
    assert (lim.cuts, lim.limit) == (0, 10.0)


def test_a_fixed_limiter_ignores_429s() -> None:
    clock = FakeClock()
    lim = KeyRateLimiter(10, adaptive=False, clock=clock, sleep=clock.sleep)
    lim.report(lim.acquire(), 429, "")
    assert (lim.cuts, lim.limit) == (0, 10.0)


def test_rate_zero_is_off() -> None:
    clock = FakeClock()
    lim = KeyRateLimiter(0, clock=clock, sleep=clock.sleep)
    assert [lim.reserve() for _ in range(1000)] == [0.0] * 1000
    for _ in range(50):
        lim.report(lim.acquire(), 429, "")
    assert clock.slept == [] and lim.waits == 0 and lim.cuts == 0
    assert asyncio.run(lim.acquire_async()).gen == -1


def test_a_custom_policy_is_used_as_given() -> None:
    clock = FakeClock()
    lim = KeyRateLimiter(0, policy=Policy(rate=4, margin=0.1, beta=0.5), clock=clock, sleep=clock.sleep)
    assert (lim.rate, lim.window) == (4, 1.1)
    burst = [lim.acquire() for _ in range(4)]
    lim.report(burst[0], 429, RATE_LIMITED)
    assert lim.limit == 2.0


# --------------------------------------------------------------------------------------------------
# Several processes on one file
# --------------------------------------------------------------------------------------------------
def _book_in_child(path: str, n: int, start: object) -> list[float]:
    from airflow_provider_msgflash.ratelimit import book

    store, pol = FileStore(path), Policy(rate=10)
    start.wait(30)  # type: ignore[attr-defined]
    return [store.run(lambda st, now: book(st, pol, now)) for _ in range(n)]


def test_processes_on_one_file_book_one_chain(tmp_path) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    path = str(tmp_path / "shared.state")
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(3, mp_context=ctx) as pool:
        start = manager.Event()
        futures = [pool.submit(_book_in_child, path, 400, start) for _ in range(3)]
        start.set()
        slots = sorted(s for f in futures for s in f.result(timeout=120))
    assert len(slots) == 1200
    assert busiest(slots, Policy(rate=10).window(10)) == 10
    assert os.stat(path).st_mode & 0o777 == 0o600

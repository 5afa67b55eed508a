"""The moving parts of bench_many_hosts.py: the host process (pollers on an event loop, tasks in threads),
starting several of them in step, and a private Redis server for the shared-limiter configuration."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import _common as c

CONN_ID = "bench_hosts"


# --------------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------------
def create_lookups(sb: Any, key: str, n: int) -> list[str]:
    """``n`` asynchronous lookups for the pollers to follow (created through their own key)."""
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    c.set_connection("bench_hosts_create", sb, key, requests_per_second=0)
    hook = MsgFlashHook("bench_hosts_create")
    iid = sb.instance_id("sandbox-connected")
    return [hook.create_number_lookup(iid, c.numbers(100, start=i * 100))["lookupId"] for i in range(n)]


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[tuple[int, str]], idx: int) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put((idx, line.rstrip("\n")))
    lines.put((idx, "EOF"))


def _collect(lines: queue.Queue[tuple[int, str]], tag: str, n: int, timeout: float) -> list[str]:
    """The first line starting with ``tag`` from each of ``n`` hosts (raises on timeout or early exit)."""
    got: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while len(got) < n:
        try:
            idx, line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"hosts did not report {tag} within {timeout:.0f} s") from None
        if line == "EOF" and idx not in got:
            raise RuntimeError(f"host {idx} exited before {tag}")
        if line.startswith(tag):
            got[idx] = line[len(tag) :].strip()
    return [got[i] for i in range(n)]


def run_hosts(spec: dict[str, Any], n: int, tmp: str) -> list[dict[str, Any]]:
    """Start ``n`` host processes (each with TMPDIR under ``tmp``), start them in step, return reports."""
    procs: list[subprocess.Popen[str]] = []
    lines: queue.Queue[tuple[int, str]] = queue.Queue()
    try:
        for i in range(n):
            env = {**os.environ, "TMPDIR": os.path.join(tmp, f"host{i}")}
            os.makedirs(env["TMPDIR"])
            cmd = [sys.executable, os.path.join(os.path.dirname(__file__), "bench_many_hosts.py")]
            proc = subprocess.Popen(
                [*cmd, "--host-worker", json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            procs.append(proc)
            threading.Thread(target=_pump, args=(proc, lines, i), daemon=True).start()
        _collect(lines, "READY", n, 300)
        t_start = time.time() + 1.0
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{t_start}\n")
            proc.stdin.flush()
        return [json.loads(r) for r in _collect(lines, "REPORT", n, spec["seconds"] + 300)]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)


@contextlib.contextmanager
def maybe_redis(wanted: bool) -> Iterator[str | None]:
    """A private redis-server on a free loopback port (its URL), or None when not wanted or not installed."""
    exe = shutil.which("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        exe = None
    if not wanted or exe is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, 15.0)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(15)


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on port {port} within {timeout:.0f} s")


# --------------------------------------------------------------------------------------------------
# Host side
# --------------------------------------------------------------------------------------------------
def install_limiter(spec: dict[str, Any]) -> None:
    """Pick the limiter configuration this host runs with."""
    conn = dict(spec["conn"])
    conn["extra"] = dict(conn.get("extra") or {})
    if spec["config"] == "redis":
        conn["extra"]["rate_limit_backend"] = spec["redis_url"]
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
    if spec["config"] == "fixed" or spec.get("policy"):
        # "fixed": the provider before AIMD (its own limiter, never adapting); a policy: AIMD variants.
        from airflow_provider_msgflash import ratelimit

        key, rate = conn["password"], 10.0
        fp = ratelimit.key_fingerprint(key)
        pol = ratelimit.Policy(rate=rate, adaptive=spec["config"] != "fixed", **(spec.get("policy") or {}))
        ratelimit._registry[(fp, rate, "host")] = ratelimit.KeyRateLimiter(
            rate, shared_file=ratelimit.shared_limit_file(fp, rate), policy=pol, name=fp
        )


def host_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    c.quiet_logs()
    c.allow_direct_execute()
    install_limiter(spec)
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    MsgFlashHook(CONN_ID).settings  # noqa: B018 - read the connection before the start line
    sent: list[float] = []
    limited: list[float] = []
    record_requests(MsgFlashHook(CONN_ID).limiter, sent, limited)
    print("READY", flush=True)
    t_start = float(sys.stdin.readline())
    rep: dict[str, Any] = {"t_start": t_start, "polls_ok": 0, "polls_failed": 0, "runs_ok": 0, "runs_failed": 0}
    rep["errors"] = []
    deadline = t_start + spec["seconds"]
    lock = threading.Lock()
    threads = [
        threading.Thread(target=task_loop, args=(i, spec, t_start, deadline, rep, lock), daemon=True)
        for i in range(spec["tasks"])
    ]
    for t in threads:
        t.start()
    asyncio.run(pollers(spec, t_start, deadline, rep))
    for t in threads:
        t.join(max(1.0, deadline + 240 - time.time()))
    lim = MsgFlashHook(CONN_ID).limiter
    rep["cuts"], rep["rebooks"], rep["waits"] = lim.cuts, lim.rebooks, lim.waits
    # When this host sent each request and got each 429 (seconds since the start), for --chart.
    rep["sent"] = [round(t - t_start, 3) for t in sent]
    rep["limited"] = [round(t - t_start, 3) for t in limited]
    print("REPORT " + json.dumps(rep), flush=True)
    return 0


def record_requests(lim: Any, sent: list[float], limited: list[float]) -> None:
    """Note the time of every request this host's limiter lets through, and of every 429 it is told of (the
    hooks report each 429 to the limiter), by wrapping the limiter's own methods."""
    acquire, acquire_async, report, report_async = lim.acquire, lim.acquire_async, lim.report, lim.report_async

    def acquire_noted() -> Any:
        permit = acquire()
        sent.append(time.time())
        return permit

    async def acquire_async_noted() -> Any:
        permit = await acquire_async()
        sent.append(time.time())
        return permit

    def report_noted(permit: Any, status: int, text: str = "") -> None:
        if status == 429:
            limited.append(time.time())
        report(permit, status, text)

    async def report_async_noted(permit: Any, status: int, text: str = "") -> None:
        if status == 429:
            limited.append(time.time())
        await report_async(permit, status, text)

    lim.acquire, lim.acquire_async, lim.report, lim.report_async = (
        acquire_noted, acquire_async_noted, report_noted, report_async_noted,
    )  # fmt: skip


def task_loop(
    i: int, spec: dict[str, Any], t_start: float, deadline: float, rep: dict[str, Any], lock: threading.Lock
) -> None:
    from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

    op = MsgFlashNumberLookupOperator(
        task_id=f"lookup_{i}",
        instance_id=spec["instance_id"],
        numbers=c.numbers(20, start=1_000_000 + i * 1000),
        msgflash_conn_id=CONN_ID,
        deferrable=False,
    )
    time.sleep(max(0.0, t_start + random.uniform(0, 1.0) - time.time()))
    while time.time() < deadline:
        try:
            op.execute(c.fake_context())
            outcome = "runs_ok"
        except Exception as e:
            outcome = "runs_failed"
            rep["errors"].append(f"task: {type(e).__name__}: {e}"[:300])
        with lock:
            rep[outcome] += 1
        time.sleep(spec["pause"])


async def pollers(spec: dict[str, Any], t_start: float, deadline: float, rep: dict[str, Any]) -> None:
    from airflow_provider_msgflash.exceptions import MsgFlashError
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, close_shared_session

    async def one(i: int) -> None:
        hook = MsgFlashAsyncHook(CONN_ID)
        lookup = spec["lookups"][i % len(spec["lookups"])]
        nxt = t_start + random.uniform(0, 1.0)  # the fan-out of a DAG run: all within one second
        while True:
            await asyncio.sleep(max(0.0, nxt - time.time()))
            if time.time() >= deadline:
                return
            try:
                await hook.get_number_lookup_progress(lookup)
                rep["polls_ok"] += 1
            except MsgFlashError as e:
                rep["polls_failed"] += 1
                rep["errors"].append(f"poll: {e}"[:300])
            nxt = time.time() + spec["interval"]

    try:
        await asyncio.gather(*(one(i) for i in range(spec["pollers"])))
    finally:
        await close_shared_session()

"""Big lookups: 100,000 numbers through one MsgFlashNumberLookupOperator (deferrable=False, result_path set),
with local paths and with ``s3://`` paths, side by side.

The operator splits the numbers into 10 lookups of 10,000, submits them as the key's rate limit allows,
waits in the worker with the lookup trigger's adaptive schedule, then fetches each lookup's result and
streams it to a JSON Lines file. Storage modes (``--storage``), each in a process of its own with a sandbox
of its own (REALISTIC pace by default: 1 s per batch of 20, each 10,000-number lookup takes ~501 s, the ten
run side by side; rate limit 10 req/s), all at the same time:

- ``local``: ``numbers=`` a list built before the measurement, ``result_path`` a local file (the figure
  this benchmark always gave);
- ``local-file``: ``numbers_file`` a local ``.txt``, ``result_path`` a local file;
- ``s3``: ``numbers_file`` ``s3://.../results.txt`` and ``result_path`` ``s3://.../results.jsonl``;
- ``s3-out`` (``numbers=`` a list, ``result_path`` in S3) and ``s3-in`` (``numbers_file`` in S3, results
  local): one side in S3 each, to tell the writer's cost from the reader's.
S3 is a moto server with IAM (tests/storage/s3_server.py) in its OWN process (a server inside a measured
process would be traced with it), reached through an ``aws`` connection (``storage_conn_id``).

Measured in each: wall time of ``execute()`` vs the sandbox's own processing time for the same numbers
(earliest ``createdAt`` to latest ``completedAt``; goal <= 1.1x); the task's peak memory: tracemalloc peak
during ``execute()`` and the peak RSS growth (sampled every 50 ms), beyond what the process held before,
in bytes per number. Reference: ONE copy of the 100,000 numbers held as Python strings in a list (what a
task that collected all results before writing would need at least). A small warm-up lookup runs first
through the same storage (quick pace, another key), so that modules loaded on first use are not counted.

Goals: each mode's wall time <= 1.1x the sandbox's; ``local``: peak below one copy of the numbers (the
task streams its results); ``s3``: "the figure per number holds with s3:// paths", judged against
``local-file`` (the same input argument, only the storage differs): s3 peak <= local-file peak + 10 %.
The differences between modes isolate the costs (printed): ``local-file - local`` what reading
``numbers_file`` holds, ``s3-out - local`` the S3 writer, ``s3-in - local-file`` the S3 reader
(bench_storage.py measured the writer alone at ~17 MB whatever the size).

Usage: ``.venv/bin/python benchmarks/bench_big_lookup.py [--numbers 100000] [--pace realistic]
[--storage local,local-file,s3,s3-out,s3-in]`` (about 9-10 minutes at the realistic pace, the modes run at
the same time; ``--pace 0.1`` takes about a minute, and the output says which pace ran; ``--smoke``: 120
numbers at 0.005 s per batch, every mode, a few seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as c

c.prepare_airflow_env()

MODES = {
    "local": "numbers= a list, result_path a local file",
    "local-file": "numbers_file a local .txt, result_path a local file",
    "s3": "numbers_file and result_path s3:// (moto in its own process)",
    "s3-out": "numbers= a list, result_path s3://",
    "s3-in": "numbers_file s3://, result_path a local file",
}
#: What the difference between two modes' peaks isolates: (name, mode, minus mode).
DIFFERENCES = (
    ("reading numbers_file into the task", "local-file", "local"),
    ("the S3 result writer", "s3-out", "local"),
    ("the S3 numbers reader", "s3-in", "local-file"),
    ("s3:// for both (the goal's comparison)", "s3", "local-file"),
)
S3_CONN = "bench_s3"
S3_ENV = "MSGFLASH_BENCH_S3"  # the S3 server's url, key pair and bucket, for a child process
CHILD_MARK = "CHILD_RESULT "


def reference_bytes(nums: list[str]) -> int:
    """Memory of one full copy of the results: every number as a str, in a list."""
    return sum(sys.getsizeof(n) for n in nums) + 8 * len(nums) + 56


# -- one mode, in a child process --------------------------------------------------------------------
class Storage:
    """Where one mode's numbers come from and its results go, and how to read the results back."""

    def __init__(self, mode: str, folder: str) -> None:
        self.mode, self.folder = mode, folder
        self.s3_in, self.s3_out = mode in ("s3", "s3-in"), mode in ("s3", "s3-out")
        self.s3: Any = None
        if self.s3_in or self.s3_out:
            from tests.storage.s3_server import S3Server

            doc = json.loads(os.environ[S3_ENV])
            self.s3, self.bucket = S3Server(doc["url"], doc["access_key"], doc["secret_key"]), doc["bucket"]
            os.environ[f"AIRFLOW_CONN_{S3_CONN.upper()}"] = self.s3.connection_json()

    def location(self, name: str, remote: bool) -> str:
        if remote:
            return f"s3://{self.bucket}/{os.getpid()}/{name}"
        return os.path.join(self.folder, name)

    def put_numbers(self, name: str, nums: list[str]) -> str:
        """Write ``nums`` as a ``.txt`` (one per line) where this mode reads numbers; returns its location."""
        body = ("\n".join(nums) + "\n").encode()
        where = self.location(name, self.s3_in)
        if self.s3_in:
            self.s3.client().put_object(Bucket=self.bucket, Key=where.split("/", 3)[3], Body=body)
        else:
            with open(where, "wb") as f:
                f.write(body)
        return where

    def operator_args(self, nums: list[str], tag: str) -> dict[str, Any]:
        """The operator's input and output arguments for this mode."""
        args: dict[str, Any] = {"result_path": self.location(f"{tag}.jsonl", self.s3_out)}
        if self.mode in ("local", "s3-out"):
            args["numbers"] = nums
        else:
            args["numbers_file"] = self.put_numbers(f"{tag}.txt", nums)
        if self.s3 is not None:
            args["storage_conn_id"] = S3_CONN
        return args

    def result_lines(self, where: str) -> tuple[int, int, dict[str, int]]:
        """(lines, bytes, count per status) of a result file."""
        statuses: dict[str, int] = {}
        lines = size = 0
        if self.s3_out:
            body = self.s3.client().get_object(Bucket=self.bucket, Key=where.split("/", 3)[3])["Body"]
            source = body.iter_lines()
        else:
            source = open(where, "rb")  # noqa: SIM115 (closed below)
        try:
            for line in source:
                if line.strip():
                    lines, size = lines + 1, size + len(line) + 1
                    st = json.loads(line)["status"]
                    statuses[st] = statuses.get(st, 0) + 1
        finally:
            if hasattr(source, "close"):
                source.close()
        return lines, size, statuses


def traced_execute(op: Any) -> dict[str, Any]:
    """``op.execute()`` with its wall time, tracemalloc peak and peak RSS growth (sampled every 50 ms)."""
    gc.collect()
    rss0 = c.rss_bytes()
    rss_peak = [rss0]
    sampling = threading.Event()

    def sample_rss() -> None:
        while not sampling.wait(0.05):
            rss_peak[0] = max(rss_peak[0], c.rss_bytes())

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    tracemalloc.start()
    c.say("execute() starts")
    t0 = time.time()
    try:
        summary = op.execute(c.fake_context())
    finally:
        wall = time.time() - t0
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        sampling.set()
        sampler.join()
    c.say(f"execute() returned after {wall:.1f} s")
    return {"summary": summary, "wall": wall, "traced_peak": traced_peak, "rss_growth": rss_peak[0] - rss0}


def run_mode(mode: str, n: int, pace: Any, timeout: float) -> dict[str, Any]:
    """One mode, measured: the figures as a JSON-able dict."""
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
    from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

    c.quiet_logs()
    c.allow_direct_execute()
    key, reader_key = c.new_key(), c.new_key()
    storage = Storage(mode, tempfile.mkdtemp(prefix=f"msgflash-bench-big-{mode}-"))
    nums = c.numbers(n)
    sb = c.start_sandbox([key, reader_key], pace=pace, rate_limit=10)
    try:
        iid = sb.instance_id("sandbox-connected")
        c.set_connection("bench_big", sb, key)
        c.set_connection("bench_reader", sb, reader_key)
        # Warm-up (not measured): a small lookup through the same storage at a quick pace, so that what the
        # task loads on first use (aiohttp, s3fs, ...) is a fixed cost outside the measurement.
        sb.set_faults(pace=0.05)
        warm = storage.operator_args(c.numbers(150, prefix="+41796"), "warm_up")
        MsgFlashNumberLookupOperator(
            task_id="warm_up", instance_id=iid, msgflash_conn_id="bench_reader", deferrable=False, **warm
        ).execute(c.fake_context())
        sb.set_faults(pace=pace)
        args = storage.operator_args(nums, "results")
        op = MsgFlashNumberLookupOperator(
            task_id="big_lookup",
            instance_id=iid,
            msgflash_conn_id="bench_big",
            deferrable=False,
            timeout=timeout,
            xcom_numbers_limit=1000,
            **args,
        )
        out = traced_execute(op)
        reader = MsgFlashHook("bench_reader")
        progress = [reader.get_number_lookup_progress(lid) for lid in out["summary"]["lookup_ids"]]
        span = max(c.parse_iso(p["completedAt"]) or 0.0 for p in progress) - min(
            c.parse_iso(p["createdAt"]) or 0.0 for p in progress
        )
        log = c.all_requests(sb)
    finally:
        sb.stop()
    fp = c.fingerprint(key)
    by_route: dict[str, int] = {}
    for r in (r for r in log if r["key"] == fp):
        by_route[f"{r['method']} {r['route']}"] = by_route.get(f"{r['method']} {r['route']}", 0) + 1
    lines, size, statuses = storage.result_lines(args["result_path"])
    summary = out.pop("summary")
    correct = (
        summary["status"] == "done"
        and lines == n
        and summary["counts"]["checked"] == n
        and statuses.get("on_whatsapp", 0) == sum(1 for x in nums if x[-1] in "02468")
    )
    return {
        **out,
        "mode": mode,
        "numbers": n,
        "span": span,
        "lookups": len(summary["lookup_ids"]),
        "by_route": by_route,
        "lines": lines,
        "result_mb": size / 2**20,
        "statuses": statuses,
        "correct": correct,
        "reference": reference_bytes(nums),
        "result_path": args["result_path"],
    }


# -- the parent: the modes side by side ----------------------------------------------------------------
def run_children(modes: list[str], args: argparse.Namespace, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each mode in its own process, all at once; their output lines prefixed with the mode."""
    procs = {}
    for mode in modes:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--numbers", str(args.numbers)]
        cmd += ["--pace", str(args.pace), "--timeout", str(args.timeout)]
        procs[mode] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results: dict[str, dict[str, Any]] = {}
    tails: dict[str, list[str]] = {m: [] for m in modes}

    def pump(mode: str) -> None:
        stream = procs[mode].stdout
        assert stream is not None
        for line in stream:
            if line.startswith(CHILD_MARK):
                results[mode] = json.loads(line[len(CHILD_MARK) :])
            elif "did not expect" not in line:
                tails[mode] = [*tails[mode][-30:], line.rstrip()]
                print(f"  [{mode}] {line.rstrip()}", flush=True)

    pumps = [threading.Thread(target=pump, args=(m,)) for m in modes]
    for t in pumps:
        t.start()
    for proc in procs.values():
        try:
            proc.wait(timeout=args.timeout + 300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for t in pumps:
        t.join()
    missing = [m for m in modes if m not in results]
    if missing:
        raise RuntimeError(f"mode(s) {', '.join(missing)} gave no result:\n" + "\n".join(tails[missing[0]]))
    return results


def per_number(value: float, n: int) -> str:
    return f"{value / 2**20:.1f} MB = {value / n:.0f} B/number"


def report(results: dict[str, dict[str, Any]], pace: Any) -> None:
    modes = list(results)
    n = results[modes[0]]["numbers"]
    ref = results[modes[0]]["reference"]
    rows = [
        ["lookups (requests)", *(f"{r['lookups']} ({sum(r['by_route'].values())} requests)" for r in results.values())],
        ["execute() wall time", *(f"{r['wall']:.1f} s" for r in results.values())],
        ["sandbox processing (first createdAt -> last completedAt)", *(f"{r['span']:.1f} s" for r in results.values())],
        ["wall / sandbox (goal <= 1.1x)", *(f"{r['wall'] / r['span']:.3f}x" for r in results.values())],
        ["result file", *(f"{r['lines']:,} lines, {r['result_mb']:.1f} MB" for r in results.values())],
        ["tracemalloc peak during execute()", *(per_number(r["traced_peak"], n) for r in results.values())],
        ["peak RSS growth (sampled every 50 ms)", *(per_number(r["rss_growth"], n) for r in results.values())],
        ["results correct (every number, statuses)", *("yes" if r["correct"] else "NO" for r in results.values())],
    ]  # fmt: skip
    c.table(rows, ["figure", *modes])
    print(f"  reference: one copy of the {n:,} numbers as str in a list = {per_number(ref, n)}.")
    peak = {m: r["traced_peak"] for m, r in results.items()}
    for what, mode, base in DIFFERENCES:
        if mode in peak and base in peak:
            d = peak[mode] - peak[base]
            print(f"  {what} ({mode} - {base}): {d / 2**20:+.1f} MB = {d / n:+.0f} B/number "
                  f"({d / ref:.2f} copies of the numbers).")  # fmt: skip
    if pace != "realistic":
        print(f"  NOTE: sandbox pace {pace} s per batch of 20, not the realistic 1 s.")


def verdict(results: dict[str, dict[str, Any]]) -> tuple[str, bool]:
    """The RESULT figures and whether every goal that applies was met; prints one line per goal."""
    ok, parts = True, []
    for m, r in results.items():
        ratio, per = r["wall"] / r["span"], r["traced_peak"] / r["numbers"]
        ok &= r["correct"] and ratio <= 1.1
        parts.append(f"{m}: {ratio:.3f}x wall, peak {r['traced_peak'] / 2**20:.1f} MB ({per:.0f} B/number)")
    first = next(iter(results.values()))
    ref, n = first["reference"], first["numbers"]
    if "local" in results:
        peak = results["local"]["traced_peak"]
        ok &= peak < ref
        print(f"  goal, local: peak below one copy of the numbers: {peak / n:.0f} vs {ref / n:.0f} B/number: "
              f"{'PASS' if peak < ref else 'MISS'}")  # fmt: skip
    if "s3" in results and "local-file" in results:
        s3, lf = results["s3"]["traced_peak"], results["local-file"]["traced_peak"]
        ok &= s3 <= 1.1 * lf
        parts.append(f"s3/local-file peak {s3 / lf:.2f}x")
        print(f"  goal, s3: the figure per number holds with s3:// paths (s3 <= 1.1x local-file): {s3 / n:.0f} vs "
              f"{lf / n:.0f} B/number = {s3 / lf:.2f}x: {'PASS' if s3 <= 1.1 * lf else 'MISS'}; against one copy\n"
              f"  of the numbers ({ref / n:.0f} B/number): {s3 / ref:.2f}x. The differences say why.")  # fmt: skip
    parts.append(f"one copy of the numbers {ref / n:.0f} B/number")
    return "; ".join(parts), ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=100_000)
    ap.add_argument("--pace", default="realistic", help="sandbox pace: realistic (1 s per 20), fast, or seconds")
    ap.add_argument("--timeout", type=float, default=570.0, help="the operator's timeout (seconds)")
    ap.add_argument("--storage", default=",".join(MODES), help=f"modes, comma-separated: {', '.join(MODES)}")
    ap.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    c.add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.numbers, args.pace, args.timeout = 120, "0.005", 120.0
    pace: Any = args.pace if args.pace in ("realistic", "fast", "instant") else float(args.pace)
    if args.child:
        print(CHILD_MARK + json.dumps(run_mode(args.child, args.numbers, pace, args.timeout)), flush=True)
        return 0
    modes = [m.strip() for m in args.storage.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        ap.error(f"--storage takes {', '.join(MODES)}; got {args.storage!r}")
    c.banner(
        f"bench_big_lookup: {args.numbers:,} numbers through one operator, by storage",
        numbers=f"{args.numbers:,} (split into lookups of 10,000), deferrable=False, result_path set",
        modes=", ".join(f"{m} ({MODES[m]})" for m in modes),
        sandbox=f"one per mode (own process), pace {pace} (s per batch of 20), rate limit 10 req/s per key",
    )
    env = dict(os.environ)
    from tests.storage.s3_server import running_s3

    # moto in its own process (only when a mode needs it): a server in a measured process would be traced.
    with running_s3(own_process=True) if any(m.startswith("s3") for m in modes) else contextlib.nullcontext() as s3:
        if s3 is not None:
            env[S3_ENV] = json.dumps(
                {"url": s3.url, "access_key": s3.access_key, "secret_key": s3.secret_key, "bucket": s3.new_bucket()}
            )
        got = run_children(modes, args, env)
    results = {m: got[m] for m in modes}
    report(results, pace)
    text, ok = verdict(results)
    goal = "wall <= 1.1x; local peak < one copy of the numbers; s3 peak <= 1.1x local-file peak"
    c.result("big_lookup", f"{text} (pace {pace})", goal, ok, args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())

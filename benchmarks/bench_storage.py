"""Object storage: numbers in and JSON Lines out through ``s3://`` (a loopback moto S3 server in this process)
next to the same through local paths, with ``airflow_provider_msgflash.storage``.

Measured in one run, for two sizes side by side (100,000 and 500,000 numbers by default):
- peak traced memory (tracemalloc) while streaming every number out of a ``.txt`` and a ``.csv`` file, and
  while writing every number's result line with ``JsonLinesWriter`` in chunks of 10,000 (one lookup's result,
  as the operator writes them), in bytes per number, and the wall time of each;
- the reference: one copy of the numbers held in memory as a list of ``str`` (what a reader or writer that
  did not stream would need at least).
Goal: streams, i.e. at the larger size every peak stays below one copy of the numbers, and growing the input
5x grows no peak by more than 1.5x (a non-streaming reader or writer grows linearly).

What to expect: the S3 writer holds one upload part (5 MiB, S3's smallest multipart part, which s3fs copies
while sending it), about 17 MB whatever the size, so its figure per number is high for small results (171
B/number at 100,000) and falls as results grow. Readers hold their 1 MiB read block at most.

The moto server runs in its own process, so only the client's memory is traced. The input lists are built
before tracing.

Usage: ``.venv/bin/python benchmarks/bench_storage.py [--sizes 100000,500000]`` (about a minute);
``--smoke`` runs 2,000 and 10,000 numbers (a few seconds, to check the benchmark itself works).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _common as c

c.prepare_airflow_env()

CHUNK = 10_000
CONN = "bench_s3"


def traced(fn: Callable[[], Any]) -> tuple[int, float]:
    """(peak traced bytes, seconds) of ``fn()``, counting only what it allocates."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    fn()
    took = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, took


def count(it: Any) -> int:
    n = 0
    for _ in it:
        n += 1
    return n


def write_all(location: str, nums: list[str], conn_id: str | None) -> None:
    from airflow_provider_msgflash.storage import JsonLinesWriter

    w = JsonLinesWriter(location, conn_id)
    for i in range(0, len(nums), CHUNK):
        w.write(nums[i : i + CHUNK], "on_whatsapp", f"lk_{i // CHUNK}")
    w.close()
    assert w.lines == len(nums)


def measure(n: int, s3: Any, bucket: str, folder: str) -> dict[str, tuple[int, float]]:
    from airflow_provider_msgflash.storage import iter_numbers

    nums = c.numbers(n)
    txt = "\n".join(nums) + "\n"
    csv_text = "name,phone\n" + "".join(f"n{i},{x}\n" for i, x in enumerate(nums))
    client = s3.client()
    client.put_object(Bucket=bucket, Key=f"{n}/leads.txt", Body=txt.encode())
    client.put_object(Bucket=bucket, Key=f"{n}/leads.csv", Body=csv_text.encode())
    for name, text in (("leads.txt", txt), ("leads.csv", csv_text)):
        with open(os.path.join(folder, f"{n}-{name}"), "w") as f:
            f.write(text)
    del txt, csv_text
    out: dict[str, tuple[int, float]] = {}
    out["reference: the numbers as a list of str"] = traced(lambda: c.numbers(n))
    for ext in ("txt", "csv"):
        local, url = os.path.join(folder, f"{n}-leads.{ext}"), f"s3://{bucket}/{n}/leads.{ext}"
        out[f"read .{ext}, local path"] = traced(lambda p=local: count(iter_numbers(p)))  # type: ignore[misc]
        out[f"read .{ext}, s3://"] = traced(lambda u=url: count(iter_numbers(u, CONN)))  # type: ignore[misc]
    out["write .jsonl, local path"] = traced(lambda: write_all(os.path.join(folder, f"{n}-out.jsonl"), nums, None))
    out["write .jsonl, s3://"] = traced(lambda: write_all(f"s3://{bucket}/{n}/out.jsonl", nums, CONN))
    got = client.get_object(Bucket=bucket, Key=f"{n}/out.jsonl")["Body"].read().count(b"\n")
    assert got == n, f"s3 result holds {got} lines, not {n}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,500000", help="two input sizes, comma-separated")
    ap.add_argument("--smoke", action="store_true", help="2,000 and 10,000 numbers: check the benchmark works")
    args = ap.parse_args()
    small, big = (2_000, 10_000) if args.smoke else tuple(int(x) for x in args.sizes.split(","))
    c.quiet_logs()
    from tests.storage.s3_server import running_s3

    c.banner("bench_storage: numbers in / JSON Lines out, s3:// vs local path", sizes=f"{small:,} and {big:,}")
    with running_s3(own_process=True) as s3, tempfile.TemporaryDirectory(prefix="msgflash-bench-storage-") as folder:
        os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = s3.connection_json()
        bucket = s3.new_bucket()
        measure(1_000, s3, bucket, folder)  # warm-up: imports and first-use caches are not per-number memory
        figures = {n: measure(n, s3, bucket, folder) for n in (small, big)}
    rows = []
    for case in figures[big]:
        (p1, t1), (p2, t2) = figures[small][case], figures[big][case]
        rows.append([case, f"{p1 / 1e6:.2f}", f"{p2 / 1e6:.2f}", f"{p2 / big:.1f}", f"{p2 / max(p1, 1):.2f}x"])
        rows[-1] += [c.fmt_s(t1), c.fmt_s(t2)]
    c.table(rows, ["case", f"peak MB @{small:,}", f"peak MB @{big:,}", "B/number", "growth", "time", "time"])
    reference = figures[big]["reference: the numbers as a list of str"][0]
    cases = {k: v for k, v in figures[big].items() if not k.startswith("reference")}
    worst = max(cases, key=lambda k: cases[k][0])
    growth = max(cases[k][0] / max(figures[small][k][0], 1) for k in cases)
    c.result(
        "bench_storage",
        f"largest peak {cases[worst][0] / big:.1f} B/number ({worst}) vs one copy of the numbers "
        f"{reference / big:.1f} B/number at {big:,}; largest growth for {big // small}x the input {growth:.2f}x",
        "every peak below one copy, growth <= 1.5x",
        cases[worst][0] < reference and growth <= 1.5,
        args.smoke,
    )
    return 0  # a missed goal is reported, not an error


if __name__ == "__main__":
    sys.exit(main())

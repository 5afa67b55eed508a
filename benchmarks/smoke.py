"""Run every benchmark in its smoke mode (tiny sizes, a few seconds each), so that none can rot.

Each ``benchmarks/bench_*.py`` runs as ``python bench_X.py --smoke`` in its own process, one after the
other, with a time limit; it passes when it exits 0 and its last line is its ``RESULT ... SMOKE`` line
(the figures of a smoke run are not judged: the sizes are too small to mean anything). A benchmark that
draws a chart (``--chart``) draws it too, into the run's temporary folder (never over ``docs/_static/``), and
fails without it. A summary closes the run; the exit code is non-zero if any benchmark failed, or if there was
none to run.

Usage: ``.venv/bin/python benchmarks/smoke.py [--timeout 240] [NAME ...]`` (names: ``many_hosts`` or
``bench_many_hosts.py``; default all). ``make test`` runs it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULT_RE = re.compile(r"^RESULT \w+: .* SMOKE$")


def run_one(path: Path, timeout: float) -> tuple[bool, str, float]:
    """(passed, why, seconds) for one benchmark's smoke run."""
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"msgflash-smoke-{path.stem}-") as home:
        # Its own Airflow home and temp dir: no limiter file or config shared with anything else.
        env = {**os.environ, "AIRFLOW_HOME": home, "TMPDIR": home}
        chart = Path(home) / f"{path.stem}.png" if '"--chart"' in path.read_text() else None
        try:
            proc = subprocess.run(
                [sys.executable, str(path), "--smoke", *(["--chart", str(chart)] if chart else [])],
                cwd=HERE.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as e:
            tail = (e.stdout or b"")[-2000:]
            tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
            return False, f"no result within {timeout:.0f} s\n{tail}", time.monotonic() - t0
        drew = chart is None or (chart.is_file() and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n")
    took = time.monotonic() - t0
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0:
        return False, f"exit {proc.returncode}\n" + "\n".join(lines[-15:]) + "\n" + proc.stderr[-3000:], took
    if not lines or not RESULT_RE.match(lines[-1]):
        return False, "its last line is not a 'RESULT ... SMOKE' line\n" + "\n".join(lines[-15:]), took
    if not drew:
        return False, f"--chart {chart} wrote no PNG\n" + "\n".join(lines[-15:]), took
    return True, lines[-1], took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds allowed per benchmark")
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = ap.parse_args()
    wanted = {n.removeprefix("bench_").removesuffix(".py") for n in args.names}
    scripts = [p for p in sorted(HERE.glob("bench_*.py")) if not wanted or p.stem.removeprefix("bench_") in wanted]
    if not scripts:
        print("smoke: no benchmark to run", file=sys.stderr)
        return 2
    failed = 0
    rows = []
    for path in scripts:
        print(f"==> {path.name} --smoke", flush=True)
        ok, why, took = run_one(path, args.timeout)
        print(f"    {'ok' if ok else 'FAILED'} in {took:.1f} s: {why}", flush=True)
        rows.append((path.name, "ok" if ok else "FAILED", took))
        failed += not ok
    print(f"\nbenchmark smoke: {len(scripts) - failed} of {len(scripts)} ran end to end")
    for name, status, took in rows:
        print(f"  {name:28} {status:7} {took:6.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

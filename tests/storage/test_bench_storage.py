"""The storage benchmark's smoke mode runs end to end (its figures are read by people, not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_bench_storage_smoke_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_storage.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = [line for line in proc.stdout.splitlines() if line.startswith("RESULT bench_storage:")]
    assert len(result) == 1, proc.stdout[-2000:]
    for case in ("read .txt, s3://", "read .csv, s3://", "write .jsonl, s3://", "write .jsonl, local path"):
        assert case in proc.stdout

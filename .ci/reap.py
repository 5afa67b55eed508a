"""Find and stop processes left behind by one run of `make test` / `make demo`.

Each run exports a unique ``MSGFLASH_RUN_ID``; every process it starts inherits it, whatever
process group or session it moves to. This lists the processes (other than the caller and its
ancestors) whose environment carries that id, sends them SIGTERM, then SIGKILL to any still alive
after a grace period, and prints what it did. Only processes of this run are touched.

    python .ci/reap.py RUN_ID [--grace SECONDS]

Exit code 0 when nothing was left, 3 when something had to be stopped.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


def _ancestors() -> set[int]:
    pids = set()
    pid = os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def run_processes(run_id: str) -> dict[int, str]:
    """Live processes whose environment has MSGFLASH_RUN_ID=run_id: {pid: command line}."""
    marker = f"MSGFLASH_RUN_ID={run_id}".encode()
    skip = _ancestors()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":  # zombie: already dead, waiting for its parent
            continue
        found[int(entry.name)] = cmd or f"[{entry.name}]"
    return found


def reap(run_id: str, grace: float = 5.0, quiet: bool = False) -> int:
    """Stop every process of the run; return how many there were."""
    left = run_processes(run_id)
    if not left:
        return 0
    if not quiet:
        print(f"reap: {len(left)} process(es) of this run still alive, stopping them:", file=sys.stderr)
        for pid, cmd in sorted(left.items()):
            print(f"reap:   {pid} {cmd[:160]}", file=sys.stderr)
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and run_processes(run_id):
        time.sleep(0.1)
    for pid in run_processes(run_id):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(left)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--grace", type=float, default=5.0)
    args = parser.parse_args()
    return 3 if reap(args.run_id, args.grace) else 0


if __name__ == "__main__":
    sys.exit(main())

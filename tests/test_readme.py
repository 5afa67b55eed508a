"""Every code block of the README is run, so none can rot.

Each block is preceded by an ``<!-- example: NAME -->`` comment; ``HANDLERS`` below says what runs it. A block
without a mark, or with a mark nobody handles, fails the first test (``tests/doc_blocks.py`` reads them; the
docs' blocks are run by ``tests/test_docs.py``).

The Quickstart's blocks (``quickstart-*``) run **exactly as written**, one after the other, as one script in a
fresh ``bash`` from the repository's folder, with a temporary ``HOME`` and nothing of the test session's
Airflow in the environment: its setup lines (``make venv``, the install line), the sandbox on port 8765, the
Airflow home, ``airflow db migrate``, the CSV one-liner, the DAG file, ``airflow dags test`` and ``kill %1``.
``make demo`` runs; ``make test`` is what CI runs (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_msgflash.sandbox import is_on_whatsapp
from tests.conftest import REPO
from tests.doc_blocks import Block, named_blocks, shell_lines

README = REPO / "README.md"
#: The port the Quickstart's sandbox listens on, and a lock that keeps two Quickstart runs on this machine
#: (two worktrees' test suites) from taking it at the same time.
QUICKSTART_PORT = 8765
PORT_LOCK = Path("/tmp/msgflash-readme-quickstart-8765.lock")
#: Most seconds the whole Quickstart may take (the first `make venv` of a clean machine is not in it:
#: `make test` made the venv before the tests run).
QUICKSTART_TIMEOUT = 600


def blocks() -> dict[str, Block]:
    return named_blocks([README])


HANDLERS: dict[str, str] = {
    "commands": "make demo: test_make_demo_runs; make test: what CI runs (.ci/run)",
    "quickstart-env": "test_quickstart_runs_as_written",
    "quickstart-sandbox": "test_quickstart_runs_as_written",
    "quickstart-airflow": "test_quickstart_runs_as_written",
    "quickstart-csv": "test_quickstart_runs_as_written",
    "quickstart-dag": "test_quickstart_runs_as_written",
    "quickstart-run": "test_quickstart_runs_as_written",
}


def test_every_block_is_marked_and_handled() -> None:
    assert sorted(blocks()) == sorted(HANDLERS)


def test_readme_stays_short_and_links_the_docs() -> None:
    text = README.read_text()
    assert len(text.encode()) <= 12 * 1024, f"README is {len(text.encode())} bytes: move details to docs/"
    linked = {p for p in (REPO / "docs").glob("*.md") if f"(docs/{p.name})" in text}
    assert {"errors.md", "installation.md", "connection.md", "performance.md"} <= {p.name for p in linked}


# -- the Quickstart, exactly as written ------------------------------------------------------------------
def quickstart_script() -> str:
    """The Quickstart's blocks in the README's order, joined into one script, unchanged."""
    parts = [b for name, b in blocks().items() if name.startswith("quickstart-")]
    return "\n".join(b.body for b in sorted(parts, key=lambda b: b.line))


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def quickstart_port() -> Iterator[int]:
    """Port 8765, held for this run (a lock shared by every worktree on this machine). If something else keeps
    it busy for a minute, a free port is used instead and a warning says so: the run then differs from the
    README by that number only."""
    PORT_LOCK.touch(exist_ok=True)
    with PORT_LOCK.open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            deadline = time.monotonic() + 60
            while not _port_free(QUICKSTART_PORT) and time.monotonic() < deadline:
                time.sleep(1)
            if _port_free(QUICKSTART_PORT):
                yield QUICKSTART_PORT
            else:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    port = int(s.getsockname()[1])
                warnings.warn(f"port {QUICKSTART_PORT} busy: the Quickstart ran on {port}", stacklevel=2)
                yield port
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fresh_shell_env(home: Path) -> dict[str, str]:
    """A new shell's environment: the machine's (PATH, proxies, certificates, TMPDIR), a temporary HOME, and
    nothing of this test session's Airflow, venv or connections."""
    drop = ("AIRFLOW", "VIRTUAL_ENV", "PYTHONPATH", "PYTEST", "MSGFLASH_SANDBOX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1")
    return env


@pytest.mark.airflow_process  # the Quickstart runs airflow db migrate and airflow dags test
def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    script = quickstart_script()
    assert "make venv" in script and "airflow db migrate" in script and "kill %1" in script
    assert "[sandbox,phonenumbers]" in script  # the extras the Quickstart's DAG uses (normalize=True)
    home = tmp_path / "home"
    home.mkdir()
    with quickstart_port() as port:
        if port != QUICKSTART_PORT:
            script = script.replace(f"--port {QUICKSTART_PORT}", f"--port {port}")
            script = script.replace(f"127.0.0.1:{QUICKSTART_PORT}", f"127.0.0.1:{port}")
        t0 = time.monotonic()
        proc = subprocess.Popen(
            ["bash", "-e", "-c", script],
            cwd=REPO,
            env=fresh_shell_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=QUICKSTART_TIMEOUT)
        finally:
            left = _stop_group(proc.pid)
        took = time.monotonic() - t0
    print(f"Quickstart ran in {took:.1f} s")
    assert proc.returncode == 0, output[-6000:]
    assert left == [], f"the Quickstart left processes running (kill %1 did not stop them): {left}"
    assert "DagRun Finished: dag_id=whatsapp_leads" in output and "state=success" in output, output[-4000:]
    assert "Imported contacts from lookup" in output and "2 new" in output, output[-4000:]
    # The CSV one-liner wrote today's file (UTC), and `dags test` read it: {{ ds_nodash }} is today.
    leads = home / "msgflash-quickstart" / "leads"
    (csv,) = leads.glob("*.csv")
    now = datetime.now(timezone.utc)
    assert csv.stem in {(now - timedelta(minutes=m)).strftime("%Y%m%d") for m in (0, 15)}, csv
    results = sorted(leads.glob("*.results.jsonl"))
    assert [p.name for p in results] == [f"{csv.stem}.results.jsonl"], results
    lines = [json.loads(x) for x in results[0].read_text().splitlines()]
    # 5 inputs: 3 distinct numbers, 1 duplicate (not sent again), 1 typo (reported invalid before sending).
    assert len(lines) == 4 and [x["number"] for x in lines if x["status"] == "invalid"] == ["not a number"]
    on = {x["number"] for x in lines if x["status"] == "on_whatsapp"}
    assert on and all(is_on_whatsapp(n) for n in on) and all(n.startswith("+336") for n in on)


def _stop_group(pgid: int, grace: float = 15.0) -> list[str]:
    """Wait for the script's process group to end by itself (the sandbox stops on ``kill %1``); whatever is
    still running after ``grace`` seconds is listed, then killed."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_members(pgid):
            return []
        time.sleep(0.2)
    left = _group_members(pgid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return left


def _group_members(pgid: int) -> list[str]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append((stat.parent / "cmdline").read_text().replace("\0", " ").strip()[:200])
    return out


# -- the two commands -----------------------------------------------------------------------------------
@pytest.mark.airflow_process  # make demo runs airflow db migrate and airflow dags test
def test_make_demo_runs() -> None:
    words = shell_lines(blocks()["commands"].body)
    assert words == [["make", "demo"], ["make", "test"]]
    run_id = os.environ.get("MSGFLASH_RUN_ID", f"readme-{os.getpid()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | {"MSGFLASH_RUN_ID": run_id}
    out = subprocess.run(["make", "demo"], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "demo succeeded" in out.stdout
    assert "exec make test" in (REPO / ".ci" / "run").read_text()  # CI runs the other command

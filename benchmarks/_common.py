"""Helpers shared by the benchmarks: environment, result lines, statistics, memory, the sandbox.

Every benchmark runs with one command from the repository root (``.venv/bin/python benchmarks/bench_X.py``)
and ends with one line ``RESULT <name>: <measured> (goal <goal>) PASS|MISS``. A missed goal still exits
0; only an error (the benchmark could not measure) exits non-zero.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def prepare_airflow_env(log_level: str = "WARNING") -> str:
    """A private AIRFLOW_HOME (unless one is set) and quiet logs; call before importing airflow."""
    home = os.environ.get("AIRFLOW_HOME")
    if not home:
        home = tempfile.mkdtemp(prefix="msgflash-bench-airflow-")
        os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", log_level)
    return home


def quiet_logs(level: int | None = None) -> None:
    """Silence the provider's per-poll info logs (a thousand triggers would flood the terminal)."""
    import logging

    lvl = logging.WARNING if level is None else level
    for name in ("airflow", "airflow_provider_msgflash", "airflow.task", "tenacity", "urllib3", "aiohttp"):
        logging.getLogger(name).setLevel(lvl)
    logging.getLogger().setLevel(lvl)


def banner(title: str, **facts: Any) -> None:
    print(f"== {title}")
    for k, v in facts.items():
        print(f"   {k}: {v}")
    sys.stdout.flush()


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def add_smoke(ap: Any) -> None:
    """The ``--smoke`` flag every benchmark takes (benchmarks/smoke.py runs them all with it)."""
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, a few seconds: proves the benchmark runs end to end; its figures are not judged",
    )


def result(name: str, measured: str, goal: str, ok: bool, smoke: bool = False) -> bool:
    """Print the benchmark's final line and return ``ok``. A smoke run ends with ``SMOKE`` instead of
    PASS/MISS: its sizes are too small for the goal to mean anything."""
    verdict = "SMOKE" if smoke else ("PASS" if ok else "MISS")
    print(f"RESULT {name}: {measured} (goal {goal}) {verdict}", flush=True)
    return ok


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[str(h) for h in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print(
            "  " + "  ".join(c.rjust(w) if j and _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=False))
        )
        if j == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _numeric(text: str) -> bool:
    t = text.replace(",", "").replace(".", "").replace("%", "").replace("x", "").replace("-", "").strip()
    return t.isdigit()


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0-100, nearest rank) of ``values`` (NaN when empty)."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = max(0, min(len(data) - 1, round(p / 100.0 * len(data) + 0.5) - 1))
    return data[k]


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def maxrss_bytes() -> int:
    """This process's peak resident set size so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def numbers(n: int, prefix: str = "+41795", start: int = 0) -> list[str]:
    """``n`` distinct, valid-looking Swiss mobile numbers (even last digit: on WhatsApp in the sandbox)."""
    width = 12 - len(prefix)
    return [f"{prefix}{i:0{width}d}" for i in range(start, start + n)]


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


# --------------------------------------------------------------------------------------------------
# Sandbox
# --------------------------------------------------------------------------------------------------
#: Request log kept by benchmark sandboxes (the default 1,000 is too short for a long run).
REQUEST_LOG_SIZE = 500_000


def new_key() -> str:
    """A fresh personal key. Benchmarks never use the sandbox's demo key: the provider's limiter is
    shared per key by every process on the host (a file under /tmp), and tests running at the same
    time with the demo key would share it."""
    import secrets

    return "msgf_live_" + secrets.token_hex(32)


def fingerprint(key: str) -> str:
    """The sandbox's fingerprint of a key, as ``/_sandbox/requests`` shows it."""
    from airflow_provider_msgflash.sandbox import key_fingerprint

    return str(key_fingerprint(key))


def start_sandbox(keys: Sequence[str], **settings: Any) -> Any:
    """A sandbox in its own process (so it does not share our GIL) accepting only ``keys``."""
    from airflow_provider_msgflash.sandbox import start_sandbox as _start

    return _start(
        subprocess=True,
        api_keys=tuple(keys),
        request_log_size=REQUEST_LOG_SIZE,
        **settings,
    )


def set_connection(conn_id: str, sb: Any, key: str, **extra: Any) -> str:
    """Define Airflow connection ``conn_id`` (environment variable) pointing at ``sb`` with ``key``."""
    import json

    doc = json.loads(sb.connection_json(key=key))
    doc["extra"].update(extra)
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(doc)
    return conn_id


def all_requests(sb: Any) -> list[dict[str, Any]]:
    """Every API request the sandbox logged (oldest first)."""
    return list(sb.requests(limit=REQUEST_LOG_SIZE))


def parse_iso(value: str | None) -> float | None:
    """Epoch seconds of the API's ``2026-04-01T09:00:00.000Z`` (the sandbox runs on this clock)."""
    from datetime import datetime, timezone

    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


class FakeTI:
    """The slice of a TaskInstance the lookup operator uses (``execute``, then ``execute_complete``
    after a deferral: it reads back what it pushed before deferring)."""

    def __init__(self, try_number: int = 1, task_id: str = "lookup") -> None:
        self.try_number = try_number
        self.task_id = task_id
        self.map_index = -1
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", map_indexes: int | None = None) -> Any:
        if task_ids not in (None, self.task_id) or map_indexes not in (None, self.map_index):
            raise ValueError(f"FakeTI holds only its own task's XCom, not {task_ids!r}/{map_indexes!r}")
        return self.xcom.get(key)


class FakeDagRun:
    def __init__(self) -> None:
        from datetime import datetime, timedelta, timezone

        self.start_date = datetime.now(timezone.utc) - timedelta(minutes=1)


def fake_context() -> dict[str, Any]:
    """A minimal task context for ``operator.execute(context)``: ``ti`` and ``dag_run``."""
    return {"ti": FakeTI(), "dag_run": FakeDagRun()}


def allow_direct_execute() -> None:
    """Let ``operator.execute(context)`` run outside a task runner without Airflow's warning (as
    Airflow's own tests do)."""
    try:
        from airflow.sdk.bases.operator import ExecutorSafeguard
    except ImportError:  # Airflow 2
        return
    ExecutorSafeguard.test_mode = True

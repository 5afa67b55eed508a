"""Real Airflow for the e2e tests: the components in their own process groups, a REST client, and
helpers to wait for task states and read logs, XComs and the metadata database.

Nothing here imports Airflow: the components run in subprocesses, and the tests talk to them over
the REST API (and read ``airflow.db`` read-only with sqlite3).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
TERMINAL_TI = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
TERMINAL_RUN = frozenset({"success", "failed"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _LIBC = None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the pytest process dies (even by SIGKILL), so a crashed
    test session leaves no Airflow behind. Runs after ``start_new_session`` made the child a group leader."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200_000))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"({e})"
    return "\n".join(text.splitlines()[-lines:])


def strings_in(value: Any) -> Iterable[str]:
    """Every string inside a JSON-like value (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings_in(v)
    elif value is not None:
        yield str(value)


def airflow_env(home: Path, dags: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment every component of a test Airflow shares: this process's environment without its
    ``AIRFLOW*`` variables, a home and DAGs folder, the API server on ``127.0.0.1:port`` (and the execution
    API there), private log-server ports, fast-failing-over triggerers, LocalExecutor on SQLite in ``home``.
    ``settings``: more variables, or replacements (another executor, another database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # Connections stored in Airflow's database (the REST API, `connections add`) are encrypted with it.
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Files are all there at start; don't spend the 2 cores re-parsing them.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            # A killed triggerer's triggers go to a new one once its heartbeat is this old (default 30 s).
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


def start_migrate(home: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``airflow db migrate`` in the background (logging to ``home/migrate.log``); see :func:`finish_migrate`."""
    with open(home / "migrate.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def finish_migrate(proc: subprocess.Popen[bytes], home: Path, timeout: float = 180) -> None:
    """Wait for :func:`start_migrate`'s process; raise with its log's tail if it failed or took too long."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise RuntimeError(f"airflow db migrate took over {timeout:g} s:\n{tail(home / 'migrate.log')}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{tail(home / 'migrate.log')}")


def boot(
    stack: AirflowStack,
    dag_ids: Iterable[str],
    unpause: Iterable[str] = (),
    components: Iterable[str] = COMPONENTS,
    timeout: float = 150,
) -> None:
    """Start ``components`` (the metadata database migrated), wait until healthy and ``dag_ids`` are parsed,
    unpause ``unpause``."""
    for name in components:
        stack.start(name)
    stack.wait_healthy(timeout=timeout)
    stack.client.wait_dags(dag_ids, timeout=120)
    for dag_id in unpause:
        stack.client.unpause(dag_id)


class AirflowStack:
    """Airflow's components started from one environment in ``home``, each in its own process group.

    Every process is stopped by its process group id (never by name); :meth:`stop` is idempotent.
    """

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home = home
        self.env = env
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.starts: dict[str, int] = {}
        self.logdir = home / "components"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.trigger_snapshots: list[tuple[Any, ...]] = []
        self._client: AirflowClient | None = None

    # -- processes ------------------------------------------------------------------------------
    def run_cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        name = "cli-" + "-".join(args[:2])
        out = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
        (self.logdir / f"{name}.log").write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited {out.returncode}:\n{tail_text(out.stderr)}")
        return out

    def start(self, name: str, args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        """Start component ``name`` (``airflow <name>``, or ``airflow <args>``; with ``env``, its own
        environment) in a new process group, logging to a file."""
        if name in self.procs and self.procs[name].poll() is None:
            raise RuntimeError(f"{name} is already running (pid {self.procs[name].pid})")
        self.starts[name] = self.starts.get(name, 0) + 1
        suffix = "" if self.starts[name] == 1 else f"-{self.starts[name]}"
        path = self.logdir / f"{name}{suffix}.log"
        with open(path, "ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *(args or [name])],
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                cwd=self.home,
            )
        self.logs[name] = path

    def kill(self, name: str, sig: int = signal.SIGKILL, wait: float = 20) -> None:
        """Send ``sig`` to the process group of component ``name``; SIGKILL it if it outlives ``wait``."""
        proc = self.procs.get(name)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        # Children that left the group leader behind (e.g. the triggerer's runner) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM every group, give them 15 s together, then SIGKILL what is left."""
        procs = list(self.procs.values())
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)

    def lines_about(
        self, dag_id: str, run_id: str, task_id: str, components: Iterable[str] = ("scheduler",)
    ) -> list[str]:
        """The lines of these components' logs (every start of each) naming this task instance: how the
        scheduler queues it to its executor (``<TaskInstance: dag.task run ...>``) and hears back from it
        (``TaskInstanceKey(... task_id='task' ...)``); a Celery worker's log names the workloads it runs."""
        marks = (f"{dag_id}.{task_id} {run_id}", f"task_id='{task_id}'")
        found = []
        for name in components:
            for path in sorted(self.logdir.glob(f"{name}*.log")):
                for line in path.read_text(errors="replace").splitlines():
                    if run_id in line and any(m in line for m in marks):
                        found.append(line)
        return found

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with code {p.returncode}:\n{tail(self.logs[name])}")

    def tails(self, lines: int = 30) -> str:
        parts = [f"===== {p.name} =====\n{tail(p, lines)}" for p in sorted(self.logdir.glob("*.log"))]
        return f"AIRFLOW_HOME={self.home}\n" + "\n".join(parts)

    # -- readiness ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        r = requests.get(self.base_url + "/api/v2/monitor/health", timeout=5)
        r.raise_for_status()
        return dict(r.json())

    def wait_healthy(
        self,
        timeout: float = 120,
        components: Iterable[str] = ("scheduler", "triggerer", "dag_processor"),
        since: str | None = None,
    ) -> dict[str, Any]:
        """Until ``/api/v2/monitor/health`` says the metadatabase and ``components`` are healthy (and, with
        ``since``, a triggerer heartbeat newer than that ISO time)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                h = self.health()
                last = h
                ok = h.get("metadatabase", {}).get("status") == "healthy" and all(
                    (h.get(c) or {}).get("status") == "healthy" for c in components
                )
                if ok and since is not None:
                    beat = (h.get("triggerer") or {}).get("latest_triggerer_heartbeat") or ""
                    ok = beat > since
                if ok:
                    return h
            except requests.RequestException as e:
                last = e
            time.sleep(0.5)
        raise TimeoutError(f"Airflow not healthy within {timeout:g} s (last: {last})")

    @property
    def client(self) -> AirflowClient:
        if self._client is None:
            self._client = AirflowClient(self)
        return self._client

    # -- metadata database (read-only) ------------------------------------------------------------
    def db(self) -> sqlite3.Connection:
        con = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        con.execute("PRAGMA busy_timeout = 30000")
        return con

    def snapshot_triggers(self) -> None:
        """Keep the trigger table's rows now (they are deleted once their tasks resume) for the
        secrets check at the end (a stack on SQLite only)."""
        if not self.env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").startswith("sqlite"):
            return
        with contextlib.closing(self.db()) as con:
            cols = [r[1] for r in con.execute("PRAGMA table_info(trigger)")]
            for row in con.execute("select * from trigger"):
                self.trigger_snapshots.append(tuple(zip(cols, row, strict=True)))


def tail_text(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


class AirflowClient:
    """The slice of the REST API the tests use, authenticated with a token from ``POST /auth/token``
    (the simple auth manager's generated admin password)."""

    def __init__(self, stack: AirflowStack) -> None:
        self.stack = stack
        self.base = stack.base_url
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy
        self._token_at = 0.0

    def _auth(self) -> None:
        if self.session.headers.get("Authorization") and time.monotonic() - self._token_at < 3600:
            return
        pw_file = self.stack.home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + 30
        while not pw_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        password = json.loads(pw_file.read_text())["admin"]
        r = self.session.post(self.base + "/auth/token", json={"username": "admin", "password": password}, timeout=15)
        r.raise_for_status()
        self.session.headers["Authorization"] = "Bearer " + r.json()["access_token"]
        self._token_at = time.monotonic()

    def call(self, method: str, path: str, *, json_body: Any = None, params: Any = None, ok: Iterable[int] = ()) -> Any:
        self._auth()
        r = self.session.request(method, self.base + path, json=json_body, params=params, timeout=30)
        if r.status_code >= 400 and r.status_code not in set(ok):
            raise AssertionError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    # -- DAGs and runs ----------------------------------------------------------------------------
    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.call("GET", "/api/v2/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/v2/importErrors")["import_errors"])

    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 90) -> None:
        want = set(dag_ids)
        deadline = time.monotonic() + timeout
        have: set[str] = set()
        while time.monotonic() < deadline:
            self.stack.check_alive()
            have = self.dag_ids()
            if want <= have:
                return
            errors = self.import_errors()
            if errors:
                raise AssertionError(f"DAG import errors: {json.dumps(errors, indent=1)[:4000]}")
            time.sleep(0.5)
        raise TimeoutError(f"DAGs {sorted(want - have)} not parsed within {timeout:g} s")

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json_body={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None}
        if conf:
            body["conf"] = conf
        return str(self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json_body=body)["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self.call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", params={"limit": 100}
        )
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def ti(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"))

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of a task instance (its history and the current one), oldest first."""
        data = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/tries")
        return sorted(data["task_instances"], key=lambda t: t["try_number"])

    def set_ti_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> Any:
        return self.call(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}",
            json_body={"new_state": state},
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        data = self.call(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": "true", "stringify": "false"},
        )
        return data["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log for one try as text (every string of every structured log record, one record
        a line), read through the API; falls back to the log file when the API has nothing."""
        data = self.call(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            ok=(404,),
        )
        content = (data or {}).get("content") or []
        lines = [" ".join(strings_in(rec)) for rec in content]
        return "\n".join(lines)

    # -- waiting ------------------------------------------------------------------------------------
    def wait_ti(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        until: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float,
        seen: list[tuple[float, str | None, int]] | None = None,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
        interval: float = 0.3,
    ) -> dict[str, Any]:
        """Poll a task instance until ``until(ti)``; records ``(time, state, try_number)`` changes in
        ``seen``. Fails (with the component logs' tails) after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        ti: dict[str, Any] = {}
        while True:
            self.stack.check_alive()
            ti = self.ti(dag_id, run_id, task_id)
            if seen is not None and (not seen or seen[-1][1:] != (ti.get("state"), ti.get("try_number"))):
                seen.append((time.monotonic(), ti.get("state"), ti.get("try_number")))
            if ti.get("state") == "deferred":
                with contextlib.suppress(sqlite3.Error):
                    self.stack.snapshot_triggers()
            if on_poll is not None:
                on_poll(ti)
            if until(ti):
                return ti
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{dag_id}.{task_id} ({run_id}): {what} not reached within {timeout:g} s; "
                    f"state {ti.get('state')!r}, try {ti.get('try_number')}, states seen {seen}\n"
                    f"--- task log (try {ti.get('try_number')}):\n"
                    f"{tail_text(self.log(dag_id, run_id, task_id, int(ti.get('try_number') or 1)), 40)}"
                )
            time.sleep(interval)

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Poll a DAG run until it is ``success`` or ``failed``; returns its task instances by id."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while True:
            self.stack.check_alive()
            run = self.dag_run(dag_id, run_id)
            if run.get("state") in TERMINAL_RUN:
                return self.task_instances(dag_id, run_id)
            if time.monotonic() > deadline:
                states = {t: ti.get("state") for t, ti in self.task_instances(dag_id, run_id).items()}
                raise AssertionError(f"{dag_id} ({run_id}) still {run.get('state')!r} after {timeout:g} s: {states}")
            time.sleep(0.5)

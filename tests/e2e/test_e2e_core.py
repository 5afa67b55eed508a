"""Real Airflow (scheduler, DAG processor, triggerer, API server on 127.0.0.1) against the sandbox:
the example DAG runs with its lookup task deferred, survives a triggerer restart, and no secret
reaches the logs or the metadata database."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import is_on_whatsapp, running_sandbox

pytestmark = pytest.mark.e2e

REPO = Path(os.environ.get("MSGFLASH_REPO") or Path(__file__).resolve().parents[2])
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG_ID = "msgflash_lookup_and_import"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Airflow:
    """Airflow components started in their own process groups, stopped by PID."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            [AIRFLOW, name], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def cli(self, *args: str, timeout: float = 120) -> str:
        out = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=True
        )
        return out.stdout

    def task_states(self, run_id: str) -> dict[str, str]:
        con = sqlite3.connect(self.home / "airflow.db")
        try:
            rows = con.execute(
                "select task_id, state from task_instance where dag_id=? and run_id=?", (DAG_ID, run_id)
            ).fetchall()
        finally:
            con.close()
        return {t: s or "none" for t, s in rows}

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for p in sorted(self.home.glob("*.log"))
        )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with running_sandbox(subprocess=True, pace="fast") as sb:
        yield sb


@pytest.fixture(scope="module")
def airflow(sandbox: Any) -> Iterator[Airflow]:
    home = Path(tempfile.mkdtemp(prefix="msgflash-e2e-"))
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(REPO / "example_dags" / f"{DAG_ID}.py", dags)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW_CONN_MSGFLASH_DEFAULT": sandbox.connection_json(),
        }
    )
    af = Airflow(home, env)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, check=True, timeout=300)
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        af.start(name)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if DAG_ID in af.cli("dags", "list", "-o", "plain", timeout=60):
                    break
            except subprocess.CalledProcessError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the example DAG was not parsed within 180 s\n" + af.tails())
            time.sleep(2)
        af.cli("dags", "unpause", DAG_ID)
        yield af
    finally:
        af.stop_all()
        shutil.rmtree(home, ignore_errors=True)


def trigger(af: Airflow) -> str:
    run_id = f"e2e_{int(time.time() * 1000)}"
    af.cli("dags", "trigger", DAG_ID, "--run-id", run_id)
    return run_id


def wait_for(af: Airflow, run_id: str, cond: Any, what: str, timeout: float = 240) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = af.task_states(run_id)
        if cond(seen):
            return seen
        if "failed" in seen.values():
            break
        time.sleep(0.5)
    pytest.fail(f"{what}: last task states {seen}\n{af.tails()}")


def test_example_dag_defers_then_succeeds(airflow: Airflow, sandbox: Any) -> None:
    sandbox.reset()
    sandbox.set_faults(pace=0.3)  # 13 batches: about 4 s of processing, long enough to see `deferred`
    run_id = trigger(airflow)
    wait_for(airflow, run_id, lambda s: s.get("lookup_numbers") == "deferred", "lookup task never deferred")
    wait_for(airflow, run_id, lambda s: s and set(s.values()) == {"success"} and len(s) == 3, "DAG run not green")
    state = sandbox.state()
    assert len(state["lookups"]) == 1
    assert state["lookups"][0]["requestedCount"] == 250
    assert state["contacts"] == sum(1 for i in range(250) if is_on_whatsapp(f"+4179555{i:04d}"))


def test_triggerer_restart_keeps_one_lookup(airflow: Airflow, sandbox: Any) -> None:
    sandbox.reset()
    sandbox.set_faults(pace=1.5)  # 13 batches: about 20 s
    run_id = trigger(airflow)
    wait_for(airflow, run_id, lambda s: s.get("lookup_numbers") == "deferred", "lookup task never deferred")
    time.sleep(2)
    airflow.kill("triggerer", signal.SIGKILL)
    time.sleep(3)
    airflow.start("triggerer")
    wait_for(airflow, run_id, lambda s: len(s) == 3 and set(s.values()) == {"success"}, "no success after restart")
    state = sandbox.state()
    assert len(state["lookups"]) == 1, state["lookups"]
    (lookup,) = state["lookups"]
    assert lookup["checkedCount"] + lookup["invalidCount"] == 250


def test_api_key_appears_nowhere(airflow: Airflow, sandbox: Any) -> None:
    """After the runs above: task logs, XCom, trigger kwargs and every component log are clean."""
    key = sandbox.api_key
    hits = [
        str(p)
        for p in airflow.home.rglob("*")
        if p.is_file() and p.suffix != ".db" and key in p.read_text(errors="replace")
    ]
    assert hits == []
    con = sqlite3.connect(airflow.home / "airflow.db")
    try:
        for table, column in (("xcom", "value"), ("trigger", "kwargs"), ("task_instance", "executor_config")):
            rows = con.execute(f"select {column} from {table}").fetchall()
            assert not [r for r in rows if r[0] is not None and key in str(r[0])], table
        # Sanity: the tables do hold what the runs wrote, so the check above looked at something.
        assert con.execute("select count(*) from xcom").fetchone()[0] > 0
    finally:
        con.close()

"""One real CeleryExecutor Airflow for tests/e2e_celery, started once for this folder and stopped after it.

In order, everything bounded in time: a private PostgreSQL and redis-server (tests/e2e/_celery_stack.py), a
sandbox in its own process (one key, 10 requests/s, a short latency so a lookup task stays a few seconds in its
worker), ``airflow db migrate`` on Postgres, API server, scheduler (CeleryExecutor), DAG processor, triggerer,
and two Celery workers as two hosts (``host-a``, ``host-b``). The MsgFlash connection carries the deployment
guide's extras: the key's limit kept in Redis. Teardown stops every process group, Postgres and Redis.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle, start_sandbox
from tests.e2e._celery_stack import (
    CeleryStack,
    connection_extra,
    deployment_env,
    private_postgres,
    private_redis,
)
from tests.e2e._shared import EXAMPLE_DAG, EXAMPLE_DAGS_DIR
from tests.e2e._stack import airflow_env, boot, finish_migrate, free_port, start_migrate

HOSTS = ("host-a", "host-b")
#: Scheduler settings that let a dead worker's tasks be retried within seconds (defaults: 300 s and 600 s).
FAST_RECOVERY = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
}


@dataclass
class Celery:
    airflow: CeleryStack
    sandbox: SandboxHandle
    redis: str
    timings: dict[str, float] = field(default_factory=dict)


_CURRENT: Celery | None = None


@pytest.fixture(scope="package")
def celery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Celery]:
    global _CURRENT
    t0 = time.monotonic()
    home = tmp_path_factory.mktemp("airflow-celery-home")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE_DAGS_DIR / f"{EXAMPLE_DAG}.py", dags)
    with private_postgres() as postgres, private_redis() as redis:
        sb = start_sandbox(subprocess=True, startup_timeout=60, pace=1.0, latency=0.5, request_log_size=20_000)
        stack: CeleryStack | None = None
        try:
            conn = json.loads(sb.connection_json())
            conn["extra"].update(connection_extra(redis))
            port = free_port()
            env = airflow_env(
                home,
                dags,
                port,
                AIRFLOW__CORE__PARALLELISM="16",
                AIRFLOW_CONN_MSGFLASH_DEFAULT=json.dumps(conn),
                **deployment_env(postgres, redis),
                **FAST_RECOVERY,
            )
            stack = CeleryStack(home, env, port)
            state = Celery(stack, sb, redis)
            _CURRENT = state
            finish_migrate(start_migrate(home, env), home)
            state.timings["migrate"] = time.monotonic() - t0
            for host in HOSTS:
                stack.start_worker(host)
            boot(stack, [EXAMPLE_DAG], unpause=[EXAMPLE_DAG])
            stack.wait_workers()
            state.timings["ready"] = time.monotonic() - t0
            ready = state.timings["ready"]
            print(f"\ne2e_celery: Airflow (CeleryExecutor, 2 hosts) ready in {ready:.1f} s; home {home}")
            yield state
        finally:
            _CURRENT = None
            if stack is not None:
                stack.stop()
            sb.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _CURRENT is not None:
        report.sections.append(("Airflow component logs (tails)", _CURRENT.airflow.tails()))

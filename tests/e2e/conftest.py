"""One real Airflow for tests/e2e, against sandboxes in their own processes. Its fixtures are package-scoped:
the stack stops when the folder's last test ends, before tests/e2e_celery starts its own (two Airflows at once
would share the 2 cores).

``e2e`` (package) does, in order, everything bounded in time:

1. a temporary ``AIRFLOW_HOME`` (kept by pytest's tmp-path retention for debugging) with a DAGs folder
   holding copies of ``example_dags/*.py`` and ``tests/e2e/dags/*``;
2. one sandbox per scenario (``SANDBOXES``), each ``running_sandbox(subprocess=True)``, so that fault
   switches, pace and lookup counts of one scenario never touch another (they run concurrently);
3. ``airflow db migrate`` (SQLite), then ``api-server``, ``scheduler`` (LocalExecutor, PARALLELISM=4),
   ``dag-processor`` and ``triggerer`` as separate processes, each in its own process group (so the
   triggerer alone can be SIGKILLed and started again), logs in ``$AIRFLOW_HOME/components/``;
4. waits for ``/api/v2/monitor/health`` and for every DAG to be parsed, unpauses the DAGs it runs.

Teardown stops every process group it started (SIGTERM, then SIGKILL), even after a failure; the
Airflow processes also get SIGTERM if the pytest process itself dies (``PR_SET_PDEATHSIG``) and the
sandboxes exit when their stdin closes. A failing test's report gets the tails of the component logs.

``background`` (package, autouse) triggers at the first test the DAG runs that need no interaction
(fault storms, bad inputs, deferral timeout) when their tests are selected, so they run while the
interactive scenarios do; their tests only wait for and inspect them.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
from cryptography.fernet import Fernet

from airflow_provider_msgflash.sandbox import SandboxHandle, start_sandbox
from tests.e2e._shared import (
    ALL_DAGS,
    BAD_INPUTS_DAG,
    DAGS_DIR,
    EXAMPLE_DAGS_DIR,
    NUMBERS_10001,
    RUN_DAGS,
    SENSOR_TIMEOUT_DAG,
    STORMS_DAG,
    TIMEOUT_DAG,
)
from tests.e2e._stack import AirflowStack, airflow_env, boot, finish_migrate, free_port, start_migrate

#: Rate of dropped connections in the drop storm, and the seed chosen so that the lookup POST is dropped.
DROP_RATE = 0.3


def _drop_seed() -> int:
    """The first seed under which the sandbox drops the lookup-creating POST on its first attempt.

    The drop storm's task sends, in this order: GET /instances, GET /state, GET /health (each retried
    when dropped), then POST /number-lookups. The sandbox draws one random number per authenticated
    request (only ``drop_rate`` is on), so the draws can be replayed here. The test then checks, from the
    sandbox's request log, that a lookup POST was indeed dropped, and that there is still one lookup.
    """
    for seed in range(1, 10_000):
        rng = random.Random(seed)
        ok = True
        for _ in range(3):  # three GETs, each must get through within 3 tries
            for _attempt in range(3):
                if rng.random() >= DROP_RATE:
                    break
            else:
                ok = False
        if ok and rng.random() < DROP_RATE:
            return seed
    raise AssertionError("no seed drops the lookup POST")


#: name -> running_sandbox settings. ``pace`` is seconds per batch of 20 numbers (250 numbers: 13 batches).
#: Every lookup a task defers for lasts >= ~12 s: when a trigger fires within seconds of the deferral, the
#: scheduler may drain the worker's stale "defer-exit success" event after the task resumed and fail it
#: (apache/airflow#72716, #71580: open in 3.3.x) - an Airflow race these tests must not trip over.
SLOW = 1.0
SANDBOXES: dict[str, dict[str, Any]] = {
    "default": {"pace": SLOW},  # the example DAG
    "restart": {"pace": 2.0},  # ~27 s: the triggerer is killed and restarted meanwhile
    "retry": {"pace": SLOW},
    "kill": {"pace": 3.0},  # ~40 s: marked failed long before it would finish
    "timeout": {"pace": 3.0},  # ~40 s, operator timeout 8 s
    "storm_5xx": {"pace": SLOW, "error_rate": 0.3, "seed": 5},
    "storm_429": {"pace": SLOW},  # storm_429 switched on by the task's on_execute_callback
    "storm_latency": {"pace": SLOW, "latency": 0.5, "latency_jitter": 1.5, "seed": 7},
    "storm_drop": {"pace": SLOW, "drop_rate": DROP_RATE, "seed": _drop_seed()},
    "storm_timeout": {"latency": 5.0},  # every answer takes 5 s; the connection's timeout is 1 s
    "storm_stall": {"pace": SLOW, "stall_lookups": 1},
    "storm_fail": {"pace": SLOW, "fail_lookups": 1},
    "bad": {},
    "quota": {"monthly_quota": 0},
    "rest": {"pace": SLOW},  # its connection is created through the REST API by the test
    "assets": {},
    "events": {},  # the instance the event trigger watches; the test flips it
    "resume_deferred": {"pace": SLOW},  # the test makes the lookup's progress unreadable for a while
    "resume_in_worker": {"pace": SLOW},
    "policy": {},  # a 429 storm switched on by the task's on_execute_callback
    "policy_final": {},
    "sensors": {"pace": SLOW},  # the sensors started in the triggerer
}

#: Background runs: DAG id -> names of the tests that inspect it (triggered only when one is selected).
BACKGROUND: dict[str, set[str]] = {
    STORMS_DAG: {"test_fault_storm"},
    BAD_INPUTS_DAG: {"test_bad_input", "test_bad_inputs_create_no_lookup"},
    TIMEOUT_DAG: {"test_deferral_timeout_cancels_lookup_and_fails"},
    SENSOR_TIMEOUT_DAG: {"test_sensor_started_in_the_triggerer_times_out_without_retry"},
}
#: Tests that need every background run (they wait for all of them).
NEEDS_ALL_BACKGROUND = {"test_no_api_key_in_logs_xcom_or_triggers"}


@dataclass
class E2E:
    """What the session fixture gives the tests."""

    airflow: AirflowStack
    sandboxes: dict[str, SandboxHandle]
    #: Every API key placed in any connection (the secrets test looks for each).
    keys: list[str] = field(default_factory=list)
    fernet_key: str = ""
    #: Background DAG runs: DAG id -> run id.
    runs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


_CURRENT: E2E | None = None


def _conn(host: str, key: str, extra: dict[str, Any] | None = None) -> str:
    return json.dumps({"conn_type": "msgflash", "host": host, "password": key, "extra": extra or {}})


def _start_sandboxes() -> dict[str, SandboxHandle]:
    started: dict[str, SandboxHandle] = {}
    with ThreadPoolExecutor(max_workers=len(SANDBOXES)) as pool:
        futures = {
            name: pool.submit(start_sandbox, subprocess=True, startup_timeout=60, **settings)
            for name, settings in SANDBOXES.items()
        }
        errors = []
        for name, fut in futures.items():
            try:
                started[name] = fut.result(timeout=90)
            except Exception as e:  # stop the others, then report
                errors.append(f"{name}: {e!r}")
        if errors:
            for sb in started.values():
                sb.stop()
            raise RuntimeError("sandboxes did not start: " + "; ".join(errors))
    return started


@pytest.fixture(scope="package")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    global _CURRENT
    t0 = time.monotonic()
    home = tmp_path_factory.mktemp("airflow-home")
    dags = home / "dags"
    dags.mkdir()
    for src in [*EXAMPLE_DAGS_DIR.glob("*.py"), *DAGS_DIR.glob("*.py"), DAGS_DIR / ".airflowignore"]:
        shutil.copy(src, dags / src.name)
    (dags / "numbers_10001.json").write_text(json.dumps(NUMBERS_10001))

    port = free_port()
    fernet_key = Fernet.generate_key().decode()
    env = airflow_env(
        home,
        dags,
        port,
        AIRFLOW__CORE__FERNET_KEY=fernet_key,
        MSGFLASH_EXAMPLE_DATA_DIR=str(home / "example-data"),
    )
    migrate = start_migrate(home, env)
    sandboxes: dict[str, SandboxHandle] = {}
    stack = AirflowStack(home, env, port)
    state = E2E(airflow=stack, sandboxes=sandboxes, fernet_key=fernet_key)
    _CURRENT = state
    try:
        sandboxes.update(_start_sandboxes())
        state.timings["sandboxes"] = time.monotonic() - t0

        # Connections, one per scenario; the bad ones on purpose.
        bad = sandboxes["bad"]
        revoked = "msgf_live_" + secrets.token_hex(32)
        wrong = "msgf_live_" + secrets.token_hex(32)
        bad.add_key(revoked)
        bad.revoke_key(revoked)
        conns = {
            "msgflash_default": sandboxes["default"].connection_json(),
            "msgflash_restart": sandboxes["restart"].connection_json(),
            "msgflash_retry": sandboxes["retry"].connection_json(),
            "msgflash_kill": sandboxes["kill"].connection_json(),
            "msgflash_timeout": sandboxes["timeout"].connection_json(),
            "msgflash_storm_5xx": sandboxes["storm_5xx"].connection_json(),
            "msgflash_storm_429": sandboxes["storm_429"].connection_json(),
            "msgflash_storm_latency": sandboxes["storm_latency"].connection_json(),
            "msgflash_storm_drop": sandboxes["storm_drop"].connection_json(),
            "msgflash_storm_timeout": _conn(
                sandboxes["storm_timeout"].base_url,
                sandboxes["storm_timeout"].api_key,
                {"timeout": 1, "max_retries": 2},
            ),
            "msgflash_storm_stall": sandboxes["storm_stall"].connection_json(),
            "msgflash_storm_fail": sandboxes["storm_fail"].connection_json(),
            "msgflash_bad": bad.connection_json(),
            "msgflash_bad_wrong_key": bad.connection_json(key=wrong),
            "msgflash_bad_revoked_key": bad.connection_json(key=revoked),
            "msgflash_bad_team_no_id": _conn(bad.base_url, str(bad.team_key)),
            "msgflash_bad_personal_with_team": _conn(bad.base_url, bad.api_key, {"team_id": bad.team_id}),
            # Another web server (Airflow's own API server), as when the base URL points at the wrong host.
            "msgflash_bad_base_url": _conn(f"http://127.0.0.1:{port}", bad.api_key),
            "msgflash_bad_unreachable": _conn(f"http://127.0.0.1:{free_port()}", bad.api_key),
            "msgflash_quota": sandboxes["quota"].connection_json(),
            "msgflash_assets": sandboxes["assets"].connection_json(),
            "msgflash_events": sandboxes["events"].connection_json(),
            # No retries inside the hook: a failed read or a 429 reaches the trigger / the task at once.
            **{
                f"msgflash_{name}": _conn(sandboxes[name].base_url, sandboxes[name].api_key, {"max_retries": 0})
                for name in ("resume_deferred", "resume_in_worker", "policy", "policy_final")
            },
            "msgflash_sensors": sandboxes["sensors"].connection_json(),
        }
        for conn_id, value in conns.items():
            env["AIRFLOW_CONN_" + conn_id.upper()] = value
        state.keys = sorted({wrong, revoked, *(k for sb in sandboxes.values() for k in (sb.api_key, sb.team_key) if k)})

        finish_migrate(migrate, home)
        state.timings["migrate"] = time.monotonic() - t0
        boot(stack, ALL_DAGS, unpause=RUN_DAGS)
        state.timings["ready"] = time.monotonic() - t0
        print(f"\ne2e: Airflow ready in {state.timings['ready']:.1f} s ({state.timings}); home {home}")
        yield state
    finally:
        with_errors = []
        try:
            stack.stop()
        except Exception as e:  # keep stopping the rest
            with_errors.append(repr(e))
        if migrate.poll() is None:
            migrate.kill()
        for sb in sandboxes.values():
            try:
                sb.stop()
            except Exception as e:
                with_errors.append(repr(e))
        _CURRENT = None
        if with_errors:
            print("e2e teardown problems:", with_errors)


@pytest.fixture(scope="package", autouse=True)
def background(e2e: E2E, request: pytest.FixtureRequest) -> dict[str, str]:
    """Trigger the non-interactive DAG runs whose tests are selected, once, at the first test."""
    selected = {getattr(item, "originalname", item.name) for item in request.session.items}
    wants_all = bool(selected & NEEDS_ALL_BACKGROUND)
    client = e2e.airflow.client
    for dag_id, tests in BACKGROUND.items():
        if dag_id in e2e.runs or not (wants_all or selected & tests):
            continue
        e2e.runs[dag_id] = client.trigger(dag_id)
    return e2e.runs


@pytest.fixture(scope="package")
def airflow(e2e: E2E) -> AirflowStack:
    return e2e.airflow


@pytest.fixture(scope="package")
def sandboxes(e2e: E2E) -> dict[str, SandboxHandle]:
    return e2e.sandboxes


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _CURRENT is not None:
        report.sections.append(("Airflow component logs (tails)", _CURRENT.airflow.tails()))

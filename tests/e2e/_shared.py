"""What the e2e tests share with the test DAGs: ``dags/e2e_common.py`` loaded by path (the DAGs import
it as a top-level module from Airflow's DAGs folder), and the DAG ids."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAGS_DIR = HERE / "dags"
REPO = HERE.parents[1]
EXAMPLE_DAGS_DIR = REPO / "example_dags"


def _load(name: str):  # type: ignore[no-untyped-def]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DAGS_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


common = _load("e2e_common")
NUMBERS_250: list[str] = common.NUMBERS_250
NUMBERS_MIXED: list[str] = common.NUMBERS_MIXED
NUMBERS_10001: list[str] = common.NUMBERS_10001
STORMS: dict[str, str] = common.STORMS
STALL_TIMEOUT: int = common.STALL_TIMEOUT
STORM_429_SECONDS: int = common.STORM_429_SECONDS
RETRY_AFTER_STORM: int = common.RETRY_AFTER_STORM

EXAMPLE_DAG = "msgflash_lookup_and_import"
RESTART_DAG = "e2e_triggerer_restart"
CRASH_DAG = "e2e_worker_crash"
KILL_DAG = "e2e_user_kill"
TIMEOUT_DAG = "e2e_deferral_timeout"
STORMS_DAG = "e2e_fault_storms"
BAD_INPUTS_DAG = "e2e_bad_inputs"
REST_CONN_DAG = "e2e_rest_connection"
ASSETS_PRODUCER_DAG = "e2e_assets_producer"
ASSETS_CONSUMER_DAG = "e2e_assets_consumer"
INSTANCE_EVENTS_DAG = "e2e_instance_events"
RESUME_DAG = "e2e_resume_outage"
POLICY_DAG = "e2e_retry_policy"
LOOKUP_SENSOR_DAG = "e2e_lookup_sensor"
SENSOR_TIMEOUT_DAG = "e2e_sensor_timeout"
#: Every DAG the tests run (unpaused at start); the other example DAGs are parsed but stay paused.
RUN_DAGS = (
    EXAMPLE_DAG,
    RESTART_DAG,
    CRASH_DAG,
    KILL_DAG,
    TIMEOUT_DAG,
    STORMS_DAG,
    BAD_INPUTS_DAG,
    REST_CONN_DAG,
    ASSETS_PRODUCER_DAG,
    ASSETS_CONSUMER_DAG,
    INSTANCE_EVENTS_DAG,
    RESUME_DAG,
    POLICY_DAG,
    LOOKUP_SENSOR_DAG,
    SENSOR_TIMEOUT_DAG,
)
ALL_DAGS = (*RUN_DAGS, "msgflash_daily_file_lookup", "msgflash_instance_events")

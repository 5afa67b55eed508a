"""Test set-up shared by every test: a private AIRFLOW_HOME with a migrated SQLite database, the
sandbox fixtures, and a fixture pointing the ``msgflash_default`` connection at the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Airflow reads AIRFLOW_HOME when first imported: set it before anything imports airflow.
if not os.environ.get("AIRFLOW_HOME"):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="msgflash-tests-airflow-")
# A pytest-xdist worker (make check, make test: -n 4) gets its own Airflow home and temp dir, as a separate
# test run would: the rate limiter keeps a file per API key under the temp dir, and workers sharing the
# sandbox's demo key through it would slow each other down.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _worker = os.environ["PYTEST_XDIST_WORKER"]
    for _var in ("AIRFLOW_HOME", "TMPDIR"):
        _base = os.environ.get(_var) or tempfile.gettempdir()
        os.environ[_var] = os.path.join(_base, f"xdist-{_worker}")
        os.makedirs(os.environ[_var], exist_ok=True)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parents[1] / "example_dags"))

pytest_plugins = ["airflow_provider_msgflash.sandbox.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``airflow_process`` every test that uses the migrated Airflow database (``airflow_db``): those
    are the tests that run Airflow itself (``airflow db migrate``, ``airflow dags test``, other CLI calls).
    ``make check`` leaves them out (``-m "not airflow_process"``); ``make test`` runs them."""
    for item in items:
        if "airflow_db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.airflow_process)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the test AIRFLOW_HOME's SQLite database once (needed by dag.test())."""
    home = os.environ["AIRFLOW_HOME"]
    marker = Path(home) / ".msgflash-db-migrated"
    if not marker.exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
            timeout=300,
        )
        marker.write_text("ok")
    return home


@pytest.fixture
def msgflash_conn(monkeypatch: pytest.MonkeyPatch, msgflash_sandbox):  # type: ignore[no-untyped-def]
    """The ``msgflash_default`` connection, pointing at a fresh sandbox (personal key)."""
    monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_DEFAULT", msgflash_sandbox.connection_json())
    return msgflash_sandbox


@pytest.fixture(scope="session")
def s3_server():  # type: ignore[no-untyped-def]
    """One loopback S3-compatible server (moto, IAM on) per session, with the connections
    ``msgflash_s3`` (good keys) and ``msgflash_s3_wrong_secret`` (refused) in the environment. One per
    session: moto keeps its state (and its auth switch) per process, so two would disturb each other."""
    from tests.storage.s3_server import running_s3

    with running_s3() as server:
        saved = {k: os.environ.get(k) for k in ("AIRFLOW_CONN_MSGFLASH_S3", "AIRFLOW_CONN_MSGFLASH_S3_WRONG_SECRET")}
        os.environ["AIRFLOW_CONN_MSGFLASH_S3"] = server.connection_json()
        os.environ["AIRFLOW_CONN_MSGFLASH_S3_WRONG_SECRET"] = server.connection_json(secret="not-the-secret-0123")
        try:
            yield server
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

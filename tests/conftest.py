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
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parents[1] / "example_dags"))

pytest_plugins = ["airflow_provider_msgflash.sandbox.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]


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

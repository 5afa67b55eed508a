"""The example DAG through ``airflow dags test`` with its connection in each place Airflow keeps
connections: an ``AIRFLOW_CONN_*`` variable (JSON and URI), the metadata database (as the CLI, the UI
and the REST API store it), and a secrets backend (``LocalFilesystemBackend`` standing in for Vault or
AWS Secrets Manager). The lookup defers, so its trigger reads the connection too; the run succeeds
with nothing logged at error level."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.dags_cli import airflow_cli, airflow_env, dags_test, error_lines

EXAMPLE = Path(__file__).resolve().parents[1] / "example_dags" / "msgflash_lookup_and_import.py"
DAG_ID = "msgflash_lookup_and_import"


@pytest.mark.parametrize("source", ["env_json", "env_uri", "metadata_db", "secrets_backend"])
def test_example_dag_with_the_connection_in(
    source: str, airflow_db: str, msgflash_sandbox: Any, tmp_path: Path
) -> None:
    sb = msgflash_sandbox
    sb.set_faults(pace=0.1)  # 250 numbers take ~1.3 s: the lookup task defers
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE, dags / EXAMPLE.name)
    extra: dict[str, str] = {}
    if source == "env_json":
        extra["AIRFLOW_CONN_MSGFLASH_DEFAULT"] = sb.connection_json()
    elif source == "env_uri":
        extra["AIRFLOW_CONN_MSGFLASH_DEFAULT"] = sb.connection_uri()
    elif source == "secrets_backend":
        path = tmp_path / "connections.json"
        path.write_text(json.dumps({"msgflash_default": json.loads(sb.connection_json())}))
        extra["AIRFLOW__SECRETS__BACKEND"] = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
        extra["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps({"connections_file_path": str(path)})
    env = airflow_env(dags, **extra)
    if source == "metadata_db":
        conn = json.loads(sb.connection_json())
        airflow_cli(env, "connections", "add", "msgflash_default", "--conn-type", "msgflash",
                    "--conn-host", conn["host"], "--conn-password", conn["password"])  # fmt: skip
    try:
        run = dags_test(dags, DAG_ID, env=env)
    finally:
        if source == "metadata_db":
            airflow_cli(env, "connections", "delete", "msgflash_default")
    assert run.returncode == 0, run.output[-4000:]
    assert run.tasks == {
        "instance_ready": ("success", 1),
        "lookup_numbers": ("success", 1),
        "import_contacts": ("success", 1),
    }, run.output[-4000:]
    assert "Deferring: the triggerer follows lookup" in run.output
    assert error_lines(run.output) == []
    (lookup,) = sb.state()["lookups"]
    assert lookup["status"] == "done" and lookup["requestedCount"] == 250

"""docs/deployment.md shows the configuration the CeleryExecutor e2e runs (tests/e2e/_celery_stack.py), and the
packages the executor needs are the ones the dev extra installs: a change to one without the other fails here.
Its blocks are marked like every docs example (``<!-- example: deployment-... -->``, listed in tests/test_docs.py)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml

from tests.doc_blocks import named_blocks
from tests.e2e._celery_stack import CONNECTION_EXTRA, DEPLOYMENT, PINS, connection_extra, deployment_env

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "deployment.md"
#: The servers the page's examples name.
POSTGRES, REDIS = "airflow:secret@postgres:5432", "redis:6379"


def block(name: str) -> str:
    return named_blocks([PAGE])[f"deployment-{name}"].body


def test_the_page_shows_the_airflow_configuration_the_e2e_runs() -> None:
    shown = dict(line.split("=", 1) for line in block("airflow").splitlines() if line.strip())
    assert shown == deployment_env(POSTGRES, REDIS)
    assert set(shown) == set(DEPLOYMENT)


def test_the_page_shows_the_connection_extras_the_e2e_runs() -> None:
    assert json.loads(block("connection")) == connection_extra(REDIS)
    assert set(CONNECTION_EXTRA) == {"rate_limit_backend", "requests_per_second"}


def test_the_connection_variable_has_those_extras() -> None:
    from airflow_provider_msgflash.api.defaults import DEFAULT_BASE_URL

    (words,) = [shlex.split(line) for line in block("connection-env").splitlines() if line.strip()]
    name, value = words[0].split("=", 1)
    assert name == "AIRFLOW_CONN_MSGFLASH_DEFAULT"
    conn = json.loads(value)
    assert conn["conn_type"] == "msgflash" and conn["host"] == DEFAULT_BASE_URL
    assert conn["extra"] == connection_extra(REDIS)


def test_the_helm_values_carry_the_executor_database_and_connection() -> None:
    values = yaml.safe_load(block("helm"))
    assert values["executor"] == "KubernetesExecutor"
    env = {e["name"]: e["value"] for e in values["env"]}
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == deployment_env(POSTGRES, REDIS)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    assert [s["envName"] for s in values["secret"]] == ["AIRFLOW_CONN_MSGFLASH_DEFAULT"]


def test_the_page_lists_the_packages_the_dev_extra_installs() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    dev = pyproject[pyproject.index("\ndev = [") : pyproject.index("\n]", pyproject.index("\ndev = ["))]
    listed = [line.strip() for line in block("packages").splitlines() if line.strip()]
    assert sorted(listed) == sorted(PINS)
    for pin in PINS:
        assert f'"{pin}"' in dev, f"{pin} is not in pyproject's dev extra"

"""docs/deployment.md shows the configuration the CeleryExecutor e2e runs (tests/e2e/_celery_stack.py), and the
packages the executor needs are the ones the dev extra installs: a change to one without the other fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e._celery_stack import CONNECTION_EXTRA, DEPLOYMENT, PINS, connection_extra, deployment_env

REPO = Path(__file__).resolve().parents[1]
PAGE = (REPO / "docs" / "deployment.md").read_text()
#: The servers the page's examples name.
POSTGRES, REDIS = "airflow:secret@postgres:5432", "redis:6379"


def block(marker: str) -> str:
    """The fenced block right after ``<!-- deployment: marker -->``."""
    found = re.search(rf"<!-- deployment: {marker} -->\n```\w*\n(.*?)\n```", PAGE, re.S)
    assert found, f"docs/deployment.md has no block marked 'deployment: {marker}'"
    return found.group(1)


def test_the_page_shows_the_airflow_configuration_the_e2e_runs() -> None:
    shown = dict(line.split("=", 1) for line in block("airflow").splitlines() if line.strip())
    assert shown == deployment_env(POSTGRES, REDIS)
    assert set(shown) == set(DEPLOYMENT)


def test_the_page_shows_the_connection_extras_the_e2e_runs() -> None:
    assert json.loads(block("connection")) == connection_extra(REDIS)
    assert set(CONNECTION_EXTRA) == {"rate_limit_backend", "requests_per_second"}


def test_the_page_lists_the_packages_the_dev_extra_installs() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    dev = pyproject[pyproject.index("\ndev = [") : pyproject.index("\n]", pyproject.index("\ndev = ["))]
    for pin in PINS:
        assert f'"{pin}"' in dev, f"{pin} is not in pyproject's dev extra"
        assert pin in PAGE, f"docs/deployment.md does not list {pin}"

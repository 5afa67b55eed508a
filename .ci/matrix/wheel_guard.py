"""pytest plugin for matrix cells (``-p wheel_guard``): stop before any test when the provider would be
imported from anywhere but this venv's site-packages (the installed wheel), and name its location in
the header."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest


def _provider_file() -> Path:
    import airflow_provider_msgflash

    return Path(airflow_provider_msgflash.__file__).resolve()


def pytest_configure(config: pytest.Config) -> None:
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    where = _provider_file()
    if site not in where.parents:
        pytest.exit(f"wheel_guard: airflow_provider_msgflash comes from {where}, not from {site}", returncode=4)


def pytest_report_header(config: pytest.Config) -> str:
    return f"airflow_provider_msgflash from {_provider_file().parent} (installed wheel)"

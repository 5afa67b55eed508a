"""DAG parsing stays cheap: the modules a DAG file imports do not load heavy libraries at import time.

bench_import_cost.py measures the time; these tests keep what makes it small from regressing. Each check
runs in a fresh interpreter (``sys.modules`` of the test process is already full).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: Loaded only when used: HTTP clients when a request is sent, phonenumbers with normalize=True, the
#: sandbox's server stack never by the provider's operators.
HEAVY = ("aiohttp", "requests", "phonenumbers", "fastapi", "uvicorn", "starlette", "airflow_provider_msgflash.sandbox")

_CHILD = r"""
import json, sys
import airflow.sdk
before = set(sys.modules)
for m in json.loads(sys.argv[1]):
    __import__(m)
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted(h for h in heavy if h in sys.modules and h not in before)))
"""


def _newly_loaded(modules: list[str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(modules), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=True,
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "modules",
    [
        ["airflow_provider_msgflash.operators.msgflash", "airflow_provider_msgflash.sensors.msgflash"],
        ["airflow_provider_msgflash.hooks.msgflash"],
        ["airflow_provider_msgflash.triggers.msgflash"],
        ["airflow_provider_msgflash.get_provider_info"],
    ],
    ids=["operators+sensors", "hooks", "triggers", "provider_info"],
)
def test_no_heavy_module_at_import(modules: list[str]) -> None:
    assert _newly_loaded(modules) == []

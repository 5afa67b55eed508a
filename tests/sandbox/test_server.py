"""Thread and subprocess modes of running_sandbox / start_sandbox."""

from __future__ import annotations

import os

import pytest
import requests

from airflow_provider_msgflash.sandbox import (
    running_sandbox,
)


def test_thread_mode_stops_on_exit() -> None:
    with running_sandbox(rate_limit=0) as sb:
        assert sb.mode == "thread" and sb.pid is None
        assert sb.base_url.startswith("http://127.0.0.1:") and not sb.base_url.endswith("/")
        assert requests.get(sb.api_url + "/instances", headers=sb.headers(), timeout=5).status_code == 200
        url = sb.base_url
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/api/v1/instances", timeout=2)


def test_subprocess_mode() -> None:
    with running_sandbox(subprocess=True, rate_limit=0, pace=0.01) as sb:
        assert sb.mode == "subprocess" and isinstance(sb.pid, int) and sb.pid != os.getpid()
        assert sb.process is not None and sb.process.poll() is None
        r = requests.get(sb.api_url + "/instances", headers=sb.headers(), timeout=5)
        assert r.status_code == 200 and len(r.json()["data"]) == 5
        # The config crosses over to the process: rate limit off, pace 0.01.
        assert sb.faults()["rate_limit"] is None and sb.faults()["batch_interval"] == 0.01
        sb.set_faults(error_rate=1.0)
        assert requests.get(sb.api_url + "/instances", headers=sb.headers(), timeout=5).status_code >= 500
        sb.reset(faults=True)
        assert sb.state()["requests_total"] == 0
        proc = sb.process
    assert proc.poll() is not None  # stopped on exit

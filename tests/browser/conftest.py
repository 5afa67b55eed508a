"""``airflow standalone`` with this provider, a sandbox, and headless Chromium driven by selenium.

Fixtures (package scope: everything stops when the last browser test is done, before other packages run):

- ``browser_env``: Debian's ``chromium`` and ``chromium-driver`` installed (``.ci/ensure_chromium.sh``
  runs ``apt-get`` once when they are missing, and fails clearly when it cannot), one sandbox in its own
  process, and ``airflow standalone`` in its own process group (temp ``AIRFLOW_HOME``, SQLite,
  ``PARALLELISM=4``, free loopback ports, ``[core] test_connection = Enabled``), healthy.
- ``ui``: a logged-in :class:`tests.browser._ui.AirflowUI` (headless Chromium, fresh profile); each step's
  screenshot goes to a temp folder whose path is printed at the start.

Teardown quits Chromium and chromedriver, stops every process group of the standalone (SIGTERM, then
SIGKILL) and the sandbox, whatever happened. Every wait is bounded.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msgflash.sandbox import SandboxHandle, start_sandbox
from tests.browser._ui import AirflowUI, start_chromium
from tests.e2e._stack import AirflowStack, free_port

REPO = Path(__file__).resolve().parents[2]
ENSURE_CHROMIUM = REPO / ".ci" / "ensure_chromium.sh"
#: Written by the simple auth manager when the API server starts: {"admin": "<password>"}.
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


@dataclass
class BrowserEnv:
    airflow: AirflowStack
    sandbox: SandboxHandle
    shots: Path
    timings: dict[str, float]


_CURRENT: BrowserEnv | None = None


def _say(config: pytest.Config, line: str) -> None:
    """Print past pytest's output capture (the screenshot folder must be seen in every run)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover - plugins disabled
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _ensure_chromium() -> None:
    try:
        out = subprocess.run(["bash", str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{ENSURE_CHROMIUM.name} did not finish within 900 s (apt-get stuck?)", pytrace=False)
    if out.returncode != 0:
        pytest.fail(
            f"Chromium is needed by the browser tests and could not be installed:\n{out.stdout}{out.stderr}",
            pytrace=False,
        )


def _wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not written within {timeout:g} s")
        time.sleep(0.2)


def _standalone_env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    dags = home / "dags"
    dags.mkdir(exist_ok=True)
    env.update(
        {
            # `airflow standalone` starts its components as `airflow ...` from PATH: the venv's first.
            "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="package")
def browser_env(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[BrowserEnv]:
    global _CURRENT
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    _ensure_chromium()
    timings["chromium installed"] = time.monotonic() - t0
    home = tmp_path_factory.mktemp("browser-airflow-home")
    shots = tmp_path_factory.mktemp("browser-screenshots")
    _say(request.config, f"\nbrowser: screenshots in {shots}; AIRFLOW_HOME {home}")
    port = free_port()
    stack = AirflowStack(home, _standalone_env(home, port), port)
    sandbox: SandboxHandle | None = None
    try:
        stack.start("standalone")  # migrates the database itself, then starts every component
        sandbox = start_sandbox(subprocess=True, startup_timeout=60)
        # The UI needs the API server only; the scheduler and friends finish starting meanwhile.
        stack.wait_healthy(timeout=180, components=())
        _wait_for_file(home / PASSWORDS_FILE, timeout=60)
        timings["standalone api up"] = time.monotonic() - t0
        _CURRENT = BrowserEnv(airflow=stack, sandbox=sandbox, shots=shots, timings=timings)
        yield _CURRENT
    finally:
        t1 = time.monotonic()
        stack.stop()
        if sandbox is not None:
            sandbox.stop()
        _CURRENT = None
        _say(request.config, f"browser: stopped standalone and sandbox in {time.monotonic() - t1:.1f} s; {timings}")


@pytest.fixture(scope="package")
def ui(browser_env: BrowserEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowUI]:
    t0 = time.monotonic()
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        page = AirflowUI(driver, browser_env.airflow, browser_env.shots)
        page.login()
        browser_env.timings["chromium up, logged in"] = time.monotonic() - t0
        yield page
    finally:
        driver.quit()  # stops chromedriver, which ends its Chromium


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _CURRENT is not None:
        report.sections.append(("screenshots", str(_CURRENT.shots)))
        report.sections.append(("airflow standalone log (tail)", _CURRENT.airflow.tails(60)))

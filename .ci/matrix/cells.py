"""The Airflow lines the provider supports, the pins each needs to install with today's packages, and
the Pythons each runs on in the matrix.

Latest patch of each line on PyPI when written (2026-11-24): 2.11.2, 3.0.6, 3.1.8, 3.2.2, 3.3.2.
Pins are what the *Airflow line itself* needs (without Airflow's constraints file, the resolver picks
packages newer than the line was released with). They are inputs of the cells' locks (``make lock``)
and measured with ``make matrix-latest`` (which installs without them), not guessed:

- 2.11.2, 3.1.8: ``cryptography<51`` (51.0.1 refuses the attribute Airflow sets on ``MultiFernet``:
  every connection with a password fails; measured 2026-12-06).
- 3.0.6: ``fastapi<0.117`` and ``starlette<0.48`` (newer ones break its API server's startup and even a
  trivial DAG run), and ``cryptography<51`` as above.
- 3.2.2: ``fastapi<0.137`` and ``svcs<26.2`` (same kind of breakage; svcs 26.2.0 measured 2026-12-06).
- 3.3.2: none.

The provider's own requirements (including the ``[sandbox]`` extra's FastAPI range) come from pyproject.toml.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: line -> (latest patch, pins the line needs, Pythons to run it on; the first one is the default)
LINES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "2.11": ("2.11.2", ("cryptography<51",), ("3.11",)),
    "3.0": ("3.0.6", ("fastapi<0.117", "starlette<0.48", "cryptography<51"), ("3.11",)),
    "3.1": ("3.1.8", ("cryptography<51",), ("3.11",)),
    "3.2": ("3.2.2", ("fastapi<0.137", "svcs<26.2"), ("3.11",)),
    "3.3": ("3.3.2", (), ("3.11", "3.10", "3.12", "3.13")),
}

#: Test directories run on every cell (selected by directory, so moving files inside them is harmless).
UNIT_TEST_DIRS = (
    "tests/hooks",
    "tests/triggers",
    "tests/sensors",
    "tests/operators",
    "tests/test_version_compat.py",
)

_SAME_EVERYWHERE = (
    "the provider's own handling of the API against the sandbox ({}), through code that neither the Airflow "
    "line nor the Python changes; make test's pytest step runs it on Airflow 3.3.2 / Python 3.11"
)
#: Files of UNIT_TEST_DIRS that no cell runs, with why. Measured on one cell (Airflow 3.3.2, 506 tests, 316 s
#: of test time): these five took 186 s of it (the two dialect files 141 s: every critical flow once per
#: dialect of the sandbox). What a cell proves about its Airflow line stays: the connection lookup (sync and
#: async), masking, settings and errors of the hooks, every trigger, sensor and operator test (deferral,
#: XCom, templates, on_kill, readiness), version_compat. A name here that no longer exists is reported by
#: the matrix (the file is then run again, which is slower but never loses a test).
SAME_ON_EVERY_CELL: dict[str, str] = {
    "tests/operators/test_dialects.py": _SAME_EVERYWHERE.format("the operators' flows under every dialect"),
    "tests/hooks/test_hook_dialects.py": _SAME_EVERYWHERE.format("the hooks' flows under every dialect"),
    "tests/hooks/test_hook_retry.py": _SAME_EVERYWHERE.format("retries and backoff, tenacity and aiohttp"),
    "tests/hooks/test_hook_sandbox_faults.py": _SAME_EVERYWHERE.format("the sandbox's fault switches"),
    "tests/hooks/test_hook_sandbox_limits.py": _SAME_EVERYWHERE.format("the client-side limiter under load"),
}

_SDK_MASKER = (
    "drive the Task SDK's secrets masker (airflow.sdk._shared, 3.1+); "
    "the key's absence from logs, errors and reprs is tested on every line"
)
_DECLARATIVE_FORM = (
    "read the form from a bare ProvidersManager, which before 3.2 needs WTForms/FAB (not installed) and on "
    "2.11 holds WTForms objects; the registration column checks these lines' form as their UI reads it"
)
#: Test files that cannot be collected on a line (what they test does not exist there), with why.
FILES_NOT_ON_LINE: dict[str, dict[str, str]] = {
    "2.11": {
        "tests/triggers/test_instance_events.py": "event-driven scheduling (AssetWatcher, event triggers) "
        "starts with Airflow 3.0; the matrix checks instead that the module refuses to import, naming 3.0.0",
    },
}
#: Tests that do not make sense on a line, by test name (names survive moves between files): line -> {name: why}.
NOT_ON_LINE: dict[str, dict[str, str]] = {
    "2.11": {
        "test_sync_hook_registers_the_key_with_the_secrets_masker": _SDK_MASKER,
        "test_async_hook_registers_the_key_with_the_secrets_masker": _SDK_MASKER,
        "test_providers_manager_extra_widgets": _DECLARATIVE_FORM,
    },
    "3.0": {
        "test_sync_hook_registers_the_key_with_the_secrets_masker": _SDK_MASKER,
        "test_async_hook_registers_the_key_with_the_secrets_masker": _SDK_MASKER,
        "test_providers_manager_field_behaviour": _DECLARATIVE_FORM,
        "test_providers_manager_extra_widgets": _DECLARATIVE_FORM,
    },
    "3.1": {
        "test_providers_manager_field_behaviour": _DECLARATIVE_FORM,
        "test_providers_manager_extra_widgets": _DECLARATIVE_FORM,
    },
}


@dataclass(frozen=True)
class Cell:
    """One Airflow version on one Python."""

    line: str
    airflow: str
    python: str
    pins: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"af{self.airflow}-py{self.python}"


def all_cells(only: list[str] | None = None) -> list[Cell]:
    """Every cell, or those whose name, line or ``line/python`` is in ``only``."""
    cells = [
        Cell(line, version, python, pins) for line, (version, pins, pythons) in LINES.items() for python in pythons
    ]
    if not only:
        return cells
    wanted = set(only)
    return [c for c in cells if wanted & {c.name, c.line, f"{c.line}/{c.python}", c.airflow}]


def unit_test_args(cell: Cell, stage: Path) -> list[str]:
    """pytest arguments of a cell's unit tests: the directories, less the files no cell runs (those present
    in the staged sdist ``stage``) and those that cannot be collected on the cell's line."""
    left_out = {**SAME_ON_EVERY_CELL, **FILES_NOT_ON_LINE.get(cell.line, {})}
    return [*UNIT_TEST_DIRS, *(f"--ignore={path}" for path in sorted(left_out) if (stage / path).exists())]


def stale_entries(stage: Path) -> list[str]:
    """Files cells.py leaves out that the staged tests no longer have (renamed or removed)."""
    names = set(SAME_ON_EVERY_CELL) | {f for files in FILES_NOT_ON_LINE.values() for f in files}
    return [f"cells.py leaves out {name}, which no longer exists: update the list" for name in sorted(names)
            if not (stage / name).exists()]  # fmt: skip


def _runs(path: str) -> bool:
    try:
        return subprocess.run([path, "-c", ""], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_python(version: str) -> str | None:
    """An interpreter for ``version`` (``3.12``) that runs: on PATH, then pyenv's versions, then /usr/bin.

    pyenv shims are on PATH but refuse a version that is not selected, hence the check that it runs.
    """
    exe = f"python{version}"
    candidates = [shutil.which(exe) or ""]
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(
        glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", exe)),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split(os.sep)[-3].split(".")],
        reverse=True,
    )
    candidates += [f"/usr/bin/{exe}", f"/usr/local/bin/{exe}"]
    for path in candidates:
        if path and os.path.exists(path) and _runs(path):
            return path
    return None

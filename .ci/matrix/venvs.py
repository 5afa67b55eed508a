"""One virtualenv per cell.

Locked (``make matrix``, ``make test``): the cell's lock (``locks/matrix/<cell>.txt``, made by ``make lock``)
is installed with ``uv pip sync`` (exact pins, no resolution), then the wheel with ``--no-deps``, and
``uv pip check`` proves the set consistent (the lock covers what the wheel requires). A new release on the
index cannot change a cell. The venv's folder is keyed by a hash of the lock and the interpreter, and
reused across runs; when only the wheel changed, only the provider is reinstalled.

Latest (``make matrix-latest``): a new venv each run, with ``uv pip install`` of the wheel (``test`` extra)
and ``apache-airflow==<patch>`` resolved against the index as it is today, with no lock and none of the
line's pins (unless asked for with ``--pin``): what a user who installs without constraints gets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from build import DIST_NAME, sha256
from cells import Cell

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lock import cell_lock

KEY_SCHEMA = 2  # bump to force every venv to be rebuilt
EXTRAS = "test"  # the wheel's extra with the sandbox, phonenumbers and pytest plugins (what the lock holds)
#: The packages whose resolved version every cell prints (a future break is diagnosed from CI's output).
SHOWN = ("apache-airflow", "apache-airflow-providers-common-compat", "cryptography", "fastapi", "pydantic")


@dataclass
class VenvResult:
    path: Path
    action: str  # "reused", "provider reinstalled", "created", "resolved today"
    seconds: float


def venv_key(cell: Cell, python: str) -> str:
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    doc = {
        "schema": KEY_SCHEMA,
        "python": [os.path.realpath(python), version],
        # the pins, not the header: a header that changes alone (pyproject's hash) keeps the venv
        "lock": [line for line in cell_lock(cell.airflow, cell.python).read_text().splitlines() if "==" in line],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def uv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["UV_PYTHON_DOWNLOADS"] = "never"  # no network but the package index here
    env["UV_NO_PROGRESS"] = "1"
    return env


def _run(cmd: list[str], log: Path, timeout: float) -> None:
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT, env=uv_env(), timeout=timeout)


def installed_versions(uv: str, venv: Path) -> dict[str, str]:
    """Every installed distribution's version, read from the venv (normalised names)."""
    out = subprocess.run(
        [uv, "pip", "list", "--format", "json", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
        env=uv_env(),
        timeout=120,
    ).stdout
    return {row["name"].lower().replace("_", "-"): row["version"] for row in json.loads(out)}


def locked_versions(cell: Cell) -> dict[str, str]:
    """The versions the cell's lock pins."""
    pins = {}
    for line in cell_lock(cell.airflow, cell.python).read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _install_wheel(uv: str, venv: Path, wheel: Path, log: Path, timeout: float) -> None:
    py = str(venv / "bin" / "python")
    _run([uv, "pip", "install", "--python", py, "--compile-bytecode", "--no-deps", "--reinstall-package", DIST_NAME,
          str(wheel.resolve())], log, timeout)  # fmt: skip
    _run([uv, "pip", "check", "--python", py], log, timeout)


def ensure_venv(cell: Cell, python: str, wheel: Path, uv: str, root: Path, log: Path, timeout: float) -> VenvResult:
    """The cell's venv: exactly its lock, plus this wheel; built, refreshed or reused."""
    t0 = time.monotonic()
    venv = root / f"{cell.name}-{venv_key(cell, python)}"
    base_stamp, wheel_stamp = venv / ".matrix-base-ok", venv / ".matrix-wheel-sha256"
    wheel_sha = sha256(wheel)
    if base_stamp.exists() and (venv / "bin" / "python").exists():
        if wheel_stamp.exists() and wheel_stamp.read_text() == wheel_sha:
            return VenvResult(venv, "reused", time.monotonic() - t0)
        wheel_stamp.unlink(missing_ok=True)
        _install_wheel(uv, venv, wheel, log, timeout)
        wheel_stamp.write_text(wheel_sha)
        return VenvResult(venv, "provider reinstalled", time.monotonic() - t0)
    for old in root.glob(f"{cell.name}-*"):
        shutil.rmtree(old, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    _run([uv, "venv", "--quiet", "--python", python, str(venv)], log, timeout)
    lock = cell_lock(cell.airflow, cell.python)
    _run([uv, "pip", "sync", "--python", str(venv / "bin" / "python"), "--compile-bytecode", str(lock)], log, timeout)
    _install_wheel(uv, venv, wheel, log, timeout)
    base_stamp.write_text("ok")
    wheel_stamp.write_text(wheel_sha)
    return VenvResult(venv, "created", time.monotonic() - t0)


def latest_venv(
    cell: Cell, python: str, wheel: Path, uv: str, root: Path, log: Path, timeout: float, pins: tuple[str, ...]
) -> VenvResult:
    """A new venv resolved against today's index: the wheel with its extra, the line's Airflow, ``pins``."""
    t0 = time.monotonic()
    venv = root / cell.name
    shutil.rmtree(venv, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    _run([uv, "venv", "--quiet", "--python", python, str(venv)], log, timeout)
    cmd = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--compile-bytecode", "--refresh"]
    cmd += [f"{DIST_NAME}[{EXTRAS}] @ {wheel.resolve().as_uri()}", f"apache-airflow=={cell.airflow}", *pins]
    _run(cmd, log, timeout)
    return VenvResult(venv, "resolved today", time.monotonic() - t0)

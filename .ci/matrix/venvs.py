"""One virtualenv per cell, reused across runs.

A venv's folder is keyed by a hash of what its Airflow install depends on: the interpreter (path and
full version), the Airflow version and pins, and the wheel's declared requirements (Requires-Dist). A
changed key means a new venv from nothing (and the cell's old venvs are removed). When only the wheel's
content changed, only the provider is reinstalled (``--reinstall-package``); Airflow stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from build import DIST_NAME, sha256
from cells import Cell

KEY_SCHEMA = 1  # bump to force every venv to be rebuilt
EXTRAS = "test"  # the wheel's extra with the sandbox, phonenumbers and pytest plugins


@dataclass
class VenvResult:
    path: Path
    action: str  # "reused", "provider reinstalled", "created"
    seconds: float


def _requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return sorted(Parser().parsestr(z.read(meta).decode()).get_all("Requires-Dist") or [])


def venv_key(cell: Cell, python: str, wheel: Path) -> str:
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    doc = {
        "schema": KEY_SCHEMA,
        "python": [os.path.realpath(python), version],
        "airflow": cell.airflow,
        "pins": list(cell.pins),
        "requires": _requires_dist(wheel),
        "extras": EXTRAS,
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


def _install(uv: str, venv: Path, cell: Cell, wheel: Path, log: Path, reinstall: bool, timeout: float) -> None:
    cmd = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--compile-bytecode"]
    if reinstall:
        cmd += ["--reinstall-package", DIST_NAME]
    cmd += [f"{DIST_NAME}[{EXTRAS}] @ {wheel.resolve().as_uri()}", f"apache-airflow=={cell.airflow}", *cell.pins]
    _run(cmd, log, timeout)


def ensure_venv(cell: Cell, python: str, wheel: Path, uv: str, root: Path, log: Path, timeout: float) -> VenvResult:
    """The cell's venv with Airflow and this wheel installed; built, refreshed or reused."""
    t0 = time.monotonic()
    venv = root / f"{cell.name}-{venv_key(cell, python, wheel)}"
    base_stamp, wheel_stamp = venv / ".matrix-base-ok", venv / ".matrix-wheel-sha256"
    wheel_sha = sha256(wheel)
    if base_stamp.exists() and (venv / "bin" / "python").exists():
        if wheel_stamp.exists() and wheel_stamp.read_text() == wheel_sha:
            return VenvResult(venv, "reused", time.monotonic() - t0)
        wheel_stamp.unlink(missing_ok=True)
        _install(uv, venv, cell, wheel, log, reinstall=True, timeout=timeout)
        wheel_stamp.write_text(wheel_sha)
        return VenvResult(venv, "provider reinstalled", time.monotonic() - t0)
    for old in root.glob(f"{cell.name}-*"):
        shutil.rmtree(old, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    _run([uv, "venv", "--quiet", "--python", python, str(venv)], log, timeout)
    _install(uv, venv, cell, wheel, log, reinstall=False, timeout=timeout)
    base_stamp.write_text("ok")
    wheel_stamp.write_text(wheel_sha)
    return VenvResult(venv, "created", time.monotonic() - t0)

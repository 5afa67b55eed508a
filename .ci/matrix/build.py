"""Build the wheel and sdist once (``uv build``), check them as a release would, and stage what the cells
run from the sdist (tests, example DAGs, pytest settings) without the package's source, so every cell
imports the installed wheel."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

PACKAGE = "airflow_provider_msgflash"
DIST_NAME = "airflow-provider-msgflash"

#: What a packager needs in the sdist (each a file, or a folder that must hold at least one file).
SDIST_REQUIRED = (
    "PKG-INFO",
    "pyproject.toml",
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "docs/",
    "example_dags/msgflash_lookup_and_import.py",
    "example_dags/msgflash_daily_file_lookup.py",
    "tests/conftest.py",
    "tests/hooks/",
    "tests/operators/",
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/py.typed",
)
WHEEL_REQUIRED = (f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed", f"{PACKAGE}/get_provider_info.py")
#: Never shipped: caches, venvs, VCS files, local databases.
FORBIDDEN = re.compile(r"(^|/)(__pycache__|\.venv[^/]*|\.git|\.pytest_cache|\.mypy_cache)(/|$)|\.pyc$|\.db$")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(root: Path, uv: str, out: Path, log: Path, build_lock: Path) -> tuple[Path, Path]:
    """``uv build`` into ``out``, the build backend pinned by ``build_lock`` (-b); returns (wheel, sdist)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [uv, "build", "--python", str(root / ".venv" / "bin" / "python"), "-b", str(build_lock)]
    with log.open("w") as f:
        subprocess.run([*cmd, "--out-dir", str(out), str(root)], check=True, stdout=f, stderr=f, timeout=600)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def twine_check(twine: str, wheel: Path, sdist: Path) -> str:
    """``twine check --strict``; returns its output, raises on failure."""
    proc = subprocess.run(
        [twine, "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    if proc.returncode != 0:
        raise RuntimeError("twine check failed:\n" + proc.stdout + proc.stderr)
    return f"{proc.stdout.count('PASSED')} of 2 PASSED"


def _missing(names: list[str], required: tuple[str, ...]) -> list[str]:
    present = set(names)
    return [r for r in required if not (any(n.startswith(r) for n in names) if r.endswith("/") else r in present)]


def _source_version(text: str) -> str:
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    return match.group(1) if match else "?"


def check_wheel(wheel: Path) -> tuple[list[str], str]:
    """Problems with the wheel's contents and metadata; and its version."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(z.read(meta_name).decode())
        entry_points = z.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
        source_version = _source_version(z.read(f"{PACKAGE}/__init__.py").decode())
    problems += [f"wheel lacks {m}" for m in _missing(names, WHEEL_REQUIRED)]
    if not any(re.search(r"\.dist-info/licenses/LICENSE$", n) for n in names):
        problems.append("wheel lacks .dist-info/licenses/LICENSE")
    problems += [f"wheel ships {n}" for n in names if FORBIDDEN.search(n) or n.startswith(("tests/", "example_dags/"))]
    if "apache_airflow_provider" not in entry_points:
        problems.append("wheel has no apache_airflow_provider entry point")
    if meta["Version"] != source_version or f"-{source_version}-" not in wheel.name:
        problems.append(f"version differs: METADATA {meta['Version']}, __version__ {source_version}, file {wheel.name}")
    if meta["License-Expression"] != "Apache-2.0":
        problems.append(f"License-Expression is {meta['License-Expression']!r}")
    return problems, source_version


def check_sdist(sdist: Path, version: str) -> list[str]:
    """Problems with the sdist's contents (paths relative to its top folder)."""
    with tarfile.open(sdist) as t:
        names = [m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name and m.isfile()]
    problems = [f"sdist lacks {m}" for m in _missing(names, SDIST_REQUIRED)]
    problems += [f"sdist ships {n}" for n in names if FORBIDDEN.search(n)]
    if f"-{version}.tar.gz" not in sdist.name:
        problems.append(f"sdist file {sdist.name} does not carry version {version}")
    return problems


def stage(sdist: Path, dest: Path) -> Path:
    """Extract the sdist's tests, example DAGs and pyproject.toml (pytest settings) into ``dest``, without
    the package's source: a test run there imports the installed wheel."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    keep = ("tests/", "example_dags/", "pyproject.toml")
    with tarfile.open(sdist) as t:
        for m in t.getmembers():
            rel = m.name.split("/", 1)[1] if "/" in m.name else ""
            if m.isfile() and rel.startswith(keep):
                m.name = rel
                t.extract(m, dest, filter="data")
    return dest

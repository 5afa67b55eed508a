"""`make lock`: the lock file of every environment the project builds, and the check that they are current.

    python .ci/lock.py [--upgrade]     write locks/ (dev venv, wheel build, one per matrix cell)
    python .ci/lock.py --check         exit 3, saying what to run, when a lock no longer matches its inputs

A lock is the output of ``uv pip compile`` for one environment: exact pins of every package, for one
Python on Linux, read from the package index as it was at the *index snapshot* (``--exclude-newer``).
Installs use it with no resolution (``uv pip sync`` of the lock, then the provider with ``--no-deps``),
so a new release on the index cannot change what CI installs. The locks play the role of Airflow's own
constraints files (which cannot be downloaded here): one per Airflow line and Python.

- ``locks/dev-py3.11.txt``: ``.venv`` (``make venv``, ``check``, ``test``, ``demo``), from ``.[dev]``,
  ``apache-airflow==DEV_AIRFLOW`` and ``uv``;
- ``locks/build-py3.11.txt``: the isolated build of the wheel and sdist, and of the editable install
  (``uv build -b`` / ``uv pip install -b``), from ``[build-system] requires``;
- ``locks/matrix/af<airflow>-py<python>.txt``: one matrix cell, from the wheel's requirements with the
  ``test`` extra, ``apache-airflow==<the line's patch>`` and the line's pins (``.ci/matrix/cells.py``).

Re-running ``make lock`` is deterministic: it reuses the index snapshot recorded in the existing locks
and keeps their pins where the inputs allow (uv prefers the versions already in the output file), so
adding a dependency to pyproject.toml and running ``make lock`` adds that dependency (as the index was at
the snapshot) and little else. ``make lock UPGRADE=1`` moves the snapshot to now and re-resolves every
package: a refresh, committed on its own with the matrix green.

Each lock's header records a hash of pyproject.toml's dependency tables (``[project] dependencies``,
``optional-dependencies``, ``requires-python``, ``[build-system] requires``) and one of its other inputs
(requirements, Python, uv version): ``--check`` (run by ``.ci/bootstrap.sh`` and by the matrix) fails when
either no longer matches, instead of letting an install resolve something else silently.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".ci" / "matrix"))

from cells import all_cells  # noqa: E402  (.ci/matrix/cells.py)

LOCKS = ROOT / "locks"
SCHEMA = 1  # bump to force every lock to be made again
DEV_AIRFLOW = "3.3.2"  # the Airflow of .venv, where `make test` runs everything but the matrix
DEV_PYTHON = "3.11"
PLATFORM = "linux"  # x86_64-unknown-linux-gnu: CI's and the developers' machines
STALE_EXIT = 3


def uv_version() -> str:
    """The uv the bootstrap installs (its one pin lives in .ci/bootstrap.sh)."""
    text = (ROOT / ".ci" / "bootstrap.sh").read_text()
    match = re.search(r"^UV_VERSION=(\S+)$", text, re.M)
    if match is None:
        raise SystemExit("lock: no UV_VERSION=... line in .ci/bootstrap.sh")
    return match.group(1)


@dataclass(frozen=True)
class LockSpec:
    """One environment: its lock file and what it is compiled from."""

    name: str  # "dev", "build", or a cell's name
    path: Path
    python: str
    requirements: tuple[str, ...]  # besides the project's own
    extra: str | None  # the project's extra to include (None: not the project at all)

    def describe(self) -> str:
        own = f'pyproject.toml [project] dependencies + extra "{self.extra}"; ' if self.extra else ""
        return own + (" ".join(self.requirements) or "-")


def specs() -> list[LockSpec]:
    dev = LockSpec(
        "dev",
        LOCKS / f"dev-py{DEV_PYTHON}.txt",
        DEV_PYTHON,
        (f"apache-airflow=={DEV_AIRFLOW}", f"uv=={uv_version()}"),
        "dev",
    )
    build_requires = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"])
    build = LockSpec("build", LOCKS / f"build-py{DEV_PYTHON}.txt", DEV_PYTHON, build_requires, None)
    cells = [
        LockSpec(c.name, cell_lock(c.airflow, c.python), c.python, (f"apache-airflow=={c.airflow}", *c.pins), "test")
        for c in all_cells()
    ]
    return [dev, build, *cells]


def cell_lock(airflow: str, python: str) -> Path:
    return LOCKS / "matrix" / f"af{airflow}-py{python}.txt"


def dev_lock() -> Path:
    return LOCKS / f"dev-py{DEV_PYTHON}.txt"


def build_lock() -> Path:
    return LOCKS / f"build-py{DEV_PYTHON}.txt"


def _sha(doc: object) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def pyproject_deps_hash() -> str:
    """A hash of the dependency tables only: a new pytest marker or ruff rule does not stale the locks."""
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = doc.get("project", {})
    return _sha(
        {
            "dependencies": project.get("dependencies", []),
            "optional-dependencies": project.get("optional-dependencies", {}),
            "requires-python": project.get("requires-python"),
            "build-requires": doc.get("build-system", {}).get("requires", []),
        }
    )


def inputs_hash(spec: LockSpec) -> str:
    return _sha(
        {
            "schema": SCHEMA,
            "requirements": list(spec.requirements),
            "extra": spec.extra,
            "python": spec.python,
            "platform": PLATFORM,
            "uv": uv_version(),
        }
    )


def read_header(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        match = re.match(r"#\s*([a-z0-9-]+):\s*(.*)$", line)
        if match:
            fields[match.group(1)] = match.group(2).strip()
    return fields


def header(spec: LockSpec, snapshot: str) -> str:
    what = "the development venv .venv" if spec.name == "dev" else None
    what = what or ("the wheel and sdist build (uv build -b)" if spec.name == "build" else f"matrix cell {spec.name}")
    return (
        "# Lock file made by `make lock` (.ci/lock.py): exact pins, installed without resolution. Do not edit:\n"
        "# change pyproject.toml or .ci/matrix/cells.py and run `make lock`. It plays the role of Airflow's\n"
        '# constraints file for this one environment (docs/development.md, "Locks").\n'
        f"# environment: {what}\n"
        f"# requirements: {spec.describe()}\n"
        f"# python: {spec.python} ({PLATFORM})\n"
        f"# index-snapshot: {snapshot}\n"
        f"# pyproject-deps-sha256: {pyproject_deps_hash()}\n"
        f"# inputs-sha256: {inputs_hash(spec)}\n"
    )


def problems() -> list[str]:
    """What no longer matches, one line per lock (empty when every lock is current)."""
    out = []
    deps = pyproject_deps_hash()
    for spec in specs():
        rel = spec.path.relative_to(ROOT)
        if not spec.path.exists():
            out.append(f"{rel} is missing: run make lock")
            continue
        head = read_header(spec.path)
        if head.get("pyproject-deps-sha256") != deps:
            out.append(f"pyproject.toml changed since the locks were made ({rel}): run make lock")
        elif head.get("inputs-sha256") != inputs_hash(spec):
            out.append(f"the inputs of {rel} changed (.ci/matrix/cells.py pins, uv version): run make lock")
    expected = {s.path for s in specs()}
    out += [
        f"{p.relative_to(ROOT)} belongs to no environment (a cell was removed): run make lock"
        for p in sorted(LOCKS.rglob("*.txt"))
        if p not in expected
    ]
    return out


def uv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    return env


def compile_one(uv: str, spec: LockSpec, snapshot: str, upgrade: bool) -> str:
    """``uv pip compile`` into the lock's path (uv reads the file there first: its pins are preferred)."""
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [uv, "pip", "compile", "--quiet", "--no-header", "--python-version", spec.python]
    cmd += ["--python-platform", PLATFORM, "--exclude-newer", snapshot, "--output-file", str(spec.path)]
    if spec.extra:
        cmd += ["pyproject.toml", "--extra", spec.extra]
    cmd += ["-"]  # the spec's own requirements, on stdin
    if upgrade:
        cmd += ["--upgrade"]
    proc = subprocess.run(
        cmd, input="\n".join(spec.requirements) + "\n", capture_output=True, text=True, cwd=ROOT, env=uv_env()
    )
    if proc.returncode != 0:
        return f"{spec.name}: uv pip compile failed:\n{proc.stderr.strip()}"
    body = spec.path.read_text()
    body = "\n".join(line for line in body.splitlines() if not line.startswith("#") or line.startswith("    #"))
    spec.path.write_text(header(spec, snapshot) + body.strip("\n") + "\n")
    pins = sum(1 for line in body.splitlines() if "==" in line and not line.startswith(" "))
    return f"{spec.path.relative_to(ROOT)}: {pins} packages"


def current_snapshot() -> str | None:
    path = dev_lock()
    return read_header(path).get("index-snapshot") if path.exists() else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only check that every lock matches its inputs")
    p.add_argument("--upgrade", action="store_true", help="move the index snapshot to now, re-resolve all")
    p.add_argument("--uv", default=str(ROOT / ".venv" / "bin" / "uv"))
    args = p.parse_args()
    if args.check:
        found = problems()
        for line in found:
            print(f"locks: {line}", file=sys.stderr)
        return STALE_EXIT if found else 0
    snapshot = None if args.upgrade else current_snapshot()
    snapshot = snapshot or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    all_specs = specs()
    print(f"lock: {len(all_specs)} environments, index snapshot {snapshot}" + (" (upgrade)" if args.upgrade else ""))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: compile_one(args.uv, s, snapshot, args.upgrade), all_specs))
    expected = {s.path for s in all_specs}
    for old in sorted(LOCKS.rglob("*.txt")):
        if old not in expected:
            old.unlink()
            results.append(f"{old.relative_to(ROOT)}: removed (no such environment any more)")
    failed = [r for r in results if "failed" in r]
    for r in results:
        print(f"  {r}")
    if failed:
        return 1
    print("lock: done; review `git diff locks/`, run the matrix (make matrix), commit the locks on their own")
    return 0


if __name__ == "__main__":
    sys.exit(main())

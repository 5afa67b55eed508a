"""The version matrix: the built wheel on every supported Airflow line (and Python), one table at the end.

    .venv/bin/python .ci/matrix/run.py [--only 3.3 af2.11.2-py3.11 3.3/3.12 ...] [--jobs N] [--no-unit]

1. ``uv build`` makes the wheel and sdist once; ``twine check --strict``; the wheel and sdist contents
   and the single version are checked; the sdist's tests and example DAGs are staged without the
   package's source.
2. Each cell (cells.py: Airflow line x Python) gets a reused venv (venvs.py) with Airflow, the line's pins
   and the wheel, then: the provider is the wheel's (cell_checks.py install); ``airflow providers list``
   shows it and the connection form is right (cell_checks.py registration); both example DAGs pass
   ``airflow dags test`` with the lookup deferred (cell_dags.py); the hooks/triggers/sensors/operators
   tests pass against the sandbox, importing the wheel (wheel_guard.py).
3. One table; every Python the classifiers claim must have a green cell. Exit 0 only when all is green.

Cells run ``--jobs`` at a time (default 4: most of a cell's time is spent waiting on the sandbox's pace
and the tests' timers, not on the CPU), each bounded by ``--cell-timeout`` seconds.

A cell whose venv already passed with identical inputs (the wheel, the sdist's tests and example DAGs,
these scripts; and the same venv key: Python, Airflow, pins, requirements) is not run again: the table
shows "cached" with the time of that run. ``--rerun`` (MSGFLASH_MATRIX_RERUN=1) runs it anyway.

Environment: MSGFLASH_MATRIX_DIR (venvs; default .venv-matrix in the repo), MSGFLASH_MATRIX_JOBS,
MSGFLASH_MATRIX_KEEP=1 (keep the work folder with logs even when green), MSGFLASH_MATRIX_RERUN=1.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build as pkgbuild
from cell import CellContext, CellResult, run_cell
from cells import all_cells
from report import classifier_problems, print_table

ROOT = Path(__file__).resolve().parents[2]
T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[matrix {time.monotonic() - T0:6.1f}s] {text}", flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", help="cells by name (af3.3.2-py3.12), line (3.3), line/python (3.3/3.12)")
    p.add_argument("--jobs", type=int, default=int(os.environ.get("MSGFLASH_MATRIX_JOBS", "4")))
    p.add_argument("--no-unit", action="store_true", help="skip the unit tests in each cell")
    p.add_argument(
        "--rerun",
        action="store_true",
        default=os.environ.get("MSGFLASH_MATRIX_RERUN") == "1",
        help="run every cell even when its last green run had the same inputs",
    )
    p.add_argument("--cell-timeout", type=float, default=900.0, help="seconds per cell (default 900)")
    p.add_argument("--dir", default=os.environ.get("MSGFLASH_MATRIX_DIR") or str(ROOT / ".venv-matrix"))
    return p.parse_args()


def inputs_hash(wheel: Path, stage: Path) -> str:
    """What a cell's result depends on besides its venv: the wheel, the staged tests and DAGs, these
    scripts."""
    h = hashlib.sha256(pkgbuild.sha256(wheel).encode())
    files = sorted(p for p in stage.rglob("*") if p.is_file()) + sorted(Path(__file__).parent.glob("*.py"))
    for path in files:
        h.update(str(path.relative_to(stage) if stage in path.parents else path.name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build_package(work: Path) -> tuple[Path, Path, list[str]]:
    """Wheel, sdist, and the problems found in them (twine, contents, version)."""
    venv_bin = ROOT / ".venv" / "bin"
    wheel, sdist = pkgbuild.build(ROOT, str(venv_bin / "uv"), work / "dist", work / "build.log")
    say(f"built {wheel.name} and {sdist.name}")
    problems: list[str] = []
    try:
        say("twine check --strict: " + pkgbuild.twine_check(str(venv_bin / "twine"), wheel, sdist).replace("\n", "; "))
    except RuntimeError as e:
        problems.append(str(e))
    wheel_problems, version = pkgbuild.check_wheel(wheel)
    problems += wheel_problems + pkgbuild.check_sdist(sdist, version)
    say(f"wheel and sdist contents: {'ok' if not problems else '; '.join(problems)} (version {version})")
    return wheel, sdist, problems


def run_cells(ctx: CellContext, cells: list, jobs: int) -> list[CellResult]:
    say(f"{len(cells)} cell(s), {jobs} at a time: " + ", ".join(c.name for c in cells))

    def one(cell):  # type: ignore[no-untyped-def]
        result = run_cell(cell, ctx)
        say(f"{cell.name}: {result.summary()}")
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, cells))


def main() -> int:
    args = parse_args()
    base_tmp = Path(os.environ.get("TMPDIR") or tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="msgflash-matrix-", dir=base_tmp))
    say(f"work folder {work}; venvs in {args.dir}")
    try:
        wheel, sdist, problems = build_package(work)
    except Exception as e:
        print(f"matrix: building the package failed: {e} (log {work / 'build.log'})", file=sys.stderr)
        return 1
    stage = pkgbuild.stage(sdist, work / "stage")
    ctx = CellContext(wheel, stage, Path(args.dir), work / "cells", ROOT, not args.no_unit, args.cell_timeout)
    ctx.inputs, ctx.rerun = inputs_hash(wheel, stage), args.rerun
    results = run_cells(ctx, all_cells(args.only), args.jobs)
    problems += classifier_problems(ROOT / "pyproject.toml", results, partial=bool(args.only))
    green = print_table(results, problems, time.monotonic() - T0)
    if green and os.environ.get("MSGFLASH_MATRIX_KEEP") != "1":
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"matrix: logs kept in {work}")
    return 0 if green else 1


if __name__ == "__main__":
    sys.exit(main())

"""The version matrix: the built wheel on every supported Airflow line (and Python), one table at the end.

    .venv/bin/python .ci/matrix/run.py [--only 3.3 af2.11.2-py3.11 3.3/3.12 ...] [--jobs N] [--no-unit]
    .venv/bin/python .ci/matrix/run.py --latest [--pin "3.0:fastapi<0.117" --pin "cryptography<51" ...]

1. ``uv build`` makes the wheel and sdist once, its build backend pinned by ``locks/build-py3.11.txt``;
   ``twine check --strict``; the wheel and sdist contents and the single version are checked; the sdist's
   tests and example DAGs are staged without the package's source.
2. Each cell (cells.py: Airflow line x Python) gets a reused venv (venvs.py) holding exactly the cell's lock
   (``locks/matrix/<cell>.txt``: nothing is resolved at install time) and the wheel (``--no-deps``), then:
   the provider is the wheel's (cell_checks.py install); ``airflow providers list`` shows it and the
   connection form is right (cell_checks.py registration); both example DAGs pass ``airflow dags test``
   with the lookup deferred (cell_dags.py); the unit tests of ``cells.unit_test_args`` pass against the
   sandbox, importing the wheel (wheel_guard.py).
3. Tables: the checks per cell; the resolved versions of Airflow, common-compat, cryptography, FastAPI and
   pydantic per cell (read from its venv); seconds per step. Every Python the classifiers claim must have
   a green cell. Exit 0 only when all is green.

``--latest`` (``make matrix-latest``, not part of ``make test``) is the canary: every cell in a new venv
resolved against today's index, with no lock and none of the lines' pins (``--pin [LINE:]REQ`` adds
some; ``--line-pins`` adds those of cells.py), the same checks, then per cell what broke and which
packages newer than its lock the failure output names.

Cells run ``--jobs`` at a time (default 4: most of a cell's time is spent waiting on the sandbox's pace
and the tests' timers, not on the CPU), each bounded by ``--cell-timeout`` seconds.

A cell whose venv already passed with identical inputs (the wheel, the sdist's tests and example DAGs,
these scripts; and the same venv key: Python and lock) is not run again: the table shows "cached" with
the time of that run. ``--rerun`` (MSGFLASH_MATRIX_RERUN=1) runs it anyway.

Environment: MSGFLASH_MATRIX_DIR (venvs; default .venv-matrix in the repo, .venv-matrix-latest for
--latest), MSGFLASH_MATRIX_JOBS, MSGFLASH_MATRIX_KEEP=1 (keep the work folder with logs even when green),
MSGFLASH_MATRIX_RERUN=1.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build as pkgbuild
from cell import CellContext, CellResult, run_cell
from cells import LINES, all_cells, stale_entries
from report import classifier_problems, print_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import lock

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
    p.add_argument("--dir", default=os.environ.get("MSGFLASH_MATRIX_DIR"))
    p.add_argument("--latest", action="store_true", help="resolve today's packages: no locks, no line pins")
    p.add_argument("--pin", action="append", default=[], help='with --latest: "[LINE:]REQ", e.g. "3.0:fastapi<0.117"')
    p.add_argument("--line-pins", action="store_true", help="with --latest: add each line's pins from cells.py")
    args = p.parse_args()
    args.dir = args.dir or str(ROOT / (".venv-matrix-latest" if args.latest else ".venv-matrix"))
    return args


def latest_pins(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    pins: dict[str, tuple[str, ...]] = {}
    for spec in args.pin:  # "3.0:fastapi<0.117" (one line) or "cryptography<51" (every cell)
        match = re.fullmatch(r"(\d+\.\d+):(.+)", spec)
        line, req = (match.group(1), match.group(2)) if match else ("*", spec)
        pins[line] = (*pins.get(line, ()), req)
    if args.line_pins:
        for line, (_, line_pins, _) in LINES.items():
            pins[line] = (*pins.get(line, ()), *line_pins)
    return pins


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
    wheel, sdist = pkgbuild.build(ROOT, str(venv_bin / "uv"), work / "dist", work / "build.log", lock.build_lock())
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
    stale = lock.problems()
    if stale:
        for line in stale:
            print(f"matrix: {line}", file=sys.stderr)
        print("matrix: pyproject.toml changed since the locks were made: run make lock", file=sys.stderr)
        return lock.STALE_EXIT
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
    ctx.latest, ctx.latest_pins = args.latest, latest_pins(args)
    if args.latest:
        say("latest: every cell resolved against today's index, no locks; pins: " + (str(ctx.latest_pins) or "none"))
    for line in stale_entries(stage):
        say(f"WARNING: {line}")
    results = run_cells(ctx, all_cells(args.only), args.jobs)
    problems += classifier_problems(ROOT / "pyproject.toml", results, partial=bool(args.only) or args.latest)
    green = print_table(results, problems, time.monotonic() - T0, latest=args.latest)
    if green and os.environ.get("MSGFLASH_MATRIX_KEEP") != "1":
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"matrix: logs kept in {work}")
    return 0 if green else 1


if __name__ == "__main__":
    sys.exit(main())

"""The matrix's one table, and the check that the package's classifiers claim only proven Pythons."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomllib

COLUMNS = ("Airflow", "Python", "installs", "registered", "example DAGs green", "deferred", "unit tests", "time")


def classifier_problems(pyproject: Path, results: list[Any], partial: bool) -> list[str]:
    """Every ``Programming Language :: Python :: 3.X`` classifier needs a green cell on that Python (and a
    green cell on a Python the classifiers omit is reported, so the claim can follow the proof)."""
    if partial:
        return []
    classifiers = tomllib.loads(pyproject.read_text())["project"]["classifiers"]
    claimed = {m.group(1) for c in classifiers if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))}
    green = {r.cell.python for r in results if r.green}
    problems = [f"classifier claims Python {v}, but no cell on it is green" for v in sorted(claimed - green)]
    problems += [f"Python {v} is green in the matrix but has no classifier" for v in sorted(green - claimed)]
    return problems


def rows(results: list[Any]) -> list[tuple[str, ...]]:
    return [
        (
            r.cell.airflow,
            r.cell.python,
            r.installs,
            r.registered,
            r.dags,
            r.deferred,
            r.unit,
            f"cached ({r.cached})" if r.cached else f"{r.seconds:.0f} s",
        )
        for r in results
    ]


def markdown(table: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    return [line(table[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, table[1:])]


def version_rows(results: list[Any], latest: bool) -> list[tuple[str, ...]]:
    """Per cell, the resolved versions of the packages a break is most often traced to, read from its venv
    (latest: with the lock's version where today's differs)."""
    from venvs import SHOWN

    def shown(r: Any, name: str) -> str:
        now, locked = r.versions.get(name, "-"), r.locked.get(name, "-")
        return f"{now} (lock {locked})" if latest and now != locked else now

    head = ("cell", *(n.removeprefix("apache-airflow-providers-") for n in SHOWN))
    return [head, *((r.cell.name, *(shown(r, n) for n in SHOWN)) for r in results)]


def print_table(results: list[Any], problems: list[str], seconds: float, latest: bool = False) -> bool:
    """Print the tables (Markdown, so they can be pasted as they are) and every problem; return whether all
    is green."""
    green = not problems and all(r.green for r in results)
    print()
    title = "version matrix, latest packages (no locks)" if latest else "version matrix"
    print(f"==================== {title} ({seconds:.0f} s) ====================")
    print("\n".join(markdown([COLUMNS, *rows(results)])))
    print()
    print("resolved versions, read from each cell's venv" + (" (lock's version where it differs)" if latest else ""))
    print("\n".join(markdown(version_rows(results, latest))))
    print()
    print("seconds per step:")
    for r in results:
        if r.steps:
            print(f"  {r.cell.name}: " + ", ".join(f"{k} {v:.0f}" for k, v in r.steps.items()))
    for r in results:
        for p in r.problems:
            print(f"  {r.cell.name}: {p}")
    if latest:
        print_canary(results)
    for p in problems:
        print(f"  package: {p}")
    print(f"matrix: {'all cells green' if green else 'FAILED'}")
    return green


def print_canary(results: list[Any]) -> None:
    """make matrix-latest: per red cell, what broke and the newer packages its failure output names."""
    print()
    print("what breaks with today's packages (newer than the lock; named: their modules are in the failure)")
    table = [("cell", "result", "failed checks", "named in the failure", "newer than the lock")]
    for r in results:
        newer = sorted(n for n, v in r.versions.items() if r.locked.get(n) != v and n != "airflow-provider-msgflash")
        failed = [c for c, v in zip(COLUMNS[2:7], (r.installs, r.registered, r.dags, r.deferred, r.unit), strict=True)
                  if v != "yes" and not (c == "unit tests" and v.endswith(" passed"))]  # fmt: skip
        named = ", ".join(f"{n} {r.versions[n]} (lock {r.locked.get(n, '-')})" for n in r.named) or "-"
        if not r.green and not r.named and len(newer) == 1:  # the lock is green: the one difference broke it
            named = f"{newer[0]} {r.versions[newer[0]]} (lock {r.locked.get(newer[0], '-')}): the only difference"
        table.append((r.cell.name, "green" if r.green else "RED", ", ".join(failed) or "-", named,
                      f"{len(newer)}: " + ", ".join(newer) if newer else "0"))  # fmt: skip
    print("\n".join(markdown(table)))

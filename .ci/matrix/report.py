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


def print_table(results: list[Any], problems: list[str], seconds: float) -> bool:
    """Print the table (Markdown, so it can be pasted as is) and every problem; return whether all is green."""
    table = [COLUMNS, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    green = not problems and all(r.green for r in results)
    print()
    print(f"==================== version matrix ({seconds:.0f} s) ====================")
    print(line(table[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table[1:]:
        print(line(row))
    for r in results:
        for p in r.problems:
            print(f"  {r.cell.name}: {p}")
    for p in problems:
        print(f"  package: {p}")
    print(f"matrix: {'all cells green' if green else 'FAILED'}")
    return green

"""Every test the docs name exists: a row of docs/reliability.md (or any doc) that points at a renamed or
deleted test would promise what nothing checks any more."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
#: `tests/path.py::name`, or a later `::name` in the same text (it refers to the last file named).
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?[^`]*`|`::(\w+)[^`]*`")


def _references() -> list[tuple[str, str, str | None]]:
    found = []
    for doc in DOCS:
        current = None
        for m in REFERENCE.finditer(doc.read_text()):
            current = m.group(1) or current
            if current is not None:
                found.append((doc.name, current, m.group(2) or m.group(3)))
    return found


def test_every_test_the_docs_name_exists() -> None:
    refs = _references()
    assert len(refs) > 50  # the check sees the docs' references
    missing = []
    for doc, path, name in refs:
        file = REPO / path
        if not file.exists():
            missing.append(f"{doc}: {path} (no such file)")
            continue
        if name is not None:
            tree = ast.parse(file.read_text())
            if name not in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}:
                missing.append(f"{doc}: {path}::{name}")
    assert not missing, missing

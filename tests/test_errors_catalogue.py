"""The error catalogue (``docs/errors.md``) lists every error code the provider can raise, and only those.

The codes are found in the package's source (the sandbox aside: it is a separate product), not in a list kept by
hand:

- MsgFlash's API codes: the keys of ``api/answers.py``'s ``ERROR_CODES``;
- every ``code=...`` argument: a literal, a module constant (``NO_NUMBERS``), or an f-string whose literal
  prefix is expanded below (``FSTRING_CODES``; an f-string with any other prefix fails the test until it is
  added there);
- every code-shaped string literal (``UPPER_SNAKE``) elsewhere in the package: codes handed over as values
  (``loc.fail(..., "STORAGE_NOT_FOUND")``, ``return MsgFlashLookupError, "LOOKUP_TIMEOUT", text``), except names
  in ``__all__`` and environment variable names;
- codes a message starts with in a ``raise`` (``"SENSOR_TIMEOUT: ..."``, Airflow's own sensor timeout).

It also checks the catalogue's "uses the task's retries?" column against the exception classes: a code raised
only as a final error (``AirflowFailException``) must say "no", one never raised so must say "yes".
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from airflow_provider_msgflash import exceptions
from airflow_provider_msgflash.api.answers import ERROR_CODES
from airflow_provider_msgflash.version_compat import AirflowFailException
from tests.conftest import REPO

PACKAGE = REPO / "airflow_provider_msgflash"
CATALOGUE = REPO / "docs" / "errors.md"
CODE = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"
CODE_RE = re.compile(rf"^{CODE}$")
PREFIX_RE = re.compile(rf"^({CODE}): ")
#: f-string codes: the literal prefix, and every code it can become (with where the rest comes from).
FSTRING_CODES = {
    # operators/contacts.py: a lookup that is failed or cancelled; sensors/lookup.py: the trigger event's status
    # other than success and timeout (failed, cancelled, error).
    "LOOKUP_": {"LOOKUP_FAILED", "LOOKUP_CANCELLED", "LOOKUP_ERROR"},
}


def _sources() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "sandbox" not in p.relative_to(PACKAGE).parts]


def _not_codes(tree: ast.Module) -> set[int]:
    """ids of string constants that are names, not codes: ``__all__`` entries, environment variable names."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip |= {id(c) for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(("environ.get", "getenv")) and node.args:
            skip.add(id(node.args[0]))
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
            skip.add(id(node.slice))
    return skip


def raised_codes() -> dict[str, set[str]]:
    """Every code the package can raise -> the exception classes seen raising it directly (may be empty)."""
    found: dict[str, set[str]] = defaultdict(set)
    for code, cls in ERROR_CODES.items():
        found[code].add(cls.__name__)
    constants: dict[str, str] = {}
    trees = {p: ast.parse(p.read_text()) for p in _sources()}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for t in node.targets:
                    if isinstance(t, ast.Name) and isinstance(node.value.value, str):
                        constants[t.id] = node.value.value
    for path, tree in trees.items():
        skip = _not_codes(tree)
        for node in ast.walk(tree):
            value = node.value if isinstance(node, ast.Constant) and id(node) not in skip else None
            if isinstance(value, str) and CODE_RE.match(value) and not value.startswith(("AIRFLOW_", "MSGFLASH_")):
                found.setdefault(value, set())  # a code handed over as a value
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                first = node.exc.args[0]
                text = first.value if isinstance(first, ast.Constant) else None
                if isinstance(first, ast.JoinedStr) and isinstance(first.values[0], ast.Constant):
                    text = first.values[0].value
                match = PREFIX_RE.match(text) if isinstance(text, str) else None
                if match:
                    found[match.group(1)].add(ast.unparse(node.exc.func))
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg != "code":
                    continue
                cls = ast.unparse(node.func)
                value = kw.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found[value.value].add(cls)
                elif isinstance(value, ast.Name) and value.id in constants:
                    found[constants[value.id]].add(cls)
                elif isinstance(value, ast.JoinedStr):
                    prefix = value.values[0].value if isinstance(value.values[0], ast.Constant) else ""
                    assert prefix in FSTRING_CODES, f"{path.name}:{node.lineno}: f-string code {prefix!r}...: list it"
                    for code in FSTRING_CODES[prefix]:
                        found.setdefault(code, set())  # the class depends on the status
    return dict(found)


def catalogue() -> dict[str, str]:
    """``{code: its "uses the task's retries" line}`` for every ``### `CODE` `` section of the catalogue."""
    rows: dict[str, str] = {}
    code = None
    for line in CATALOGUE.read_text().splitlines():
        heading = re.match(r"^### `([A-Z][A-Z0-9_]*)`$", line)
        if heading:
            code = heading.group(1)
            assert code not in rows, f"{code} is in the catalogue twice"
            rows[code] = ""
        elif code and line.startswith("- **uses the task's retries**: "):
            rows[code] = line.split(": ", 1)[1]
    assert all(rows.values()), [c for c, v in rows.items() if not v]
    return rows


def test_every_code_the_package_raises_is_in_the_catalogue() -> None:
    raised, listed = set(raised_codes()), set(catalogue())
    assert {"VALIDATION_ERROR", "BAD_ARGUMENT", "LOOKUP_MAY_EXIST", "SENSOR_TIMEOUT", "INSTANCE_NOT_READY"} <= raised
    assert not raised - listed, f"codes missing from docs/errors.md: {sorted(raised - listed)}"
    assert not listed - raised, f"docs/errors.md lists codes the package no longer raises: {sorted(listed - raised)}"


def test_the_retries_column_matches_the_exception_classes() -> None:
    rows = catalogue()
    for code, classes in raised_codes().items():
        known = [getattr(exceptions, c, None) for c in classes]
        known_final = [issubclass(c, AirflowFailException) for c in known if isinstance(c, type)]
        if not known_final or len(known_final) < len(classes):
            continue  # raised through a variable class somewhere: the column is read by a person
        cell = rows[code].lower()
        if all(known_final):
            assert cell.startswith(("no", "never")), (code, classes, cell)
        elif not any(known_final):
            assert cell.startswith("yes"), (code, classes, cell)
        else:
            assert "yes" in cell and "no" in cell, (code, classes, cell)

"""The package's shape, checked so it cannot drift again (docs/development.md explains each rule):

- nothing under ``triggers/``, ``sensors/`` or ``hooks/`` imports from ``operators/``;
- nothing outside ``sandbox/`` imports the sandbox (tests, benchmarks and ``.ci/`` may);
- no module over 400 lines, no function over 50 (an operator's ``__init__`` that only checks and
  stores its parameters aside).

The imports are read from the source (AST), relative imports resolved; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_msgflash"
NAME = PACKAGE.name


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts): p for p in PACKAGE.rglob("*.py")}


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def test_waiting_and_wire_code_never_imports_operators() -> None:
    bad = {
        (m, i)
        for m, p in _modules().items()
        if m.split(".")[1:2] and m.split(".")[1] in ("triggers", "sensors", "hooks")
        for i in _imports(m, p)
        if i.startswith(f"{NAME}.operators")
    }
    assert not bad, sorted(bad)


def test_only_the_sandbox_imports_the_sandbox() -> None:
    bad = {
        (m, i)
        for m, p in _modules().items()
        if not m.startswith(f"{NAME}.sandbox")
        for i in _imports(m, p)
        if i.startswith(f"{NAME}.sandbox")
    }
    assert not bad, sorted(bad)


def test_the_check_itself_sees_relative_imports(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text("from ..operators.lookup import X\nfrom . import flows\n")
    assert {f"{NAME}.operators.lookup", f"{NAME}.hooks.flows"} <= _imports(f"{NAME}.hooks.x", path)


def _is_parameter_init(node: ast.FunctionDef | ast.AsyncFunctionDef, path: Path) -> bool:
    """An operator's or sensor's ``__init__`` that only checks and stores its parameters."""
    return node.name == "__init__" and path.parent.name in ("operators", "sensors")


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for module, path in _modules().items():
        source = path.read_text()
        if len(source.splitlines()) > 400:
            too_long.append(f"{module}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _is_parameter_init(node, path):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 50:
                    too_long.append(f"{module}.{node.name}: {length} lines")
    assert not too_long, too_long

"""The package's shape, checked where it matters (docs/development.md, "Layout" and "Life of a request"):

- **the way of a request is short**: one ``create_number_lookup`` of 2 numbers, from the hook's method to the
  wire and back, passes through at most 5 of the provider's files and 15 of its functions (measured with
  ``sys.setprofile`` against the sandbox, as a maintainer would follow it);
- **the public hook API is typed**: no public method of ``MsgFlashHook`` or ``MsgFlashAsyncHook`` returns ``Any``;
- **no back-imports**: the wire (``api/``, ``ratelimit/``, ``connection.py``) imports no hook; the hooks and the
  modules they use import no trigger, sensor or operator; nothing outside ``sandbox/`` imports the sandbox;
- no function over 50 lines (an operator's ``__init__`` that only checks and stores its parameters aside).
  A module may be long when it has one job.

The imports are read from the source (AST), relative imports resolved; nothing is imported for that.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_msgflash"
NAME = PACKAGE.name
#: The most provider files and functions one request may pass through.
MAX_FILES, MAX_FUNCTIONS = 5, 15


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


def _back_imports(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> set[tuple[str, str]]:
    return {
        (m, i)
        for m, p in _modules().items()
        if m in importers or (m.split(".")[1:2] and m.split(".")[1] in importers)
        for i in _imports(m, p)
        if any(i == f"{NAME}.{f}" or i.startswith(f"{NAME}.{f}.") for f in forbidden)
    }


def test_the_wire_imports_no_hook_and_the_hooks_no_task_code() -> None:
    wire = ("api", "ratelimit", "connection")
    assert not _back_imports(wire, ("hooks", "triggers", "sensors", "operators", "polling", "results")), "wire"
    below_tasks = ("hooks", "polling", "results", "readiness", "statuses", "exceptions", "version_compat")
    assert not _back_imports(below_tasks, ("triggers", "sensors", "operators")), "hooks and what they use"
    assert not _back_imports(("triggers", "sensors"), ("operators",)), "waiting code"


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
    path.write_text("from ..operators.lookup import X\nfrom . import lookups\n")
    assert {f"{NAME}.operators.lookup", f"{NAME}.hooks.lookups"} <= _imports(f"{NAME}.hooks.x", path)


def _is_parameter_init(node: ast.FunctionDef | ast.AsyncFunctionDef, path: Path) -> bool:
    """An operator's or sensor's ``__init__`` that only checks and stores its parameters."""
    return node.name == "__init__" and path.parent.name in ("operators", "sensors")


def test_functions_stay_small() -> None:
    too_long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not _is_parameter_init(node, path):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 50:
                    too_long.append(f"{module}.{node.name}: {length} lines")
    assert not too_long, too_long


def test_no_public_hook_method_returns_any() -> None:
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook

    checked, untyped = 0, []
    for cls in (MsgFlashHook, MsgFlashAsyncHook):
        for name, fn in vars(cls).items():
            fn = getattr(fn, "__func__", getattr(fn, "func", fn))  # classmethods, cached properties
            if name.startswith("_") or not callable(fn):
                continue
            returns = inspect.signature(fn).return_annotation  # a string: the module defers annotations
            checked += 1
            if returns is inspect.Signature.empty or returns in ("Any", "typing.Any", Any):
                untyped.append(f"{cls.__name__}.{name} -> {returns}")
    assert checked >= 25  # the test sees the hooks' methods
    assert not untyped, untyped


def follow_one_request(fn: Any) -> dict[tuple[str, str], int]:
    """``{(provider file, function): calls}`` for every provider function ``fn()`` passes through (the sandbox
    and comprehensions left out), with ``sys.setprofile``."""
    sandbox = PACKAGE / "sandbox"
    seen: dict[tuple[str, str], int] = {}

    def profile(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        path = Path(code.co_filename)
        if event != "call" or PACKAGE not in path.parents or sandbox in path.parents:
            return
        if (code.co_name.startswith("<") and code.co_name.endswith("comp>")) or code.co_name == "<genexpr>":
            return
        key = (str(path.relative_to(PACKAGE)), getattr(code, "co_qualname", code.co_name))
        seen[key] = seen.get(key, 0) + 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


def test_one_lookup_request_passes_through_few_files_and_functions(msgflash_conn: Any) -> None:
    """The issue's measure: ``create_number_lookup`` of 2 numbers on a hook already in use (its connection read,
    its session open): 12 files and 33 functions before; at most 5 and 15 now."""
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    hook, instance = MsgFlashHook(), msgflash_conn.instance_id("sandbox-connected")
    hook.create_number_lookup(instance, ["+41790000001", "+41790000002"])
    seen = follow_one_request(lambda: hook.create_number_lookup(instance, ["+41790000003", "+41790000004"]))
    files = sorted({f for f, _ in seen})
    report = "\n".join(f"{f}: {sorted(q for ff, q in seen if ff == f)}" for f in files)
    assert len(files) <= MAX_FILES and len(seen) <= MAX_FUNCTIONS, report
    (request,) = [k for k in seen if k[0] == "hooks/msgflash.py" and k[1].endswith("_request")]
    assert seen[request] == 1  # the one request function, once
    assert any(f.startswith("ratelimit") for f in files) and ("api/answers.py", "parse_answer") in seen
    assert not inspect.isgeneratorfunction(MsgFlashHook._request)

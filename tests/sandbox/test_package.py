"""The sandbox package stands alone: it imports nothing of the provider outside ``sandbox/`` and nothing
of Airflow, read from its source (every import statement of every module), and seen at run time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import airflow_provider_msgflash.sandbox as sandbox_pkg

SANDBOX_DIR = Path(sandbox_pkg.__file__).resolve().parent
PACKAGE = "airflow_provider_msgflash"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SANDBOX_DIR.parent.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, package: str) -> list[str]:
    """Every module ``source`` imports, relative imports resolved against ``package`` (its own)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            parts = package.split(".")
            base = parts[: len(parts) - (node.level - 1)]
            found.append(".".join([*base, *([node.module] if node.module else [])]))
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module or "")
    return found


def _imports_of(path: Path) -> list[str]:
    name = _module_name(path)
    return _imports(path.read_text(encoding="utf-8"), name if path.name == "__init__.py" else name.rpartition(".")[0])


def _outside_sandbox(module: str) -> bool:
    if module == "airflow" or module.startswith("airflow."):
        return True
    if module == PACKAGE:
        return True  # ``from airflow_provider_msgflash import x`` reaches past the sandbox
    return module.startswith(PACKAGE + ".") and not (
        module == PACKAGE + ".sandbox" or module.startswith(PACKAGE + ".sandbox.")
    )


def test_the_check_catches_what_it_is_meant_to() -> None:
    source = (
        "from .. import hooks\n"
        "from ..operators.msgflash import X\n"
        "import airflow.sdk\n"
        "from airflow_provider_msgflash.exceptions import MsgFlashError\n"
        "from . import rules\n"
        "from .config import SandboxConfig\n"
        "import fastapi\n"
        "def lazy():\n"
        "    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook\n"
    )
    imports = _imports(source, f"{PACKAGE}.sandbox")
    assert [m for m in imports if _outside_sandbox(m)] == [
        PACKAGE,
        f"{PACKAGE}.operators.msgflash",
        "airflow.sdk",
        f"{PACKAGE}.exceptions",
        f"{PACKAGE}.hooks.msgflash",
    ]
    assert f"{PACKAGE}.sandbox.config" in imports and "fastapi" in imports


def test_sandbox_source_imports_nothing_of_the_provider_or_airflow() -> None:
    modules = sorted(SANDBOX_DIR.rglob("*.py"))
    assert len(modules) >= 15
    bad = {str(p.relative_to(SANDBOX_DIR)): m for p in modules for m in _imports_of(p) if _outside_sandbox(m)}
    assert bad == {}, f"the sandbox must stand alone; these imports reach outside it: {bad}"


def test_sandbox_loads_nothing_of_the_provider_or_airflow_at_run_time() -> None:
    child = (
        "import json, sys\n"
        "import airflow_provider_msgflash.sandbox, airflow_provider_msgflash.sandbox.app, "
        "airflow_provider_msgflash.sandbox.cli\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "fastapi" in loaded  # the check sees what the app imports
    # Python always loads the parent package (its __init__ holds only __version__); nothing else of it.
    assert [m for m in loaded if _outside_sandbox(m) and m != PACKAGE] == []


def test_public_names() -> None:
    for name in (
        "DIALECTS",
        "ALL_DIALECTS",
        "running_sandbox",
        "start_sandbox",
        "SandboxHandle",
        "SandboxAdminError",
        "SandboxConfig",
        "SEEDED_INSTANCES",
        "SANDBOX_API_KEY",
        "SANDBOX_TEAM_KEY",
        "SANDBOX_TEAM_ID",
        "FAULT_FIELDS",
        "is_on_whatsapp",
        "normalize_number",
        "split_numbers",
        "key_fingerprint",
    ):
        assert name in sandbox_pkg.__all__ and getattr(sandbox_pkg, name) is not None

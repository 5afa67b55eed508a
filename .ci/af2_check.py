"""Airflow 2.11 compatibility checks, run by ``.ci/check_airflow2.sh`` inside ``.venv-af2``.

    python .ci/af2_check.py PROVIDERS_LIST_JSON

Expects AIRFLOW_HOME (a temp folder) and AIRFLOW_CONN_MSGFLASH_DEFAULT (a fake personal key, base URL
on a closed loopback port, ``max_retries`` 0) in the environment. Prints one line per check and exits
non-zero if any failed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

warnings.simplefilter("ignore")  # Airflow 2.11 warns a lot about Airflow 3; not our subject here

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Run the decorated function now; record ok with its message, or the failure."""

    def deco(fn: Callable[[], str]) -> Callable[[], str]:
        t0 = time.monotonic()
        try:
            msg = fn()
            ok = True
        except Exception as e:
            ok = False
            msg = f"{type(e).__name__}: {e}"
            if os.environ.get("MSGFLASH_AF2_VERBOSE") == "1":
                traceback.print_exc()
        RESULTS.append((name, ok, msg))
        print(f"  {'ok  ' if ok else 'FAIL'} {name} ({time.monotonic() - t0:.1f} s): {msg}", flush=True)
        return fn

    return deco


def main() -> int:
    providers_json = sys.argv[1]

    @check("Airflow version is 2.11")
    def _version() -> str:
        import airflow

        version = str(airflow.__version__)
        assert version.startswith("2.11."), version
        return version

    @check("`airflow providers list` shows airflow-provider-msgflash")
    def _providers_list() -> str:
        import airflow_provider_msgflash

        with open(providers_json) as f:
            rows = json.load(f)
        ours = [r for r in rows if r.get("package_name") == "airflow-provider-msgflash"]
        assert ours, "not listed; listed: " + ", ".join(r.get("package_name", "?") for r in rows)
        version = ours[0].get("version")
        assert version == airflow_provider_msgflash.__version__, (version, airflow_provider_msgflash.__version__)
        return f"version {version}"

    @check("every module of airflow_provider_msgflash imports")
    def _imports() -> str:
        import airflow_provider_msgflash as pkg

        has_fastapi = importlib.util.find_spec("fastapi") is not None
        imported, skipped, errors = [], [], []

        def onerror(name: str) -> None:
            errors.append(f"{name}: {sys.exc_info()[1]!r}")

        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".", onerror=onerror):
            if not has_fastapi and (mod.name + ".").startswith(f"{pkg.__name__}.sandbox."):
                skipped.append(mod.name)
                continue
            try:
                importlib.import_module(mod.name)
                imported.append(mod.name)
            except Exception as e:
                errors.append(f"{mod.name}: {type(e).__name__}: {e}")
        assert not errors, "; ".join(errors)
        note = f", skipped sandbox ({len(skipped)} modules; fastapi not installed)" if skipped else ""
        return f"{len(imported)} modules{note}"

    @check("modules and classes named by get_provider_info() import")
    def _provider_info() -> str:
        from airflow_provider_msgflash.get_provider_info import get_provider_info

        info = get_provider_info()
        names: list[str] = []
        for section in ("hooks", "operators", "sensors", "triggers"):
            for entry in info.get(section, []):
                names.extend(entry.get("python-modules", []))
        missing = []
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as e:
                missing.append(f"{name} ({type(e).__name__}: {e})")
        for ct in info.get("connection-types", []):
            mod, _, cls = ct["hook-class-name"].rpartition(".")
            try:
                getattr(importlib.import_module(mod), cls)
            except Exception as e:
                missing.append(f"{ct['hook-class-name']} ({type(e).__name__}: {e})")
        for link in info.get("extra-links", []):
            mod, _, cls = link.rpartition(".")
            try:
                getattr(importlib.import_module(mod), cls)
            except Exception as e:
                missing.append(f"{link} ({type(e).__name__}: {e})")
        assert not missing, "cannot import: " + "; ".join(missing)
        return f"{len(names)} modules, {len(info.get('connection-types', []))} connection type(s)"

    @check("ProvidersManager registers connection type 'msgflash'")
    def _providers_manager() -> str:
        from airflow.providers_manager import ProvidersManager

        pm = ProvidersManager()
        hook_info = pm.hooks.get("msgflash")
        assert hook_info is not None, "no hook for connection type msgflash"
        assert hook_info.hook_class_name.endswith(".MsgFlashHook"), hook_info.hook_class_name
        return f"{hook_info.hook_class_name}, testable={hook_info.connection_testable}"

    # Airflow 2 reads the form only from methods defined in the hook class's own __dict__
    # (providers_manager._import_hook): inherited ones are ignored.
    @check("connection form (field behaviour and extra widgets) reaches Airflow's UI")
    def _form() -> str:
        from airflow.providers_manager import ProvidersManager

        pm = ProvidersManager()
        behaviour = pm.field_behaviours.get("msgflash")
        assert behaviour, (
            "ProvidersManager has no field behaviour for 'msgflash': Airflow 2 only reads "
            "get_ui_field_behaviour() defined in MsgFlashHook's own class body, not inherited"
        )
        widgets = sorted(k for k in pm.connection_form_widgets if k.startswith("extra__msgflash__"))
        assert widgets, (
            "no extra__msgflash__* form widgets: Airflow 2 only reads get_connection_form_widgets() "
            "defined in MsgFlashHook's own class body, not inherited"
        )
        return f"hidden {behaviour.get('hidden_fields')}, widgets {widgets}"

    @check("MsgFlashHook.get_ui_field_behaviour()")
    def _ui() -> str:
        from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

        b: dict[str, Any] = MsgFlashHook.get_ui_field_behaviour()
        assert isinstance(b, dict), type(b)
        assert {"hidden_fields", "relabeling"} <= set(b), sorted(b)
        assert b["relabeling"].get("password"), b["relabeling"]
        return f"keys {sorted(b)}"

    @check("MsgFlashHook reads AIRFLOW_CONN_MSGFLASH_DEFAULT")
    def _conn() -> str:
        from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

        expected = json.loads(os.environ["AIRFLOW_CONN_MSGFLASH_DEFAULT"])
        hook = MsgFlashHook()
        conn = hook.get_connection(hook.msgflash_conn_id)
        assert conn.conn_type == "msgflash", conn.conn_type
        s = hook.settings
        assert s.api_key == expected["password"], "API key not read from the connection"
        assert s.base_url.rstrip("/") == expected["host"].rstrip("/"), s.base_url
        assert s.max_retries == 0, s.max_retries
        return f"base URL {s.base_url}, max_retries {s.max_retries}, key not shown"

    @check("MsgFlashHook.test_connection() on a closed loopback port")
    def _test_connection() -> str:
        from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

        t0 = time.monotonic()
        ok, message = MsgFlashHook().test_connection()
        took = time.monotonic() - t0
        assert ok is False, f"expected (False, ...), got ({ok!r}, {message!r})"
        assert isinstance(message, str) and message, repr(message)
        assert took < 10, f"took {took:.1f} s"
        key = json.loads(os.environ["AIRFLOW_CONN_MSGFLASH_DEFAULT"])["password"]
        assert key not in message, "the API key leaked into the message"
        return f"(False, {message[:90]!r}...) in {took:.2f} s"

    failed = [name for name, ok, _ in RESULTS if not ok]
    print(f"  af2 checks: {len(RESULTS) - len(failed)} of {len(RESULTS)} ok", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Checks run by a matrix cell inside its own venv (``VENV/bin/python cell_checks.py ...``).

    cell_checks.py install WHEEL           the provider is the wheel's, imported from this venv
    cell_checks.py registration LIST_JSON  ``airflow providers list`` output + the connection form

Each prints one line ``RESULT {"ok": ..., "problems": [...], "facts": {...}}`` and exits 0 (the caller
judges). The form is checked where each line's UI reads it: Airflow 3's UI asks the API server's
``HookMetaService`` (relabelled/hidden standard fields and the extras as JSON-schema params); Airflow
2.11's FAB UI reads ``ProvidersManager``'s field behaviours and WTForms widgets.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import sysconfig
import warnings
import zipfile
from pathlib import Path
from typing import Any

warnings.simplefilter("ignore")

DIST = "airflow-provider-msgflash"


def _expected_extras() -> dict[str, Any]:
    """The extras and defaults the form declares (its one declaration, in the installed wheel)."""
    from airflow_provider_msgflash.connection import EXTRA_FIELDS

    return {f.name: f.default for f in EXTRA_FIELDS}


def _same_defaults(shown: dict[str, Any], declared: dict[str, Any]) -> bool:
    """Whether a UI shows the declared defaults: numbers compared as numbers (Airflow 2's text boxes and
    3.1's form show "30" for 30), everything else as it is."""

    def norm(v: Any) -> Any:
        try:
            return float(v) if isinstance(v, int | float | str) and not isinstance(v, bool) else v
        except ValueError:
            return v

    return {k: norm(v) for k, v in shown.items()} == {k: norm(v) for k, v in declared.items()}


RELABEL = {"host": "Base URL", "password": "API key"}
HIDDEN = ["login", "port", "schema"]


def _record_hashes(text: str) -> dict[str, str]:
    rows = (line.split(",") for line in text.splitlines() if line.strip())
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[1] and r[0].startswith("airflow_provider_msgflash/")}


#: Modules that need a newer Airflow than some supported lines, and must then refuse clearly, naming it:
#: module -> (the version_compat flag saying the line has what it needs, the version its ImportError names).
NEEDS_NEWER_AIRFLOW = {
    "airflow_provider_msgflash.triggers.instance_events": ("AIRFLOW_HAS_EVENT_TRIGGERS", "3.0.0"),
    "airflow_provider_msgflash.retry_policy": ("AIRFLOW_HAS_RETRY_POLICIES", "3.3"),
}


def _import_all(pkg: Any) -> list[str]:
    """Every module of the package imports on this line (the sandbox included: [test] brings FastAPI),
    except those that need a newer Airflow, which must raise ImportError naming the version needed."""
    import importlib
    import pkgutil

    from airflow_provider_msgflash import version_compat

    errors: list[str] = []
    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".", onerror=errors.append):
        flag, version = NEEDS_NEWER_AIRFLOW.get(mod.name, (None, None))
        needs = None if flag is None or getattr(version_compat, flag) else version
        try:
            importlib.import_module(mod.name)
        except ImportError as e:
            if needs is None or f"Airflow {needs} or later" not in str(e):
                errors.append(f"{mod.name}: {type(e).__name__}: {e}")
            continue
        except Exception as e:
            errors.append(f"{mod.name}: {type(e).__name__}: {e}")
            continue
        if needs is not None:
            errors.append(f"{mod.name}: imported on this Airflow, but it needs Airflow {needs} and must say so")
    return [f"cannot import {e}" for e in errors]


def check_install(wheel: str) -> tuple[list[str], dict[str, Any]]:
    import importlib.metadata as md

    import airflow

    import airflow_provider_msgflash as pkg

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    where = Path(pkg.__file__).resolve()
    facts = {"airflow": airflow.__version__, "python": sys.version.split()[0], "provider": pkg.__version__}
    facts["provider_file"] = str(where)
    problems = [] if site in where.parents else [f"provider imported from {where}, not {site}"]
    with zipfile.ZipFile(wheel) as z:
        (record,) = [n for n in z.namelist() if n.endswith(".dist-info/RECORD")]
        expected = _record_hashes(z.read(record).decode())
    mismatched = []
    for rel, digest in expected.items():
        data = (site / rel).read_bytes() if (site / rel).exists() else b""
        actual = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if actual != digest:
            mismatched.append(rel)
    if mismatched:
        problems.append(f"{len(mismatched)} installed file(s) differ from the wheel, e.g. {mismatched[0]}")
    facts["files_checked"] = len(expected)
    problems += _import_all(pkg)
    facts["common_compat"] = md.version("apache-airflow-providers-common-compat")
    return problems, facts


def _json_rows(text: str) -> list[dict[str, Any]]:
    """The JSON list in ``providers list -o json`` output (Airflow 3.0 prints log lines before it)."""
    for start in [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]:
        if text.startswith("[{", start) or text.startswith("[]", start):
            return list(json.loads(text[start:]))
    raise ValueError("no JSON list in `airflow providers list -o json` output")


def _providers_list(path: str) -> tuple[list[str], dict[str, Any]]:
    import airflow_provider_msgflash as pkg

    rows = _json_rows(Path(path).read_text())
    ours = [r for r in rows if r.get("package_name") == DIST]
    if not ours:
        return [f"`airflow providers list` does not show {DIST}"], {}
    version = ours[0].get("version")
    problems = [] if version == pkg.__version__ else [f"providers list shows version {version}"]
    return problems, {"listed_version": version}


def _behaviour_problems(b: dict[str, Any] | None) -> list[str]:
    if not b:
        return ["no field behaviour for connection type msgflash"]
    problems = []
    if sorted(b.get("hidden_fields") or []) != HIDDEN:
        problems.append(f"hidden fields {b.get('hidden_fields')}")
    if (b.get("relabeling") or {}) != RELABEL:
        problems.append(f"relabeling {b.get('relabeling')}")
    if (b.get("placeholders") or {}).get("host") != "https://srv.msgflash.com":
        problems.append(f"placeholders {b.get('placeholders')}")
    return problems


def _ui3_form() -> tuple[list[str], dict[str, Any]]:
    """Airflow 3: what ``GET /ui/connections/hook_meta`` gives the connection form.

    Airflow 3.0 reads every hook's form only when WTForms is installed (its UI mocks WTForms and FAB only
    when they are present; 3.1+ mocks them always): without it no connection type has a custom form,
    and the matrix records that instead of failing the provider for it.
    """
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    all_metas = [m.model_dump() for m in HookMetaService.hook_meta_data()]
    metas = [m for m in all_metas if m["connection_type"] == "msgflash"]
    if not metas:
        return ["hook_meta has no msgflash entry"], {}
    if not any(m.get("standard_fields") or m.get("extra_fields") for m in all_metas):
        return [], {"form": "none for any connection type on this Airflow (no WTForms installed)"}
    std, extras = metas[0].get("standard_fields") or {}, metas[0].get("extra_fields") or {}
    hidden = sorted(k for k, v in std.items() if v and v.get("hidden"))
    labels = {k: v.get("title") for k, v in std.items() if v and v.get("title")}
    defaults = {k: (v.get("value") if isinstance(v, dict) else None) for k, v in extras.items()}
    facts = {"form": "hook_meta", "hidden": hidden, "labels": labels, "extras": defaults}
    # hook_meta names the schema field url_schema
    expected_hidden = sorted("url_schema" if f == "schema" else f for f in HIDDEN)
    problems = [] if hidden == expected_hidden else [f"hook_meta hidden fields {hidden}"]
    problems += [] if labels == RELABEL else [f"hook_meta labels {labels}"]
    expected = _expected_extras()
    problems += [] if _same_defaults(defaults, expected) else [f"hook_meta extras {defaults}, expected {expected}"]
    return problems, facts


def _fab_form(pm: Any) -> tuple[list[str], dict[str, Any]]:
    """Airflow 2.11: the FAB form's WTForms widgets."""
    prefix = "extra__msgflash__"
    widgets = {k[len(prefix) :]: v.field for k, v in pm.connection_form_widgets.items() if k.startswith(prefix)}
    defaults = {k: w.kwargs.get("default") for k, w in widgets.items()}
    facts = {"form": "fab_widgets", "extras": defaults}
    expected = _expected_extras()
    ok = _same_defaults(defaults, expected)
    return ([] if ok else [f"form widgets {defaults}, expected {expected}"]), facts


def check_registration(providers_json: str) -> tuple[list[str], dict[str, Any]]:
    """The form first, as the UI loads it: Airflow 3's ``HookMetaService`` initialises the providers
    manager itself (with FAB mocked), so nothing may touch the manager's hooks before it."""
    try:
        import airflow.api_fastapi.core_api.services.ui.connections  # noqa: F401
    except ImportError:
        airflow3_ui = False
    else:
        airflow3_ui = True
    problems, facts = _ui3_form() if airflow3_ui else ([], {})
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    hook = pm.hooks.get("msgflash")
    if hook is None or not hook.hook_class_name.endswith(".MsgFlashHook"):
        problems.append(f"connection type msgflash not registered (hook info {hook})")
    else:
        facts.update(hook_class=hook.hook_class_name, testable=hook.connection_testable)
    if not airflow3_ui:
        problems += _behaviour_problems(pm.field_behaviours.get("msgflash"))
        form_problems, form_facts = _fab_form(pm)
        problems, facts = problems + form_problems, {**facts, **form_facts}
    listed_problems, listed_facts = _providers_list(providers_json)
    return listed_problems + problems, {**listed_facts, **facts}


def main() -> int:
    command, arg = sys.argv[1], sys.argv[2]
    try:
        problems, facts = {"install": check_install, "registration": check_registration}[command](arg)
    except Exception as e:  # the caller reports it as a failed check
        problems, facts = [f"{type(e).__name__}: {e}"], {}
    print("RESULT " + json.dumps({"ok": not problems, "problems": problems, "facts": facts}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

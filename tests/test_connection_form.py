"""The connection form and provider metadata: ``get_provider_info()`` is valid for Airflow's schema, the
Airflow 2/3.0/3.1 form (wtforms widgets) and the Airflow 3.2+ declarative form come from one declaration
and agree, and Airflow's ProvidersManager (in a fresh process, as the API server would run it) knows
the ``msgflash`` connection type."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest

from airflow_provider_msgflash import __version__
from airflow_provider_msgflash.get_provider_info import get_provider_info
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

EXTRAS = ["max_retries", "rate_limit_backend", "requests_per_second", "team_id", "timeout"]


def test_provider_info_matches_airflows_schema():
    schema = json.loads((resources.files("airflow") / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-msgflash"
    assert info["versions"] == [__version__]


def test_connection_type_points_at_the_hook():
    (ct,) = get_provider_info()["connection-types"]
    assert ct["connection-type"] == MsgFlashHook.conn_type == "msgflash"
    module, _, name = ct["hook-class-name"].rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is MsgFlashHook
    assert sorted(ct["conn-fields"]) == EXTRAS
    for hooks in get_provider_info()["hooks"]:
        for mod in hooks["python-modules"]:
            __import__(mod)


def test_declared_fields_accept_what_the_hook_accepts():
    from airflow_provider_msgflash.connection import EXTRA_FIELDS, NUMBER_PATTERN, conn_fields

    declared = conn_fields()
    assert sorted(declared) == sorted(f.name for f in EXTRA_FIELDS) == EXTRAS

    def valid(name: str, value: object) -> bool:
        try:
            jsonschema.validate(value, declared[name]["schema"])
            return True
        except jsonschema.ValidationError:
            return False

    # Fractions where the hook takes them (0.5 s per request, one request every 2 s).
    assert valid("timeout", 0.5) and valid("requests_per_second", 0.5) and valid("requests_per_second", 0)
    assert not valid("timeout", 0) and not valid("requests_per_second", -1) and not valid("timeout", "soon")
    assert valid("max_retries", 3) and not valid("max_retries", 1.5) and not valid("max_retries", -1)
    # Airflow 2's text box for those numbers: the same rule as a pattern.
    assert all(re.match(NUMBER_PATTERN, v) for v in ("0.5", "10", " 30 "))
    assert not any(re.match(NUMBER_PATTERN, v) for v in ("-1", "soon", "1e3", ""))


def test_airflow2_form_matches_the_declarative_form():
    ui = MsgFlashHook.get_ui_field_behaviour()
    (ct,) = get_provider_info()["connection-types"]
    assert ui["hidden_fields"] == ct["ui-field-behaviour"]["hidden-fields"]
    assert ui["relabeling"] == {"host": "Base URL", "password": "API key"}
    assert ui["placeholders"]["host"] == "https://srv.msgflash.com"


_PROBE = """
import json, warnings
warnings.simplefilter("ignore")
from airflow.providers_manager import ProvidersManager
pm = ProvidersManager()
hook = pm.hooks.get("msgflash")
widgets = {k: v.field for k, v in pm.connection_form_widgets.items() if k.startswith("extra__msgflash__")}
print("PROBE" + json.dumps({
    "provider": "airflow-provider-msgflash" in pm.providers,
    "hook_class": hook.hook_class_name if hook else None,
    "conn_id_attr": hook.connection_id_attribute_name if hook else None,
    "hook_name": hook.hook_name if hook else None,
    "testable": hook.connection_testable if hook else None,
    "behaviour": pm.field_behaviours.get("msgflash"),
    "widgets": widgets,
}, default=str))
"""


@pytest.fixture(scope="module")
def providers_manager_view(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("PROBE")]
    return json.loads(line.removeprefix("PROBE"))


def test_providers_manager_knows_the_connection_type(providers_manager_view):
    v = providers_manager_view
    assert v["provider"] is True
    assert v["hook_class"] == "airflow_provider_msgflash.hooks.msgflash.MsgFlashHook"
    assert v["conn_id_attr"] == "msgflash_conn_id"
    assert v["hook_name"] == "MsgFlash"
    assert v["testable"] is True  # the UI shows the Test button


def test_providers_manager_field_behaviour(providers_manager_view):
    b = providers_manager_view["behaviour"]
    assert sorted(b["hidden_fields"]) == ["login", "port", "schema"]
    assert b["relabeling"] == {"host": "Base URL", "password": "API key"}
    assert b["placeholders"]["host"] == "https://srv.msgflash.com"
    assert b["placeholders"]["password"].startswith("msgf_live_")


def test_providers_manager_extra_widgets(providers_manager_view):
    widgets = providers_manager_view["widgets"]
    assert sorted(widgets) == [f"extra__msgflash__{name}" for name in EXTRAS]
    # Fractions are accepted where the hook accepts them (0.5 s, 0.5 request/s).
    assert widgets["extra__msgflash__timeout"]["schema"]["type"] == ["number", "null"]
    assert widgets["extra__msgflash__timeout"]["schema"]["exclusiveMinimum"] == 0
    assert widgets["extra__msgflash__requests_per_second"]["schema"]["type"] == ["number", "null"]
    assert widgets["extra__msgflash__max_retries"]["schema"]["type"] == ["integer", "null"]
    assert widgets["extra__msgflash__requests_per_second"]["value"] == 10
    assert widgets["extra__msgflash__team_id"]["schema"]["title"] == "Team id"

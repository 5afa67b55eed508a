"""The MsgFlash connection form in Airflow's real web UI (``airflow standalone``, headless Chromium).

What a user sees on Admin → Connections → Add with type MsgFlash: relabelled, hidden and placeholder
fields and the extras widgets with their defaults; what the form stores, read back through the REST API
and by the provider's own hook; and what the list's Test button, the REST test route and
``airflow connections test`` answer.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_msgflash.api import defaults
from airflow_provider_msgflash.get_provider_info import get_provider_info
from tests.browser._ui import AirflowUI
from tests.browser.conftest import REPO, BrowserEnv

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

CONN_ID = "msgflash_from_browser"
#: The extras the user types on the form (timeout and max retries changed, rate left at its default).
TYPED = {"timeout": "12", "max_retries": "2"}
#: Airflow versions whose list "Test" button sends ``port: 0`` for a connection without a port and gets
#: 400 "The host or port to test differs from the stored connection" (fixed upstream by apache/airflow#73298).
BUTTON_SENDS_PORT_0 = {"3.3.2"}


def _form_declaration() -> dict[str, Any]:
    (conn_type,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "msgflash"]
    return dict(conn_type)


def _run_in_parallel(env: BrowserEnv, commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run Python commands (``python -m ...``) side by side in the standalone's environment (bounded)."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", *args],
            env=env.airflow.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for name, args in commands.items()
    }
    done = {}
    try:
        for name, p in procs.items():
            out, err = p.communicate(timeout=180)
            done[name] = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    return done


@pytest.fixture(scope="module")
def outside_views(browser_env: BrowserEnv, saved: str, rest_conns: dict[str, str]) -> dict[str, Any]:
    """How the stored connections look outside the UI, computed side by side: the provider's hook
    (settings and ``test_connection()``, see _hook_probe) and ``airflow connections test``."""
    wrong = rest_conns["wrong_key"]
    runs = _run_in_parallel(
        browser_env,
        {
            "hook": ["tests.browser._hook_probe", saved, wrong],
            "cli_saved": ["airflow", "connections", "test", saved],
            "cli_wrong": ["airflow", "connections", "test", wrong],
        },
    )
    hook = runs.pop("hook")
    assert hook.returncode == 0, f"hook probe failed:\n{hook.stderr[-3000:]}"
    return {"hook": json.loads(hook.stdout.strip().splitlines()[-1]), **runs}


@pytest.fixture(scope="module")
def saved(ui: AirflowUI, browser_env: BrowserEnv) -> str:
    """A team-key connection filled in and saved through the Add form."""
    sb = browser_env.sandbox
    assert sb.team_key is not None
    ui.open_add_form("MsgFlash")
    ui.type_into("connection_id", CONN_ID)
    ui.type_into("host", sb.base_url)
    ui.type_into("password", sb.team_key)
    ui.open_section("Extra Fields")
    ui.type_into("element_team_id", sb.team_id)
    for name, value in TYPED.items():
        ui.type_into(f"element_{name}", value)
    ui.shot("add-form-filled")
    ui.open_section("Extra Fields JSON")
    ui.shot("add-form-extra-json")
    ui.save_form(CONN_ID)
    ui.shot("connection-list-after-save")
    return CONN_ID


def test_add_form_relabels_hides_and_fills_placeholders(ui: AirflowUI) -> None:
    ui.open_add_form("Generic")  # Airflow's own type shows every standard field, as a reference
    ui.shot("add-form-generic")
    assert all(ui.has_input(n) for n in ("host", "schema", "login", "password", "port"))
    assert ui.field("host").label == "Host"
    ui.choose_type("MsgFlash")
    ui.shot("add-form-msgflash")
    placeholders = _form_declaration()["ui-field-behaviour"]["placeholders"]

    host, key = ui.field("host"), ui.field("password")
    assert (host.label, key.label) == ("Base URL", "API key")
    assert host.placeholder == placeholders["host"] == defaults.DEFAULT_BASE_URL
    assert key.placeholder == placeholders["password"]
    assert key.placeholder.startswith("msgf_live_")
    assert key.input_type == "password"
    for hidden in ("schema", "login", "port"):
        assert not ui.has_input(hidden), f"the {hidden!r} field should be hidden for MsgFlash"
    labels = ui.labels()
    for generic in ("Host", "Login", "Schema", "Port", "Password"):
        assert generic not in labels, f"generic label {generic!r} shown: {labels}"


def test_add_form_extras_widgets_show_defaults(ui: AirflowUI) -> None:
    ui.open_add_form("MsgFlash")
    ui.open_section("Extra Fields")
    ui.shot("add-form-extra-fields")
    declared = _form_declaration()["conn-fields"]
    expected = {  # label, default shown (the hook's own default when the extra is absent)
        "team_id": ("Team id", ""),
        "timeout": ("Request timeout (s)", f"{defaults.DEFAULT_TIMEOUT:g}"),
        "max_retries": ("Max retries", str(defaults.DEFAULT_MAX_RETRIES)),
        "requests_per_second": ("Requests per second", f"{defaults.DEFAULT_REQUESTS_PER_SECOND:g}"),
        "rate_limit_backend": ("Rate limit shared by", defaults.DEFAULT_RATE_LIMIT_BACKEND),
    }
    assert set(declared) == set(expected)
    for name, (label, default) in expected.items():
        f = ui.field(f"element_{name}")
        assert (f.label, f.value) == (label, default), f
        assert f.help_text == declared[name]["description"], f


def test_saved_connection_is_read_by_the_hook_as_typed(
    ui: AirflowUI, browser_env: BrowserEnv, saved: str, outside_views: dict[str, Any]
) -> None:
    sb = browser_env.sandbox
    stored = browser_env.airflow.client.call("GET", f"/api/v2/connections/{saved}")
    assert stored["conn_type"] == "msgflash"
    assert stored["host"] == sb.base_url
    assert (stored["port"], stored["login"], stored["schema"]) == (None, None, None)
    assert stored["password"] == "***"  # masked by the API; the hook below proves the real value
    assert json.loads(stored["extra"]) == {
        "team_id": sb.team_id,
        "timeout": 12,
        "max_retries": 2,
        "requests_per_second": defaults.DEFAULT_REQUESTS_PER_SECOND,
        "rate_limit_backend": defaults.DEFAULT_RATE_LIMIT_BACKEND,
    }

    read = outside_views["hook"][saved]
    assert read["settings"] == {
        "base_url": sb.base_url,
        "api_key_sha256": hashlib.sha256(str(sb.team_key).encode()).hexdigest(),
        "team_id": sb.team_id,
        "is_team_key": True,
        "timeout": 12.0,
        "max_retries": 2,
        "requests_per_second": defaults.DEFAULT_REQUESTS_PER_SECOND,
    }
    ok, message = read["test_connection"]
    assert ok, message
    assert message.startswith(f"Connected to MsgFlash at {sb.base_url} (team key)")

    ui.open_edit_form(saved)
    ui.open_section("Extra Fields")
    ui.shot("edit-form-extra-fields")
    shown = {n: ui.field(f"element_{n}").value for n in ("team_id", "timeout", "max_retries", "requests_per_second")}
    rate = f"{defaults.DEFAULT_REQUESTS_PER_SECOND:g}"
    assert shown == {"team_id": sb.team_id, "timeout": "12", "max_retries": "2", "requests_per_second": rate}
    assert ui.field("host").value == sb.base_url
    ui.close_dialog()


@pytest.fixture(scope="module")
def rest_conns(browser_env: BrowserEnv) -> dict[str, str]:
    """Connections created through the REST API (as scripts do): the sandbox's personal key stored with
    ``port`` 0, and a key the sandbox does not know."""
    sb = browser_env.sandbox
    made = {
        "port_0": {"host": sb.base_url, "password": sb.api_key, "port": 0},
        "wrong_key": {"host": sb.base_url, "password": "msgf_live_" + "0" * 64},
    }
    ids = {}
    for name, fields in made.items():
        conn_id = f"msgflash_rest_{name}"
        body = {"connection_id": conn_id, "conn_type": "msgflash", **fields}
        browser_env.airflow.client.call("POST", "/api/v2/connections", json_body=body)
        ids[name] = conn_id
    return ids


def test_ui_test_button_on_a_form_saved_connection(ui: AirflowUI, browser_env: BrowserEnv, saved: str) -> None:
    """The list's Test button on the connection the form saved (port empty, as the form hides it)."""
    version = browser_env.airflow.client.call("GET", "/api/v2/version")["version"]
    toast, sent = ui.click_test(saved)
    body = json.loads(sent["body"])
    assert (body["connection_id"], body["password"]) == (saved, "***")  # the UI never resends the key
    if version in BUTTON_SENDS_PORT_0:
        # Airflow's UI sends Number(null) = 0 for the empty port, and the API refuses a port that differs
        # from the stored one unless the key is sent again: nothing the provider's form can change.
        assert body["port"] == 0
        assert sent["status"] == 400
        assert "differs from the stored connection" in json.loads(sent["response"])["detail"]
        assert (toast.kind, toast.title, toast.description) == ("error", "Test Connection Failed", "Bad Request")
    else:
        assert (toast.kind, toast.title) == ("success", "Test Connection Successful"), (version, toast, sent)
        assert toast.description.startswith(f"Connected to MsgFlash at {browser_env.sandbox.base_url} (team key)")


def test_ui_test_button_shows_our_message_when_the_ports_match(
    ui: AirflowUI, browser_env: BrowserEnv, rest_conns: dict[str, str]
) -> None:
    """With a stored port the UI resends unchanged (0 here; the hook ignores port 0), the button reaches
    the hook's ``test_connection`` and shows its answer."""
    toast, sent = ui.click_test(rest_conns["port_0"])
    assert (sent["status"], json.loads(sent["body"])["port"]) == (200, 0)
    assert (toast.kind, toast.title) == ("success", "Test Connection Successful"), toast
    assert toast.description.startswith(f"Connected to MsgFlash at {browser_env.sandbox.base_url} (personal key): ")
    assert "instance(s)" in toast.description


def test_rest_test_route_and_cli_give_the_hooks_message(
    browser_env: BrowserEnv, saved: str, rest_conns: dict[str, str], outside_views: dict[str, Any]
) -> None:
    """What to use instead of the button on Airflow 3.3.2: ``POST /api/v2/connections/test`` with the
    connection's id and type, and ``airflow connections test``."""
    sb = browser_env.sandbox
    client = browser_env.airflow.client
    answer = client.call(
        "POST", "/api/v2/connections/test", json_body={"connection_id": saved, "conn_type": "msgflash"}
    )
    assert answer["status"] is True, answer
    assert answer["message"].startswith(f"Connected to MsgFlash at {sb.base_url} (team key): ")

    wrong = rest_conns["wrong_key"]
    hook_says = outside_views["hook"][wrong]["test_connection"]
    assert hook_says[0] is False
    answer = client.call(
        "POST", "/api/v2/connections/test", json_body={"connection_id": wrong, "conn_type": "msgflash"}
    )
    assert answer["status"] is False
    assert "401" in answer["message"] or "UNAUTHORIZED" in answer["message"], answer

    ok = outside_views["cli_saved"]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Connection success!" in ok.stdout
    failed = outside_views["cli_wrong"]
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Connection failed!" in failed.stdout
    # Airflow's console wraps long lines: compare without whitespace.
    assert "".join(hook_says[1].split()) in "".join(failed.stdout.split()), (hook_says[1], failed.stdout)

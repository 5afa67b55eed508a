"""Every code block of the README is run, so none can rot.

Each block is preceded by an ``<!-- example: NAME -->`` comment; ``HANDLERS`` below says what runs it.
A block without a mark, or with a mark nobody handles, fails the first test: a new example cannot slip
in unchecked. Python blocks run for real against the sandbox (DAG blocks through ``airflow dags test``,
with the README's instance name, paths, dates and buckets substituted); the connection commands run
against the sandbox with its URL and keys substituted; ``make demo`` runs; ``make test`` is what CI
runs (``.ci/run``), and the install commands are what the version matrix does (``.ci/matrix/``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msgflash import __version__
from airflow_provider_msgflash.sandbox import is_on_whatsapp
from tests.conftest import REPO
from tests.dags_cli import airflow_cli, airflow_env, dags_test, error_lines
from tests.hooks.msgflash_hookkit import free_port

README = REPO / "README.md"
BLOCK_RE = re.compile(r"<!-- example: ([\w-]+) -->\n```(\w+)\n(.*?)```", re.S)
ANY_BLOCK_RE = re.compile(r"^```\w+\n", re.M)
#: The README's example instance, and the sandbox's connected instance used in its place.
README_INSTANCE, SANDBOX_INSTANCE = "boutique-principale", "sandbox-connected"


def blocks() -> dict[str, tuple[str, str]]:
    text = README.read_text()
    found = {name: (lang, body) for name, lang, body in BLOCK_RE.findall(text)}
    assert len(ANY_BLOCK_RE.findall(text)) == len(BLOCK_RE.findall(text)), "a README code block has no example mark"
    return found


def block(name: str) -> str:
    return blocks()[name][1]


HANDLERS: dict[str, str] = {
    "commands": "make demo: test_make_demo_runs; make test: what CI runs (.ci/run)",
    "quickstart-sandbox": "test_quickstart_sandbox_prints_the_quickstart_connection",
    "quickstart-connection": "test_quickstart_runs_as_written",
    "quickstart": "test_quickstart_runs_as_written",
    "quickstart-run": "test_quickstart_runs_as_written",
    "install": "test_install_block_names_what_the_build_makes (the matrix builds and installs the wheel)",
    "connections-cli": "test_connection_commands_work",
    "connection-env-json": "test_connection_env_forms_work",
    "connection-env-uri": "test_connection_env_forms_work",
    "connection-test": "test_connection_commands_work",
    "object-storage": "test_object_storage_example_runs",
    "openlineage": "test_openlineage_settings_are_those_the_lineage_test_uses",
    "assets": "test_assets_example_runs",
    "instance-events": "test_instance_events_example_parses",
    "sandbox-cli": "test_sandbox_cli_block_runs",
    "sandbox-python": "test_sandbox_python_block_runs",
}


def test_every_block_is_marked_and_handled() -> None:
    assert sorted(blocks()) == sorted(HANDLERS)


def _shell_lines(body: str) -> list[list[str]]:
    """The block's commands (continuations joined, comments dropped), each split as the shell does."""
    joined = re.sub(r"\\\n\s*", " ", body)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(words)
    return out


def _export_value(body: str) -> str:
    """The value of the block's ``export AIRFLOW_CONN_...=...`` (which may span lines)."""
    (words,) = _shell_lines(body.replace("'\n", "'").replace("\n  ", " "))
    assert words[0] == "export" and words[1].startswith("AIRFLOW_CONN_MSGFLASH_DEFAULT=")
    return words[1].split("=", 1)[1]


def _sandbox_values(sb: Any, text: str) -> str:
    """README placeholders → the sandbox's values."""
    host = sb.base_url.split("://", 1)[1]
    return (
        text.replace("https://srv.msgflash.com", sb.base_url)
        .replace("srv.msgflash.com", host)
        .replace("msgf_live_...", sb.api_key)
        .replace("msgf_team_...", str(sb.team_key))
        .replace("7e4d1c2a-...", sb.team_id)
    )


# -- the quickstart ---------------------------------------------------------------------------------
def test_quickstart_sandbox_prints_the_quickstart_connection() -> None:
    (words,) = _shell_lines(block("quickstart-sandbox"))
    assert words[0] == ".venv/bin/msgflash-sandbox" and words[1:] == ["--port", "8765"]
    port = free_port()
    proc = subprocess.Popen(
        [str(REPO / words[0]), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        while len(lines) < 60 and not any("AIRFLOW_CONN_MSGFLASH_DEFAULT=" in x for x in lines):
            lines.append(proc.stdout.readline())  # the banner ends with the connection, then waits
    finally:
        proc.terminate()
        proc.wait(30)
    printed = next(line for line in lines if "AIRFLOW_CONN_MSGFLASH_DEFAULT=" in line)
    shown = json.loads(printed.split("=", 1)[1].strip().strip("'"))
    documented = json.loads(_export_value(block("quickstart-connection")).replace("8765", str(port)))
    assert {k: shown[k] for k in documented} == documented


def _leads_files(folder: Path) -> list[str]:
    """The Quickstart's CSV for the dates ``dags test`` may take (today and yesterday, UTC)."""
    numbers = [f"06 12 34 56 7{i}" for i in range(10)] + ["06 12 34 56 70", "not a number"]
    folder.mkdir(parents=True, exist_ok=True)
    for day in (datetime.now(timezone.utc), datetime.now(timezone.utc) - timedelta(days=1)):
        (folder / f"{day:%Y%m%d}.csv").write_text("phone\n" + "\n".join(numbers) + "\n")
    return numbers


@pytest.mark.parametrize("stored", ["env", "metadata_db"])
def test_quickstart_runs_as_written(stored: str, airflow_db: str, msgflash_sandbox: Any, tmp_path: Path) -> None:
    sb = msgflash_sandbox
    (run_words,) = _shell_lines(block("quickstart-run"))
    assert run_words[:3] == ["airflow", "dags", "test"]
    dag_id = run_words[3]
    leads = tmp_path / "leads"
    _leads_files(leads)
    source = (
        block("quickstart").replace(f'"{README_INSTANCE}"', f'"{SANDBOX_INSTANCE}"').replace("/data/leads", str(leads))
    )
    conn = json.loads(_export_value(block("quickstart-connection")).replace("http://127.0.0.1:8765", sb.base_url))
    assert conn["password"] == sb.api_key  # the sandbox's demo key, as the README shows it
    dags = tmp_path / "dags"
    env = airflow_env(dags, **({"AIRFLOW_CONN_MSGFLASH_DEFAULT": json.dumps(conn)} if stored == "env" else {}))
    if stored == "metadata_db":
        airflow_cli(env, "connections", "add", "msgflash_default", "--conn-json", json.dumps(conn))
    try:
        run = dags_test(dags, dag_id, source, env)
    finally:
        if stored == "metadata_db":
            airflow_cli(env, "connections", "delete", "msgflash_default")
    assert run.tasks == {"ready": ("success", 1), "lookup": ("success", 1), "import": ("success", 1)}, run.output[
        -4000:
    ]
    assert error_lines(run.output) == []
    results = sorted(leads.glob("*.results.jsonl"))
    assert len(results) == 1
    lines = [json.loads(x) for x in results[0].read_text().splitlines()]
    # 12 inputs: 10 distinct numbers, 1 duplicate (not sent again), 1 unparseable (reported invalid).
    assert len(lines) == 11 and sum(x["status"] == "invalid" for x in lines) == 1
    on = {x["number"] for x in lines if x["status"] == "on_whatsapp"}
    assert on and all(is_on_whatsapp(n) for n in on)
    assert len(sb.contacts()) == len(on)


# -- install ----------------------------------------------------------------------------------------
def test_install_block_names_what_the_build_makes() -> None:
    body = block("install")
    assert f"dist/airflow_provider_msgflash-{__version__}-py3-none-any.whl" in body
    extras = set(re.findall(r"\$WHEEL\[(\w+)\]", body))
    pyproject = (REPO / "pyproject.toml").read_text()
    declared = set(
        re.findall(r"^(\w+) = \[", pyproject.split("[project.optional-dependencies]")[1].split("\n[")[0], re.M)
    )
    assert extras and extras <= declared, (extras, declared)


# -- the connection -------------------------------------------------------------------------------
def test_connection_commands_work(airflow_db: str, msgflash_sandbox: Any, tmp_path: Path) -> None:
    sb = msgflash_sandbox
    env = airflow_env(tmp_path / "dags", AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    added = []
    try:
        for words in _shell_lines(_sandbox_values(sb, block("connections-cli"))):
            assert words[:3] == ["airflow", "connections", "add"]
            airflow_cli(env, *words[1:])
            added.append(words[3])
        assert added == ["msgflash_default", "msgflash_team"]
        (test_words,) = _shell_lines(block("connection-test"))
        assert test_words == ["airflow", "connections", "test", "msgflash_default"]
        for conn_id in added:
            out = airflow_cli(env, *test_words[1:-1], conn_id)
            assert "Connection success!" in out.stdout, out.stdout[-2000:]
        # The sandbox refuses a team key without its X-Team-Id: the second success proves the team form.
    finally:
        for conn_id in added:
            airflow_cli(env, "connections", "delete", conn_id)


def test_connection_env_forms_work(msgflash_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    sb = msgflash_sandbox
    for name, expect_timeout in (("connection-env-json", 30.0), ("connection-env-uri", 30.0)):
        value = _sandbox_values(sb, _export_value(block(name)))
        monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_DEFAULT", value)
        hook = MsgFlashHook()
        assert hook.settings.api_key == sb.api_key and hook.settings.timeout == expect_timeout
        ok, message = hook.test_connection()
        assert ok, (name, message)


# -- object storage ---------------------------------------------------------------------------------
def test_object_storage_example_runs(airflow_db: str, msgflash_sandbox: Any, s3_server: Any, tmp_path: Path) -> None:
    sb, s3 = msgflash_sandbox, s3_server  # the session's S3 server (tests/conftest.py)
    bucket = s3.new_bucket()
    numbers = [f"+3361234567{i}" for i in range(10)]
    s3.client().put_object(Bucket=bucket, Key="incoming/leads.csv", Body=("phone\n" + "\n".join(numbers)).encode())
    source = block("object-storage").replace(f'"{README_INSTANCE}"', f'"{SANDBOX_INSTANCE}"')
    source = source.replace("s3://acme-leads/", f"s3://{bucket}/").replace('"aws_leads"', '"readme_s3"')
    env = airflow_env(
        tmp_path / "dags",
        AIRFLOW_CONN_MSGFLASH_DEFAULT=sb.connection_json(),
        AIRFLOW_CONN_README_S3=s3.connection_json(),
    )
    run = dags_test(tmp_path / "dags", "leads_from_s3", source, env)
    assert run.tasks == {"lookup": ("success", 1)}, run.output[-4000:]
    body = s3.client().get_object(Bucket=bucket, Key="checked/leads.results.jsonl")["Body"].read().decode()
    assert sorted(json.loads(x)["number"] for x in body.splitlines()) == numbers


# -- lineage, assets, events --------------------------------------------------------------------------
def test_openlineage_settings_are_those_the_lineage_test_uses() -> None:
    exports = dict(w[1].split("=", 1) for w in _shell_lines(block("openlineage")))
    assert set(exports) == {"AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__NAMESPACE"}
    assert json.loads(exports["AIRFLOW__OPENLINEAGE__TRANSPORT"])["type"] == "http"
    # The same two settings, with the file transport, make tests/lineage read real events back.
    used = (REPO / "tests" / "lineage" / "test_lineage_emitted.py").read_text()
    assert all(name in used for name in exports)


def test_assets_example_runs(airflow_db: str, msgflash_sandbox: Any, tmp_path: Path) -> None:
    import sqlite3

    source = block("assets").replace(f'"{README_INSTANCE}"', f'"{SANDBOX_INSTANCE}"')
    env = airflow_env(tmp_path / "dags", AIRFLOW_CONN_MSGFLASH_DEFAULT=msgflash_sandbox.connection_json())
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "readme_assets.py").write_text(source)
    run = dags_test(tmp_path / "dags", "whatsapp_import", env=env)
    assert run.tasks == {"lookup": ("success", 1), "import": ("success", 1)}, run.output[-4000:]
    with sqlite3.connect(Path(airflow_db) / "airflow.db") as conn:
        (extra,) = conn.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.name = 'whatsapp_contacts' ORDER BY e.id DESC LIMIT 1"
        ).fetchone()
    assert json.loads(extra)["imported"] == 1 and json.loads(extra)["tag"] == "verified-whatsapp"
    _parses(tmp_path / "dags", {"whatsapp_import", "after_import"})


def _parses(folder: Path, dag_ids: set[str]) -> None:
    """The folder's DAG files import without errors in a fresh interpreter, with these DAGs."""
    code = textwrap.dedent(
        f"""
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(folder)!r})
        assert bag.import_errors == {{}}, bag.import_errors
        print(sorted(bag.dag_ids))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ)
    assert out.returncode == 0, out.stderr[-3000:]
    assert dag_ids <= set(json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"')))


def test_instance_events_example_parses(tmp_path: Path) -> None:
    from airflow_provider_msgflash.triggers.instance_events import MsgFlashInstanceEventTrigger

    (tmp_path / "readme_events.py").write_text(block("instance-events"))
    _parses(tmp_path, {"on_instance_change"})
    # What the watcher's trigger stores (the triggerer rebuilds it from this): ids and settings, no key.
    path, kwargs = MsgFlashInstanceEventTrigger(instance_id=README_INSTANCE, min_safety_score=50).serialize()
    assert path.endswith("MsgFlashInstanceEventTrigger") and kwargs["poll_interval"] == 60


# -- the sandbox and the commands --------------------------------------------------------------------
def test_sandbox_cli_block_runs() -> None:
    (words,) = _shell_lines(block("sandbox-cli"))
    port = free_port()
    args = [str(REPO / words[0]), *[str(port) if w == "8765" else w for w in words[1:]]]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(30)
    assert f"http://127.0.0.1:{port}" in first


def test_sandbox_python_block_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    out = subprocess.run(
        [sys.executable, "-c", block("sandbox-python")], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(True, 'Connected to MsgFlash at http://127.0.0.1:" in out.stdout


@pytest.mark.airflow_process  # make demo runs airflow db migrate and airflow dags test
def test_make_demo_runs() -> None:
    words = _shell_lines(block("commands"))
    assert words == [["make", "demo"], ["make", "test"]]
    run_id = os.environ.get("MSGFLASH_RUN_ID", f"readme-{os.getpid()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | {"MSGFLASH_RUN_ID": run_id}
    out = subprocess.run(["make", "demo"], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "demo succeeded" in out.stdout
    assert "exec make test" in (REPO / ".ci" / "run").read_text()  # CI runs the other command

"""Every code block of the docs site (``docs/*.md``) is run, as the README's are (``tests/test_readme.py``).

Each block is preceded by ``<!-- example: NAME -->`` (``tests/doc_blocks.py`` reads them); ``HANDLERS`` says
which test runs it. A new block without a mark, or a mark nobody handles, fails the first test. Blocks run
against the sandbox: DAG blocks through ``airflow dags test`` (the docs' instance name, buckets and connection
ids substituted), shell blocks as written where they touch nothing shared, otherwise with the sandbox's URL,
port and keys in place of the docs' (``https://srv.msgflash.com``, ``msgf_live_...``, port 8765).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msgflash import __version__
from tests.conftest import REPO
from tests.dags_cli import airflow_cli, airflow_env, dags_test
from tests.doc_blocks import Block, export_value, named_blocks, shell_lines
from tests.hooks.msgflash_hookkit import free_port

DOCS = REPO / "docs"
#: The docs' example instance, and the sandbox's connected instance used in its place.
DOCS_INSTANCE, SANDBOX_INSTANCE = "boutique-principale", "sandbox-connected"


def blocks() -> dict[str, Block]:
    return named_blocks(sorted(DOCS.rglob("*.md")))


def block(name: str) -> str:
    return blocks()[name].body


HANDLERS: dict[str, str] = {
    # installation.md
    "install": "test_install_block_builds_and_resolves",
    # connection.md
    "connections-cli": "test_connection_commands_work",
    "connection-test": "test_connection_commands_work",
    "connection-env-json": "test_connection_env_forms_work",
    "connection-env-uri": "test_connection_env_forms_work",
    # object-storage.md, lineage.md, readiness.md
    "object-storage": "test_object_storage_example_runs",
    "openlineage": "test_openlineage_settings_are_those_the_lineage_test_uses",
    "assets": "test_assets_example_runs",
    "instance-events": "test_instance_events_example_parses",
    # sandbox.md
    "sandbox-banner": "test_sandbox_banner_is_what_the_command_prints",
    "sandbox-json": "test_sandbox_json_line_has_the_documented_keys",
    "sandbox-python": "test_sandbox_python_blocks_run",
    "sandbox-dialect-python": "test_sandbox_python_blocks_run",
    "sandbox-pytest": "test_sandbox_pytest_block_runs",
    "sandbox-instances": "test_sandbox_snippets_run_on_a_sandbox",
    "sandbox-faults": "test_sandbox_snippets_run_on_a_sandbox",
    "sandbox-dialect-cli": "test_sandbox_dialect_command_runs",
    "sandbox-gateway-page": "test_sandbox_gateway_page_is_what_it_answers",
    "sandbox-conn-json": "test_sandbox_connection_forms_work",
    "sandbox-conn-uri": "test_sandbox_connection_forms_work",
    "sandbox-conn-team": "test_sandbox_connection_forms_work",
    # deployment.md (tests/test_deployment_doc.py: the configuration the Celery e2e runs)
    "deployment-packages": "test_deployment_doc.py::test_the_page_lists_the_packages_the_dev_extra_installs",
    "deployment-airflow": "test_deployment_doc.py::test_the_page_shows_the_airflow_configuration_the_e2e_runs",
    "deployment-connection": "test_deployment_doc.py::test_the_page_shows_the_connection_extras_the_e2e_runs",
    "deployment-connection-env": "test_deployment_doc.py::test_the_connection_variable_has_those_extras",
    "deployment-helm": "test_deployment_doc.py::test_the_helm_values_carry_the_executor_database_and_connection",
    # development.md
    "dev-setup": "test_development_shell_blocks_run",
    "dev-sizes": "test_development_shell_blocks_run",
}
# The API reference (docs/reference/*.rst) holds no code block of its own: only autodoc directives, whose
# docstring examples run in test_docstring_examples_on_the_site_run.


def test_every_block_is_marked_and_handled() -> None:
    assert sorted(blocks()) == sorted(HANDLERS)
    for page in DOCS.rglob("*.rst"):  # the reference pages: autodoc directives only, no code of their own
        for line in page.read_text().splitlines():
            assert not (line.rstrip().endswith("::") and not line.startswith(".. ")), (page.name, line)
            assert "code-block" not in line and not line.startswith(".. code"), (page.name, line)


def _sandbox_values(sb: Any, text: str) -> str:
    """The docs' placeholders → the sandbox's values."""
    host = sb.base_url.split("://", 1)[1]
    return (
        text.replace("https://srv.msgflash.com", sb.base_url)
        .replace("srv.msgflash.com", host)
        .replace("msgf_live_...", sb.api_key)
        .replace("msgf_team_...", str(sb.team_key))
        .replace("7e4d1c2a-...", sb.team_id)
    )


def _bash(script: str, *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run ``script`` with ``bash -e`` (the repository's .venv first on PATH, as after ``source
    .venv/bin/activate``); returns its output, fails with it."""
    env = dict(env or os.environ)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (script[:500], proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout + proc.stderr


# -- installation ------------------------------------------------------------------------------------------
def test_install_block_builds_and_resolves(tmp_path: Path) -> None:
    """The build line as written, in a copy of the repository's tracked files (so ``dist/`` lands there); the
    ``pip install`` line with ``--dry-run`` added, in the repository's .venv: the wheel's name is the one the
    build made, and the wheel with its extras resolves next to the Airflow it names."""
    lines = [" ".join(w) for w in shell_lines(block("install"))]
    build, install = lines
    assert build == "uv build" and install.startswith("pip install ")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    copy = tmp_path / "repo"
    for name in files.splitlines():
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    out = _bash(block("install").splitlines()[0], cwd=copy)
    wheel = f"dist/airflow_provider_msgflash-{__version__}-py3-none-any.whl"
    assert (copy / wheel).is_file(), (sorted(p.name for p in (copy / "dist").glob("*")), out[-2000:])
    assert wheel in install
    extras = set(re.findall(r"\.whl\[([\w,]+)\]", install)[0].split(","))
    pyproject = (REPO / "pyproject.toml").read_text()
    declared = set(re.findall(r"^(\w+) = \[", pyproject.split("[project.optional-dependencies]")[1], re.M))
    assert extras and extras <= declared, (extras, declared)
    pip_line = block("install").splitlines()[1].split("#")[0].replace("pip install ", "pip install --dry-run ", 1)
    out = _bash(pip_line, cwd=copy)
    assert "Would install airflow-provider-msgflash" in out or "already satisfied" in out, out[-2000:]


# -- the connection ----------------------------------------------------------------------------------------
def test_connection_commands_work(airflow_db: str, msgflash_sandbox: Any, tmp_path: Path) -> None:
    sb = msgflash_sandbox
    env = airflow_env(tmp_path / "dags", AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    added = []
    try:
        for words in shell_lines(_sandbox_values(sb, block("connections-cli"))):
            assert words[:3] == ["airflow", "connections", "add"]
            airflow_cli(env, *words[1:])
            added.append(words[3])
        assert added == ["msgflash_default", "msgflash_team"]
        (test_words,) = shell_lines(block("connection-test"))
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
    for name in ("connection-env-json", "connection-env-uri"):
        value = _sandbox_values(sb, export_value(block(name)))
        monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_DEFAULT", value)
        hook = MsgFlashHook()
        assert hook.settings.api_key == sb.api_key and hook.settings.timeout == 30.0
        ok, message = hook.test_connection()
        assert ok, (name, message)


# -- object storage, lineage, assets, events ---------------------------------------------------------------
def test_object_storage_example_runs(airflow_db: str, msgflash_sandbox: Any, s3_server: Any, tmp_path: Path) -> None:
    sb, s3 = msgflash_sandbox, s3_server  # the session's S3 server (tests/conftest.py)
    bucket = s3.new_bucket()
    numbers = [f"+3361234567{i}" for i in range(10)]
    s3.client().put_object(Bucket=bucket, Key="incoming/leads.csv", Body=("phone\n" + "\n".join(numbers)).encode())
    source = block("object-storage").replace(f'"{DOCS_INSTANCE}"', f'"{SANDBOX_INSTANCE}"')
    source = source.replace("s3://acme-leads/", f"s3://{bucket}/").replace('"aws_leads"', '"docs_s3"')
    env = airflow_env(
        tmp_path / "dags",
        AIRFLOW_CONN_MSGFLASH_DEFAULT=sb.connection_json(),
        AIRFLOW_CONN_DOCS_S3=s3.connection_json(),
    )
    run = dags_test(tmp_path / "dags", "leads_from_s3", source, env)
    assert run.tasks == {"lookup": ("success", 1)}, run.output[-4000:]
    body = s3.client().get_object(Bucket=bucket, Key="checked/leads.results.jsonl")["Body"].read().decode()
    assert sorted(json.loads(x)["number"] for x in body.splitlines()) == numbers


def test_openlineage_settings_are_those_the_lineage_test_uses() -> None:
    exports = dict(w[1].split("=", 1) for w in shell_lines(block("openlineage")))
    assert set(exports) == {"AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__NAMESPACE"}
    assert json.loads(exports["AIRFLOW__OPENLINEAGE__TRANSPORT"])["type"] == "http"
    # The same two settings, with the file transport, make tests/lineage read real events back.
    used = (REPO / "tests" / "lineage" / "test_lineage_emitted.py").read_text()
    assert all(name in used for name in exports)


def test_assets_example_runs(airflow_db: str, msgflash_sandbox: Any, tmp_path: Path) -> None:
    import sqlite3

    source = block("assets").replace(f'"{DOCS_INSTANCE}"', f'"{SANDBOX_INSTANCE}"')
    env = airflow_env(tmp_path / "dags", AIRFLOW_CONN_MSGFLASH_DEFAULT=msgflash_sandbox.connection_json())
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "docs_assets.py").write_text(source)
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

    (tmp_path / "docs_events.py").write_text(block("instance-events"))
    _parses(tmp_path, {"on_instance_change"})
    # What the watcher's trigger stores (the triggerer rebuilds it from this): ids and settings, no key.
    path, kwargs = MsgFlashInstanceEventTrigger(instance_id=DOCS_INSTANCE, min_safety_score=50).serialize()
    assert path.endswith("MsgFlashInstanceEventTrigger") and kwargs["poll_interval"] == 60


# -- the sandbox -----------------------------------------------------------------------------------------
def _sandbox_env(port: int) -> dict[str, str]:
    """The command's environment with the port chosen by its documented variable (the blocks name none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGFLASH_SANDBOX_")}
    env["MSGFLASH_SANDBOX_PORT"] = str(port)
    return env


def _run_until(args: list[str], env: dict[str, str], last: str, max_lines: int = 80) -> list[str]:
    """Start the sandbox command, read its output up to a line containing ``last``, stop it."""
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / args[0]), *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while len(lines) < max_lines and not any(last in x for x in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
    finally:
        proc.terminate()
        proc.wait(30)
    return lines


def _console(name: str) -> tuple[list[str], list[str]]:
    """A console block: the command after ``$ `` (its comment dropped), and the lines it shows."""
    first, *shown = block(name).splitlines()
    assert first.startswith("$ ")
    (words,) = shell_lines(first[2:])
    return words, shown


def test_sandbox_banner_is_what_the_command_prints() -> None:
    words, shown = _console("sandbox-banner")
    assert words == ["msgflash-sandbox"]
    port = free_port()
    printed = [" ".join(x.split()) for x in _run_until(words, _sandbox_env(port), "Press Ctrl+C")]
    for line in shown:
        line = " ".join(line.replace("8765", str(port)).split())
        head = line.split("…")[0].strip()
        if not head:
            continue  # "…": lines left out
        assert any(p.startswith(head) for p in printed), (line, printed)


def test_sandbox_json_line_has_the_documented_keys() -> None:
    words, shown = _console("sandbox-json")
    assert words == ["msgflash-sandbox", "--port", "0", "--json"]
    (first,) = _run_until(words, _sandbox_env(0), "base_url", max_lines=1)
    data = json.loads(first)
    documented = set(re.findall(r'"(\w+)":', "\n".join(shown)))
    found = set(data) | set(data["instances"][0])
    assert documented <= found, documented - found
    assert data["base_url"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize("name", ["sandbox-python", "sandbox-dialect-python"])
def test_sandbox_python_blocks_run(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    out = subprocess.run([sys.executable, "-c", block(name)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]


def test_sandbox_pytest_block_runs(tmp_path: Path) -> None:
    """The block is a conftest and a test: as the root conftest of a project of its own, with the test
    function also in a test module, run by pytest in a fresh interpreter."""
    (tmp_path / "conftest.py").write_text(block("sandbox-pytest"))
    (tmp_path / "test_docs_example.py").write_text(block("sandbox-pytest").split("\n", 2)[2])
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")},
    )
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout[-3000:] + out.stderr[-2000:]


@pytest.mark.parametrize("name", ["sandbox-instances", "sandbox-faults"])
def test_sandbox_snippets_run_on_a_sandbox(name: str, msgflash_sandbox: Any) -> None:
    exec(compile(block(name), f"docs/sandbox.md:{name}", "exec"), {"sb": msgflash_sandbox})


def test_sandbox_dialect_command_runs() -> None:
    (words,) = shell_lines(block("sandbox-dialect-cli"))
    assert words[0] == "msgflash-sandbox"
    port = free_port()
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / words[0]), *words[1:]], env=_sandbox_env(port))
    try:
        import requests

        deadline, config = time.monotonic() + 60, None
        while config is None and time.monotonic() < deadline:
            try:
                config = requests.get(f"http://127.0.0.1:{port}/_sandbox/config", timeout=5).json()["data"]
            except requests.ConnectionError:
                time.sleep(0.2)
        assert config is not None and config["dialect"] == ["list-items", "clock-ahead"], config
    finally:
        proc.terminate()
        proc.wait(30)


def test_sandbox_gateway_page_is_what_it_answers(msgflash_sandbox: Any) -> None:
    import requests

    sb = msgflash_sandbox
    sb.set_faults(gateway_after_create=1, gateway_status=502)
    resp = requests.post(
        f"{sb.api_url}/number-lookups",
        json={"instanceId": sb.instance_id(SANDBOX_INSTANCE), "numbers": ["+41790000010"]},
        headers=sb.headers(),
        timeout=30,
    )
    assert resp.status_code == 502 and resp.headers["content-type"].startswith("text/html")
    assert resp.text.split() == block("sandbox-gateway-page").split()


@pytest.mark.parametrize("name", ["sandbox-conn-json", "sandbox-conn-uri", "sandbox-conn-team"])
def test_sandbox_connection_forms_work(name: str, msgflash_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    port = msgflash_sandbox.base_url.rsplit(":", 1)[1]
    for line in block(name).splitlines():
        value = export_value(line.replace("127.0.0.1:8765", f"127.0.0.1:{port}"))
        monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_DEFAULT", value)
        ok, message = MsgFlashHook().test_connection()
        assert ok, (name, line, message)


# -- development -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dev-setup", "dev-sizes"])
def test_development_shell_blocks_run(name: str) -> None:
    _bash(block(name), cwd=REPO)  # dev-sizes lists what breaks the size rules; tests/test_layout.py judges them


# -- the API reference's examples (docstrings) ---------------------------------------------------------------
def _reference_modules() -> list[str]:
    """Modules the API reference pages document (``automodule`` and ``module`` directives)."""
    text = "\n".join(p.read_text() for p in sorted((DOCS / "reference").glob("*.rst")))
    return sorted(set(re.findall(r"^\.\. (?:automodule|module):: ([\w.]+)", text, re.M)))


def _literal_blocks(doc: str) -> list[str]:
    """The reST literal blocks of a docstring: the indented lines after a paragraph ending with ``::``."""
    out, lines = [], textwrap.dedent(doc).splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::") and i + 2 < len(lines) and not lines[i + 1].strip():
            indent = len(lines[i + 2]) - len(lines[i + 2].lstrip())
            body = []
            for nxt in lines[i + 2 :]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) < indent:
                    break
                body.append(nxt)
            out.append(textwrap.dedent("\n".join(body)))
    return out


def test_docstring_examples_on_the_site_run() -> None:
    """The code in the docstrings the API reference shows runs, in its module's namespace (the names the page
    is about) with ``airflow.sdk``'s ``task`` (the examples show a task decorator)."""
    import importlib
    import inspect

    from airflow.sdk import task

    ran = []
    for name in _reference_modules():
        module = importlib.import_module(name)
        docs = [module.__doc__ or ""] + [
            inspect.getdoc(obj) or ""
            for obj in vars(module).values()
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith(name.rsplit(".", 1)[0])
        ]
        for doc in docs:
            for code in _literal_blocks(doc):
                exec(compile(code, f"{name} docstring", "exec"), {**vars(module), "task": task})
                ran.append(name)
    assert {"airflow_provider_msgflash.retry_policy", "airflow_provider_msgflash.triggers.instance_events"} <= set(ran)

"""One matrix cell: venv, install check, registration, example DAGs, unit tests. Each step runs in the
cell's venv as a subprocess in its own process group, bounded by what is left of the cell's time."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cells import NOT_ON_LINE, Cell, find_python, unit_test_args
from venvs import ensure_venv, installed_versions, latest_venv, locked_versions

HERE = Path(__file__).resolve().parent
DIST = "airflow-provider-msgflash"


@dataclass
class CellContext:
    wheel: Path
    stage: Path  # the sdist's tests/, example_dags/, pyproject.toml
    venvs: Path
    work: Path
    root: Path
    unit: bool
    timeout: float
    inputs: str = ""  # hash of the wheel, the staged tests and DAGs, and these scripts
    rerun: bool = False  # ignore results cached for the same inputs
    latest: bool = False  # make matrix-latest: resolve today's packages instead of installing the lock
    latest_pins: dict[str, tuple[str, ...]] = field(default_factory=dict)  # line or "*" -> pins (latest only)


@dataclass
class CellResult:
    cell: Cell
    installs: str = "-"
    registered: str = "-"
    dags: str = "-"
    deferred: str = "-"
    unit: str = "-"
    venv: str = ""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    logs: Path | None = None
    cached: str = ""  # when the result is the last green one for identical inputs: when it ran
    versions: dict[str, str] = field(default_factory=dict)  # every installed distribution, read from the venv
    locked: dict[str, str] = field(default_factory=dict)  # what the cell's lock pins
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step (venv, install, ..., unit)
    named: list[str] = field(default_factory=list)  # latest: newer packages named in the failure output

    @property
    def green(self) -> bool:
        cols = (self.installs, self.registered, self.dags, self.deferred)
        unit_ok = self.unit == "not run" or (self.unit.endswith(" passed") and not self.unit.startswith("0 "))
        return all(c == "yes" for c in cols) and unit_ok

    def summary(self) -> str:
        if self.cached:
            return f"green, same inputs as the run of {self.cached} (cached; MSGFLASH_MATRIX_RERUN=1 reruns)"
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in self.steps.items())
        return (
            f"installs {self.installs}, registered {self.registered}, DAGs {self.dags}, deferred {self.deferred}, "
            f"unit {self.unit} ({self.seconds:.0f} s: {steps}; venv {self.venv})"
        )


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        return max(1.0, min(cap, self.end - time.monotonic()))


def run(cmd: list[str], log: Path, timeout: float, env: dict[str, str], cwd: Path | None = None) -> int:
    """Run ``cmd`` with output to ``log``; on timeout kill its process group and return 124."""
    with log.open("w") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            f.write(f"\n[matrix] killed after {timeout:.0f} s\n")
            return 124


def result_line(log: Path) -> dict[str, Any]:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    return {"ok": False, "problems": [f"no RESULT line (log {log})"], "facts": {}}


def cell_env(venv: Path, cell_dir: Path, stage: Path) -> dict[str, str]:
    """A clean environment for the cell: its venv first on PATH, its own Airflow home and temp folder
    (the provider's rate limiter shares a file per key under the temp folder)."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AIRFLOW_HOME")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    for sub in ("home", "tmp", "data"):
        (cell_dir / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(cell_dir / "home"),
        TMPDIR=str(cell_dir / "tmp"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(stage / "example_dags"),
        MSGFLASH_EXAMPLE_DATA_DIR=str(cell_dir / "data"),
        PYTHONWARNINGS="ignore",
    )
    return env


def check_install_and_registration(r: CellResult, py: str, env: dict[str, str], ctx: CellContext, d: Deadline) -> None:
    logs = r.logs
    assert logs is not None
    run([py, str(HERE / "cell_checks.py"), "install", str(ctx.wheel)], logs / "install.log", d.left(300), env)
    res = result_line(logs / "install.log")
    r.installs = "yes" if res["ok"] else "NO"
    r.problems += res["problems"]
    if not res["ok"]:
        return
    providers = logs / "providers.json"
    with providers.open("w") as f:
        rc = subprocess.run(
            ["airflow", "providers", "list", "-o", "json"], stdout=f, stderr=subprocess.DEVNULL, env=env, timeout=300
        ).returncode
    if rc != 0:
        r.registered, r.problems = "NO", [*r.problems, f"airflow providers list exited {rc}"]
        return
    run([py, str(HERE / "cell_checks.py"), "registration", str(providers)], logs / "registration.log", 300, env)
    res = result_line(logs / "registration.log")
    r.registered = "yes" if res["ok"] else "NO"
    r.problems += res["problems"]


def check_dags(r: CellResult, py: str, env: dict[str, str], d: Deadline) -> None:
    logs = r.logs
    assert logs is not None
    run([py, str(HERE / "cell_dags.py"), str(logs / "dags")], logs / "dags.log", d.left(900), env)
    res = result_line(logs / "dags.log")
    facts = res.get("facts", {})
    dag_facts = [v for k, v in facts.items() if k.startswith("msgflash_")]
    r.dags = "yes" if res["ok"] else "NO"
    r.deferred = "yes" if dag_facts and all("lookup_numbers" in f["deferred_tasks"] for f in dag_facts) else "NO"
    r.problems += res["problems"]


def _junit_counts(path: Path) -> dict[str, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}


def check_unit(r: CellResult, py: str, env: dict[str, str], ctx: CellContext, d: Deadline) -> None:
    logs = r.logs
    assert logs is not None
    junit = logs / "unit.xml"
    env = {**env, "PYTHONPATH": str(HERE), "AIRFLOW_HOME": str(logs / "home-pytest")}
    cmd = [py, "-m", "pytest", *unit_test_args(r.cell, ctx.stage), "-p", "wheel_guard", "-p", "no:cacheprovider"]
    cmd += ["-q", "-rfE"]
    not_here = NOT_ON_LINE.get(r.cell.line, {})
    if not_here:
        cmd += ["-k", " and ".join(f"not {name}" for name in sorted(not_here))]
    rc = run([*cmd, f"--junitxml={junit}"], logs / "unit.log", d.left(900), env, cwd=ctx.stage)
    if not junit.exists():
        r.unit, r.problems = f"NO (exit {rc})", [*r.problems, f"pytest exited {rc} (log {logs / 'unit.log'})"]
        return
    n = _junit_counts(junit)
    bad, passed = n["failures"] + n["errors"], n["tests"] - n["failures"] - n["errors"] - n["skipped"]
    r.unit = f"{passed} passed" + (f", {bad} failed" if bad else "")
    r.unit += f", {n['skipped']} skipped" if n["skipped"] else ""
    if rc != 0 and not bad:
        r.unit += f", exit {rc}"
    if rc != 0 or bad or n["skipped"] or passed == 0:  # a skip is a failure here too (house rule: none)
        r.problems.append(f"unit tests: {r.unit} (log {logs / 'unit.log'})")
        r.problems += [f"  {t}" for t in _junit_not_passed(junit)]  # CI keeps no logs: name them here


def _junit_not_passed(path: Path, limit: int = 10) -> list[str]:
    """``test id: first line of the failure`` for each failed, erred or skipped test (at most `limit`)."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for what in ("failure", "error", "skipped"):
            el = case.find(what)
            if el is not None:
                first = (el.get("message") or "").strip().splitlines()[:1]
                out.append(f"{what} {case.get('classname')}::{case.get('name')}: {' '.join(first)[:200]}")
    return out[:limit]


COLUMNS = ("installs", "registered", "dags", "deferred", "unit")


def _cached(r: CellResult, venv: Path, ctx: CellContext) -> bool:
    """Reuse the last green result of this venv when every input is the same (wheel, tests, DAGs,
    matrix scripts, unit tests on or off); the table says so."""
    path = venv / ".matrix-last-green.json"
    if ctx.rerun or not path.exists():
        return False
    doc = json.loads(path.read_text())
    if doc.get("inputs") != f"{ctx.inputs}/unit={ctx.unit}":
        return False
    for name in COLUMNS:
        setattr(r, name, doc[name])
    r.cached = doc["when"]
    return True


def _remember(r: CellResult, venv: Path, ctx: CellContext) -> None:
    doc = {name: getattr(r, name) for name in COLUMNS}
    doc.update(inputs=f"{ctx.inputs}/unit={ctx.unit}", when=time.strftime("%Y-%m-%d %H:%M"))
    (venv / ".matrix-last-green.json").write_text(json.dumps(doc))


def _timed(r: CellResult, name: str, fn: Any, *args: Any) -> None:
    t0 = time.monotonic()
    try:
        fn(*args)
    finally:
        r.steps[name] = time.monotonic() - t0


def _checks(r: CellResult, venv: Path, ctx: CellContext, d: Deadline) -> None:
    py = str(venv / "bin" / "python")
    env = cell_env(venv, r.logs or ctx.work, ctx.stage)
    _timed(r, "install+registration", check_install_and_registration, r, py, env, ctx, d)
    if r.installs == "yes":
        _timed(r, "DAGs", check_dags, r, py, env, d)
        if ctx.unit:
            _timed(r, "unit", check_unit, r, py, env, ctx, d)
        else:
            r.unit = "not run"


def run_cell(cell: Cell, ctx: CellContext) -> CellResult:
    t0 = time.monotonic()
    r = CellResult(cell, logs=ctx.work / cell.name)
    assert r.logs is not None
    r.logs.mkdir(parents=True, exist_ok=True)
    d = Deadline(ctx.timeout)
    python = find_python(cell.python)
    if python is None:
        r.installs, r.problems = f"no python{cell.python}", [f"python{cell.python} not found on this machine"]
        return r
    try:
        uv = str(ctx.root / ".venv" / "bin" / "uv")
        r.locked = locked_versions(cell)
        if ctx.latest:
            pins = ctx.latest_pins.get("*", ()) + ctx.latest_pins.get(cell.line, ())
            v = latest_venv(cell, python, ctx.wheel, uv, ctx.venvs, r.logs / "venv.log", d.left(900), pins)
        else:
            v = ensure_venv(cell, python, ctx.wheel, uv, ctx.venvs, r.logs / "venv.log", d.left(900))
        r.venv = f"{v.action} {v.seconds:.0f} s"
        r.steps["venv"] = v.seconds
        r.versions = installed_versions(uv, v.path)
        if ctx.latest or not _cached(r, v.path, ctx):
            _checks(r, v.path, ctx, d)
            if r.green and not ctx.latest:
                _remember(r, v.path, ctx)
            if ctx.latest and not r.green:
                r.named = named_in_failure(r, str(v.path / "bin" / "python"))
    except Exception as e:
        r.installs = r.installs if r.installs != "-" else "NO"
        r.problems.append(f"{type(e).__name__}: {e} (logs {r.logs})")
    r.seconds = time.monotonic() - t0
    return r


#: Lines of a failed step's log that point at code: traceback frames and exception lines.
_POINTING = re.compile(r'^\s*File "|(Error|Exception|Warning)\b.*:|^E\s')


def named_in_failure(r: CellResult, py: str) -> list[str]:
    """make matrix-latest: the packages newer than the lock (or absent from it) whose modules appear in the
    traceback frames and exception lines of the failed steps' logs: where to look first. (The pins that
    make the cell green again are then proved by a run with ``--pin``.)"""
    newer = {n: v for n, v in r.versions.items() if r.locked.get(n) != v and n != DIST}
    if not newer or r.logs is None:
        return []
    found = subprocess.run(
        [py, "-c", "import importlib.metadata as m, json; print(json.dumps(m.packages_distributions()))"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules: dict[str, list[str]] = {}
    for module, dists in (json.loads(found.stdout) if found.returncode == 0 else {}).items():
        for dist in dists:
            modules.setdefault(dist.lower().replace("_", "-"), []).append(module)
    text = "\n".join(
        line
        for log in sorted(r.logs.rglob("*.log"))
        for line in log.read_text(errors="replace").splitlines()[-3000:]
        if _POINTING.search(line)
    ) + "\n".join(r.problems)
    named = []
    for dist in sorted(newer):
        mods = [m for m in modules.get(dist, []) if not m.startswith("_") and m != "airflow"]
        if any(re.search(rf"(?<![\w.]){re.escape(m)}[./]", text) for m in mods):
            named.append(dist)
    return named

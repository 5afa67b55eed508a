"""`make demo`: the example DAG against a local MsgFlash sandbox, told as a short story.

1. A temp AIRFLOW_HOME; the sandbox started as a subprocess on a free loopback port
   (``running_sandbox(subprocess=True, pace="fast")``); ``AIRFLOW_CONN_MSGFLASH_DEFAULT`` pointing at it.
2. ``airflow db migrate`` (quiet, one status line).
3. ``airflow dags test msgflash_lookup_and_import``, its log filtered to what a person wants to see:
   task states and the lines of the provider's own loggers (instance check, lookup id, progress,
   counts, import). The full log is kept in the temp home; its path is printed only on failure.
4. A summary read back from the sandbox (``sb.state()``): lookups with status and counts, contacts.

When ``example_dags/msgflash_lookup_and_import.py`` is absent (or with ``--mode hooks``), steps 2-3 are
replaced by a smoke run of ``MsgFlashHook``: list instances, a sync lookup of 5 numbers, an async lookup
of 150 numbers polled to done, an import of the numbers found.

Whatever happens (error, Ctrl-C, SIGTERM) everything started here is stopped: the Airflow command by
its process group, the sandbox by its PID, and any other process that inherited this run's
``MSGFLASH_RUN_ID``. The temp home is deleted on success and kept (path printed) on failure.
Exit code: 0 on success, 1 on failure, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reap import reap  # noqa: E402  (.ci/reap.py, next to this file)

DAG_ID = "msgflash_lookup_and_import"
DAG_FILE = ROOT / "example_dags" / f"{DAG_ID}.py"
DAG_TEST_TIMEOUT = 900  # seconds for `airflow dags test`
T0 = time.monotonic()


# -- output ----------------------------------------------------------------------------------------
_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


def _c(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _COLOR else text


def say(text: str = "", *, mark: str = " ") -> None:
    print(f"{_c('2', f'{time.monotonic() - T0:6.1f}s')} {mark} {text}", flush=True)


def headline(text: str) -> None:
    print(flush=True)
    print(_c("1", f"== {text}"), flush=True)


# -- the sandbox -------------------------------------------------------------------------------------
def _sandbox_pid(sb: Any) -> int | None:
    for attr in ("pid", "process", "proc", "_process", "_proc", "popen", "_popen"):
        value = getattr(sb, attr, None)
        if isinstance(value, int):
            return value
        pid = getattr(value, "pid", None)
        if isinstance(pid, int):
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _kill_pid(pid: int, grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def sandbox() -> Iterator[Any]:
    """The sandbox as a subprocess; stopped (and its PID made sure of) on the way out."""
    from airflow_provider_msgflash.sandbox import running_sandbox

    pid: int | None = None
    try:
        with running_sandbox(pace="fast", subprocess=True) as sb:
            pid = _sandbox_pid(sb)
            yield sb
    finally:
        if pid is not None:
            _kill_pid(pid)


def _connection_json(sb: Any) -> str:
    conn = sb.connection_json()
    return conn if isinstance(conn, str) else json.dumps(conn)


# -- Airflow -----------------------------------------------------------------------------------------
class Child:
    """One Airflow command in its own process group, killable as a whole."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        return self.proc

    def stop(self, grace: float = 10.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


CHILD = Child()


def airflow_quiet(args: list[str], env: dict[str, str], log_path: Path, timeout: float = 300) -> tuple[bool, float]:
    """Run an Airflow command with its output to ``log_path``; (ok, seconds)."""
    t0 = time.monotonic()
    proc = CHILD.start(args, env)
    timer = threading.Timer(timeout, CHILD.stop)
    timer.start()
    try:
        out, _ = proc.communicate()
    finally:
        timer.cancel()
    log_path.write_text(out or "")
    return proc.returncode == 0, time.monotonic() - t0


# One structlog console line: `2026-11-23T22:50:10.100611Z [info     ] message [logger] key=value ...`
LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT[\d:.]+Z?)\s+\[(?P<level>\w+)\s*\]\s(?P<msg>.*?)\s+"
    r"\[(?P<logger>[A-Za-z_][\w.\-]*)\](?P<kv>(?:\s+\S+=.*)?)\s*$"
)
# An old-style Airflow line: `[2026-...] {file.py:12} INFO - message`
OLD_LINE = re.compile(r"^\[(?P<ts>[^\]]+)\]\s+\{(?P<logger>[^}]+)\}\s+(?P<level>\w+)\s+-\s+(?P<msg>.*)$")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Timeout|Interrupt)\b.*")
KV = re.compile(r"(\w+)=('[^']*'|\"[^\"]*\"|\S+)")


class Story:
    """Turns `airflow dags test` output into the lines worth reading."""

    def __init__(self) -> None:
        self.task = "?"
        self.task_states: dict[str, str] = {}
        self.run_state: str | None = None
        self.errors = 0

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        m = LINE.match(line)
        if m is None:
            old = OLD_LINE.match(line)
            if old is not None and "msgflash" in old["logger"].lower():
                say(old["msg"])
            elif EXCEPTION_LINE.match(line):
                self.errors += 1
                say(_c("31", line[:300]), mark="!")
            return
        level, msg, logger, kv = m["level"].lower(), m["msg"], m["logger"], m["kv"]
        if msg.startswith("[DAG TEST] starting task_id="):
            self.task = KV.findall(msg)[0][1] if KV.findall(msg) else msg
            say(_c("1;36", f"task {self.task}"), mark=">")
        elif msg.startswith("[DAG TEST]"):
            if not msg.startswith(("[DAG TEST] running task", "[DAG TEST] end task")):
                say(msg.removeprefix("[DAG TEST] "))
        elif msg.startswith("Task instance state updated"):
            # The update that starts a task carries no new_state: it is the move to running.
            state = dict(KV.findall(kv)).get("new_state", "running")
            self.task_states[self.task] = state
            color = {"success": "32", "running": "2", "deferred": "33", "up_for_retry": "33"}.get(state, "31")
            say(_c(color, f"task {self.task}: {state}"), mark="=")
        elif msg.startswith("DagRun Finished"):
            fields = dict(KV.findall(msg))
            self.run_state = fields.get("state", "?").rstrip(",")
            duration = fields.get("run_duration", "?").rstrip(",")
            with contextlib.suppress(ValueError):
                duration = f"{float(duration):.1f} s"
            color = "32" if self.run_state == "success" else "31"
            say(_c(color, f"DAG run {DAG_ID}: {self.run_state} in {duration}"), mark="=")
        elif "msgflash" in logger.lower():
            who = logger.rsplit(".", 1)[-1]
            extra = " ".join(f"{k}={v}" for k, v in KV.findall(kv) if k not in {"loc", "ti_id"})
            text = f"{_c('2', who + ':')} {msg}" + (f" {_c('2', extra)}" if extra else "")
            if level in {"error", "critical", "exception"}:
                self.errors += 1
                say(_c("31", text), mark="!")
            elif level == "warning":
                say(_c("33", text), mark="~")
            else:
                say(text)
        elif level in {"error", "critical", "exception"}:
            self.errors += 1
            say(_c("31", f"{logger}: {msg}"), mark="!")


def run_dag(env: dict[str, str], home: Path) -> bool:
    headline("airflow db migrate")
    ok, took = airflow_quiet(["db", "migrate"], env, home / "airflow-db-migrate.log")
    if not ok:
        say(_c("31", f"airflow db migrate failed after {took:.1f} s:"), mark="!")
        print((home / "airflow-db-migrate.log").read_text()[-3000:], flush=True)
        return False
    say(f"database ready (SQLite in {home}, {took:.1f} s)", mark="=")

    headline(f"airflow dags test {DAG_ID}")
    raw_path = home / "airflow-dags-test.log"
    story = Story()
    proc = CHILD.start(["dags", "test", DAG_ID], env)
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        CHILD.stop()

    timer = threading.Timer(DAG_TEST_TIMEOUT, on_timeout)
    timer.start()
    try:
        assert proc.stdout is not None
        with raw_path.open("w") as raw:
            for line in proc.stdout:
                raw.write(line)
                raw.flush()
                story.feed(line)
        rc = proc.wait()
    finally:
        timer.cancel()
    failed_tasks = {t: s for t, s in story.task_states.items() if s != "success"}
    ok = rc == 0 and story.run_state == "success" and not failed_tasks and not timed_out.is_set()
    if not ok:
        why = (
            f"timed out after {DAG_TEST_TIMEOUT} s"
            if timed_out.is_set()
            else f"exit code {rc}, run state {story.run_state}, tasks not successful: {failed_tasks or 'none'}"
        )
        say(_c("31", f"airflow dags test failed ({why})"), mark="!")
        say(f"full log: {raw_path}", mark="!")
    return ok


# -- hook smoke run (until the example DAG exists) ------------------------------------------------------
def _counts(d: dict[str, Any]) -> str:
    keys = ("onWhatsAppCount", "notOnWhatsAppCount", "invalidCount")
    return ", ".join(f"{k.removesuffix('Count')} {d.get(k)}" for k in keys if k in d)


def run_hooks() -> bool:
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    headline("MsgFlashHook smoke run (no example DAG yet)")
    hook = MsgFlashHook()
    ok, message = hook.test_connection()
    say(message, mark="=" if ok else "!")
    if not ok:
        return False

    instances = hook.list_instances() or []
    for i in instances:
        say(f"instance {i.get('name')!r} ({i.get('id')}, {i.get('waNumber')}): {i.get('status')}")
    connected = [i for i in instances if i.get("status") == "connected" and not i.get("deletedAt")]
    if not connected:
        say(_c("31", "no connected instance in the sandbox"), mark="!")
        return False
    instance = hook.resolve_instance(str(connected[0].get("name") or connected[0]["id"]))
    say(f"resolved {instance.get('name')!r} to {instance['id']}", mark="=")

    numbers = [f"+4179555{i:04d}" for i in range(150)]
    sync = hook.create_number_lookup(instance["id"], numbers[:5])
    say(f"sync lookup {sync.get('lookupId')} of 5 numbers: {sync.get('mode')}, {sync.get('status')}; {_counts(sync)}")
    if sync.get("status") != "done":
        return False

    created = hook.create_number_lookup(instance["id"], numbers)
    lookup_id = str(created["lookupId"])
    say(f"async lookup {lookup_id} of {len(numbers)} numbers: {created.get('mode')}, {created.get('status')}")
    deadline = time.monotonic() + 120
    last = None
    while True:
        progress = hook.get_number_lookup_progress(lookup_id)
        shown = (progress.get("status"), progress.get("progress"))
        if shown != last:
            status, pct, checked = progress.get("status"), progress.get("progress"), progress.get("checkedCount")
            say(f"  {lookup_id}: {status} {pct}% (checked {checked})")
            last = shown
        if progress.get("status") in {"done", "failed", "cancelled"}:
            break
        if time.monotonic() > deadline:
            say(_c("31", f"lookup {lookup_id} not finished after 120 s"), mark="!")
            return False
        time.sleep(0.5)
    final = hook.get_number_lookup(lookup_id)
    say(f"lookup {lookup_id}: {final.get('status')}; {_counts(final)}", mark="=")
    if final.get("status") != "done":
        return False
    imported = hook.import_contacts(lookup_id, "verified-whatsapp")
    say(f"import of {lookup_id} with tag 'verified-whatsapp': {imported}", mark="=")
    hook.close()
    return True


# -- summary -------------------------------------------------------------------------------------------
def _items(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return []


def _get(d: Any, *names: str) -> Any:
    for n in names:
        if isinstance(d, dict) and d.get(n) is not None:
            return d[n]
        if not isinstance(d, dict) and getattr(d, n, None) is not None:
            return getattr(d, n)
    return None


def summarize(sb: Any) -> bool:
    """Print lookups and contacts as the sandbox saw them; True when work was done and imported."""
    headline("what the sandbox saw")
    try:
        state = sb.state()
    except Exception as e:
        say(_c("31", f"sb.state() failed: {type(e).__name__}: {e}"), mark="!")
        return False
    if not isinstance(state, dict) and hasattr(state, "__dict__"):
        state = vars(state)
    lookups = _items(_get(state, "lookups", "number_lookups", "numberLookups"))
    done = 0
    for lk in lookups:
        status = _get(lk, "status")
        done += status == "done"
        requested = _get(lk, "requestedCount", "requested", "requested_count")
        counts = _counts(lk if isinstance(lk, dict) else vars(lk))
        lid, lmode, inst = _get(lk, "id", "lookupId"), _get(lk, "mode") or "?", _get(lk, "instanceId", "instance_id")
        say(f"lookup {lid} ({lmode}) on {inst}: {status}, {requested} requested; {counts}")
    contacts = _get(state, "contacts")
    n_contacts = contacts if isinstance(contacts, int) else len(_items(contacts))
    tags: dict[str, int] = {}
    for c in _items(contacts):
        for t in _get(c, "tags") or []:
            tags[t] = tags.get(t, 0) + 1
    by_tag = ", ".join(f"{n} tagged {t!r}" for t, n in sorted(tags.items()))
    say(
        f"{len(lookups)} lookup(s), {done} done; {n_contacts} contact(s)" + (f" ({by_tag})" if by_tag else ""), mark="="
    )
    if not lookups and not contacts:
        say(f"(unrecognised state; keys: {sorted(state) if isinstance(state, dict) else type(state)})")
    return done > 0 and n_contacts > 0


# -- main ------------------------------------------------------------------------------------------------
def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the MsgFlash example DAG against a local sandbox.")
    parser.add_argument(
        "--mode",
        choices=["auto", "dag", "hooks"],
        default="auto",
        help="dag: airflow dags test; hooks: MsgFlashHook smoke run; auto: dag when the example DAG exists",
    )
    parser.add_argument("--keep-home", action="store_true", help="keep the temp AIRFLOW_HOME even on success")
    args = parser.parse_args()
    mode = args.mode if args.mode != "auto" else ("dag" if DAG_FILE.exists() else "hooks")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    home = Path(tempfile.mkdtemp(prefix="msgflash-demo-"))
    run_id = f"demo-{os.getpid()}-{int(time.time())}"
    os.environ.update(
        {
            "MSGFLASH_RUN_ID": run_id,  # inherited by every child: .ci/reap.py finds leftovers by it
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)

    ok = False
    interrupted = False
    headline(f"MsgFlash demo ({'example DAG ' + DAG_ID if mode == 'dag' else 'hook smoke run'})")
    say(f"AIRFLOW_HOME={home}")
    try:
        with sandbox() as sb:
            say(f"sandbox at {sb.base_url} (pid {_sandbox_pid(sb) or '?'}, pace fast)", mark="=")
            os.environ["AIRFLOW_CONN_MSGFLASH_DEFAULT"] = _connection_json(sb)
            env = dict(os.environ)
            ran = run_dag(env, home) if mode == "dag" else run_hooks()
            summary_ok = summarize(sb)
            ok = ran and summary_ok
            if ran and not summary_ok:
                say(_c("31", "the sandbox shows no finished lookup with imported contacts"), mark="!")
    except KeyboardInterrupt:
        interrupted = True
        print(flush=True)
        say(_c("33", "interrupted: stopping what was started"), mark="!")
    except Exception as e:
        say(_c("31", f"demo failed: {type(e).__name__}: {e}"), mark="!")
        import traceback

        traceback.print_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        CHILD.stop()
        leftovers = reap(run_id, quiet=True)
        if leftovers:
            say(_c("33", f"stopped {leftovers} leftover process(es) of this run"), mark="~")
        if ok and not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
        else:
            say(f"kept {home} (logs: {', '.join(p.name for p in sorted(home.glob('*.log'))) or 'none'})")

    headline("demo " + ("succeeded" if ok else "interrupted" if interrupted else "FAILED"))
    return 0 if ok else 130 if interrupted else 1


if __name__ == "__main__":
    sys.exit(main())

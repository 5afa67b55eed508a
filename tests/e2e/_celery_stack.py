"""A real CeleryExecutor Airflow on one machine, as two hosts: the e2e of tests/e2e_celery and the real-stack
mode of benchmarks/bench_many_hosts.py.

- a private PostgreSQL (Debian's ``postgresql``; started as the ``postgres`` user when we are root, which
  Postgres refuses) and a private ``redis-server``, each on a free 127.0.0.1 port, stopped at the end;
- API server, scheduler (CeleryExecutor), DAG processor and triggerer as in tests/e2e/_stack.py;
- Celery workers as hosts: each with its own temporary directory (so its own default rate-limiter file, as
  another machine would have), its own Celery node name and task-instance hostname, its own process group;
  :meth:`CeleryStack.kill_host` SIGKILLs one with every process under it.

:data:`DEPLOYMENT` is the configuration docs/deployment.md shows a user (tests/test_deployment_doc.py checks
the page against it); :func:`deployment_env` fills it in with the private servers' addresses.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.e2e._stack import AirflowStack, free_port, tail

#: What the executor needs installed besides Airflow (pyproject's ``dev`` extra; the deployment page lists them).
PINS = ("apache-airflow-providers-celery==3.26.0", "celery[redis]<5.7", "psycopg2-binary>=2.9", "asyncpg>=0.29")

#: The configuration every Airflow component and worker shares, as docs/deployment.md shows it (``{postgres}``:
#: ``user:password@host:port``, ``{redis}``: ``host:port``), and what the MsgFlash connection adds.
DEPLOYMENT: dict[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://{postgres}/airflow",
    "AIRFLOW__CELERY__BROKER_URL": "redis://{redis}/0",
    "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql+psycopg2://{postgres}/airflow",
}
#: The MsgFlash connection's extras on a multi-host deployment: one limit for the key, kept in Redis.
CONNECTION_EXTRA: dict[str, Any] = {"rate_limit_backend": "redis://{redis}/1", "requests_per_second": 10}

#: A throwaway cluster: no fsync, no durable commits (the tests' data dies with it).
INITDB = ("-E", "UTF8", "--no-sync", "--no-instructions")
DURABILITY_OFF = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")

#: The module a worker's task instances take their hostname from (``[core] hostname_callable``).
_HOST_MODULE = "import os\n\n\ndef hostname():\n    return os.environ['MSGFLASH_E2E_HOST']\n"


def deployment_env(postgres: str, redis: str) -> dict[str, str]:
    """:data:`DEPLOYMENT` for these servers (``postgres``: ``user@host:port``, ``redis``: ``host:port``)."""
    return {k: v.format(postgres=postgres, redis=redis) for k, v in DEPLOYMENT.items()}


def connection_extra(redis: str) -> dict[str, Any]:
    return {k: v.format(redis=redis) if isinstance(v, str) else v for k, v in CONNECTION_EXTRA.items()}


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log) if log else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


def _stop(proc: subprocess.Popen[bytes], sig: int, wait: float = 20) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: 'apt-get install postgresql' (.ci/bootstrap.sh does it)")
    return found[-1].parent


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port with a database ``airflow`` owned by the
    superuser ``airflow`` (trust authentication: loopback only, deleted afterwards); yields
    ``airflow@127.0.0.1:port``. As root, it runs as the ``postgres`` user (Debian's package creates it), in a
    directory that user can reach."""
    bindir, port = _postgres_bin(), free_port()
    as_user: list[str] = []
    base = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
        base = "/tmp"  # our own temp dir is private to root; Postgres must reach its data directory
    data = Path(tempfile.mkdtemp(prefix="msgflash-pg-", dir=base))
    if as_user:
        os.chown(data, user.pw_uid, user.pw_gid)
    log = data.parent / f"{data.name}.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        init = subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data / "db"), "-U", "airflow", "--auth=trust", *INITDB],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
        settings = ["-p", str(port), "-h", "127.0.0.1", "-c", "max_connections=200", *DURABILITY_OFF]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*as_user, str(bindir / "postgres"), "-D", str(data / "db"), "-k", str(data), *settings],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(port, proc, "postgres", log)
        import psycopg2

        deadline = time.monotonic() + 30
        while True:  # it listens a moment before it accepts sessions
            try:
                con = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("CREATE DATABASE airflow")
        con.close()
        yield f"airflow@127.0.0.1:{port}"
    finally:
        if proc is not None:
            _stop(proc, signal.SIGINT)  # "fast" shutdown
        shutil.rmtree(data, ignore_errors=True)
        with contextlib.suppress(OSError):
            log.unlink()


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A ``redis-server`` on a free loopback port, without persistence; yields ``127.0.0.1:port``."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: 'apt-get install redis-server' (.ci/bootstrap.sh does it)")
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_port(port, proc, "redis-server", None, 30)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc, signal.SIGTERM)


def descendants(pid: int) -> set[int]:
    """Every live process under ``pid`` (children, theirs, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class CeleryStack(AirflowStack):
    """:class:`AirflowStack` plus Celery workers, each a host (``worker-<host>`` in :attr:`procs`)."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        super().__init__(home, env, port)
        self.hosts: dict[str, Path] = {}
        self.killed: dict[str, set[int]] = {}
        pylib = home / "pylib"
        pylib.mkdir(exist_ok=True)
        (pylib / "msgflash_e2e_host.py").write_text(_HOST_MODULE)

    def start_worker(self, host: str, concurrency: int = 4) -> None:
        """A Celery worker as host ``host``: its own TMPDIR (its own default limiter file), Celery node name
        and task-instance hostname (``[core] hostname_callable``)."""
        tmp = self.home / "hosts" / host
        tmp.mkdir(parents=True, exist_ok=True)
        self.hosts[host] = tmp
        env = {
            **self.env,
            "TMPDIR": str(tmp),
            "MSGFLASH_E2E_HOST": host,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "msgflash_e2e_host.hostname",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(self.home / "pylib"), self.env.get("PYTHONPATH")])),
        }
        args = ["celery", "worker", "--celery-hostname", f"{host}@127.0.0.1", "--concurrency", str(concurrency)]
        self.start(f"worker-{host}", [*args, "--skip-serve-logs", "--without-mingle", "--without-gossip"], env)

    def wait_workers(self, timeout: float = 90) -> None:
        """Until every worker's log says it is ready (``celery@... ready.``)."""
        deadline = time.monotonic() + timeout
        waiting = set(self.hosts)
        while waiting and time.monotonic() < deadline:
            self.check_alive()
            waiting = {h for h in waiting if "ready." not in self.logs[f"worker-{h}"].read_text(errors="replace")}
            time.sleep(0.5)
        if waiting:
            raise TimeoutError(f"Celery workers {sorted(waiting)} not ready within {timeout:g} s:\n{self.tails()}")

    def kill_host(self, host: str) -> set[int]:
        """SIGKILL worker ``host`` with every process under it (its process group and all its descendants,
        whatever group they moved to), as a machine that dies; returns the pids killed."""
        proc = self.procs.pop(f"worker-{host}")
        pids = {proc.pid} | descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.killed[host] = pids
        return pids

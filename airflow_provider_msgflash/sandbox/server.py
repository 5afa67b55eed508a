"""Run the sandbox on a free loopback port, in a daemon thread (default) or as a subprocess, and drive it
from Python through :class:`SandboxHandle` (the admin API under ``/_sandbox/``).

    with running_sandbox(pace="fast") as sb:
        os.environ["AIRFLOW_CONN_MSGFLASH_DEFAULT"] = sb.connection_json()
        sb.set_faults(error_rate=0.3)
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess as _subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_msgflash.sandbox.state import (
    FAULT_FIELDS,
    SEEDED_INSTANCES,
    SandboxConfig,
)

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy


class SandboxAdminError(RuntimeError):
    """An admin call to the sandbox failed (bad argument, unknown instance or key, sandbox gone)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket on ``host`` (loopback) and ``port`` (0: a free one), ready for uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else Nagle + delayed ACK
    # add ~40 ms to every answer on a kept-alive connection).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def config_to_args(config: SandboxConfig) -> list[str]:
    """CLI flags reproducing ``config`` exactly (used to start the subprocess)."""
    args = ["--host", config.host, "--port", str(config.port), "--no-default-keys"]
    for key in config.api_keys:
        args += ["--api-key", key]
    for key in config.team_keys:
        args += ["--team-key", key]
    args += ["--team-id", config.team_id, "--pace", str(config.pace)]
    args += ["--rate-limit", str(config.rate_limit or 0)]
    args += ["--monthly-quota", "none" if config.monthly_quota is None else str(config.monthly_quota)]
    args += ["--warmup-delay", repr(config.warmup_delay)]
    if config.state_file:
        args += ["--state-file", config.state_file]
    for name in ("error_rate", "latency", "latency_jitter", "drop_rate", "storm_429"):
        args += ["--" + name.replace("_", "-"), repr(getattr(config, name))]
    args += ["--fail-lookups", str(config.fail_lookups), "--stall-lookups", str(config.stall_lookups)]
    if config.seed is not None:
        args += ["--seed", str(config.seed)]
    if config.access_log:
        args.append("--access-log")
    args += ["--request-log-size", str(config.request_log_size)]
    return args


class SandboxHandle:
    """A running sandbox: where it is, its keys, and methods for its admin API.

    :ivar base_url: ``http://127.0.0.1:PORT`` (no trailing slash, no ``/api/v1``).
    :ivar api_key: the first accepted personal key.
    :ivar team_key: the first accepted team key (None if there is none); send with ``team_id``.
    :ivar pid: the subprocess's PID (subprocess mode), else None.
    """

    def __init__(
        self,
        base_url: str,
        config: SandboxConfig,
        *,
        process: _subprocess.Popen[bytes] | None = None,
        stopper: Any = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config
        self.api_key: str = config.api_keys[0]
        self.team_key: str | None = config.team_keys[0] if config.team_keys else None
        self.team_id: str = config.team_id
        self.process = process
        self.pid: int | None = process.pid if process is not None else None
        self.mode = "subprocess" if process is not None else "thread"
        self._stopper = stopper

    def __repr__(self) -> str:
        return f"<SandboxHandle {self.base_url} ({self.mode})>"

    # -- where and who --------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """``base_url + "/api/v1"``."""
        return self.base_url + "/api/v1"

    @property
    def instances(self) -> dict[str, str]:
        """Seeded instance ids by name."""
        return {name: s.id for name, s in SEEDED_INSTANCES.items()}

    def instance_id(self, name: str) -> str:
        """The fixed id of a seeded instance (by name, e.g. ``"sandbox-connected"``; an id is returned as is)."""
        if name in SEEDED_INSTANCES:
            return SEEDED_INSTANCES[name].id
        if any(s.id == name for s in SEEDED_INSTANCES.values()):
            return name
        raise KeyError(f"no seeded instance {name!r}; known: {', '.join(SEEDED_INSTANCES)}")

    def headers(self, key: str | None = None, team: bool = False) -> dict[str, str]:
        """Request headers for the API: ``x-api-key`` (and ``X-Team-Id`` for a team key)."""
        key = key or (self.team_key if team else self.api_key)
        if key is None:
            raise ValueError("this sandbox has no team key")
        h = {"x-api-key": key}
        if team or key.startswith("msgf_team_"):
            h["X-Team-Id"] = self.team_id
        return h

    def connection_json(self, key: str | None = None, team: bool = False, team_id: str | None = None) -> str:
        """A ``msgflash`` connection in Airflow's JSON form, e.g. for ``AIRFLOW_CONN_MSGFLASH_DEFAULT``."""
        key = key or (self.team_key if team else self.api_key)
        if key is None:
            raise ValueError("this sandbox has no team key")
        extra: dict[str, Any] = {}
        if team or key.startswith("msgf_team_"):
            extra["team_id"] = team_id or self.team_id
        return json.dumps({"conn_type": "msgflash", "host": self.base_url, "password": key, "extra": extra})

    def connection_uri(self, key: str | None = None, team: bool = False, team_id: str | None = None) -> str:
        """The same connection in Airflow's URI form (``msgflash://:KEY@127.0.0.1:PORT``)."""
        doc = json.loads(self.connection_json(key, team, team_id))
        netloc = urllib.parse.urlsplit(self.base_url).netloc
        uri = f"msgflash://:{urllib.parse.quote(doc['password'], safe='')}@{netloc}"
        if doc["extra"].get("team_id"):
            uri += "?team_id=" + urllib.parse.quote(doc["extra"]["team_id"], safe="")
        return uri

    # -- admin API ------------------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        """Call ``/_sandbox/<path>`` and return its ``data``; raises :class:`SandboxAdminError`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base_url}/_sandbox/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                doc = json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                err = json.loads(e.read()).get("error") or {}
            except (ValueError, AttributeError):
                err = {}
            what = f"{e.code} {err.get('code', '')} {err.get('message', '')}".strip()
            raise SandboxAdminError(
                f"sandbox admin {method} /_sandbox/{path}: {what}",
                status=e.code,
                code=err.get("code"),
            ) from None
        except (urllib.error.URLError, OSError) as e:
            raise SandboxAdminError(f"sandbox admin {method} /_sandbox/{path}: {e}") from None
        return doc.get("data") if isinstance(doc, dict) else doc

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Change fault switches (:data:`~airflow_provider_msgflash.sandbox.state.FAULT_FIELDS`); returns all."""
        unknown = sorted(set(faults) - set(FAULT_FIELDS))
        if unknown:
            raise TypeError(f"unknown fault switch(es) {', '.join(unknown)}; known: {', '.join(FAULT_FIELDS)}")
        result: dict[str, Any] = self.admin("POST", "faults", faults)
        return result

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "faults")
        return result

    def reset(self, faults: bool = False) -> None:
        """Fresh seeded state: keys, instances (the warming one warms up again), no lookups or contacts,
        counters, quota and request log cleared. ``faults=True`` also restores the starting switches."""
        self.admin("POST", "reset?faults=true" if faults else "reset")

    def state(self) -> dict[str, Any]:
        """Summary: ``instances``, ``lookups`` (oldest first, with status and counts), ``contacts`` (count),
        ``request_counts`` per (method, route, status), ``total_429``, ``quota_used``, ``faults``, ``keys``."""
        result: dict[str, Any] = self.admin("GET", "state")
        return result

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Recent API requests, oldest first: ``time, method, path, route, status, key`` (a fingerprint)."""
        result: list[dict[str, Any]] = self.admin("GET", f"requests?limit={limit}" if limit else "requests")
        return result

    def contacts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.admin("GET", "contacts")
        return result

    def set_instance_status(self, instance: str, status: str) -> dict[str, Any]:
        """Flip an instance (by id or name) to ``disconnected``, ``connecting`` or ``connected``."""
        ref = urllib.parse.quote(instance, safe="")
        result: dict[str, Any] = self.admin("POST", f"instances/{ref}/status", {"status": status})
        return result

    def add_key(self, key: str, team_id: str | None = None) -> dict[str, Any]:
        """Accept another key (a team key needs its ``team_id``)."""
        if team_id is None and key.startswith("msgf_team_"):
            team_id = self.team_id
        body: dict[str, Any] = {"key": key, "action": "add"}
        if team_id is not None:
            body["team_id"] = team_id
        result: dict[str, Any] = self.admin("POST", "keys", body)
        return result

    def revoke_key(self, key: str) -> dict[str, Any]:
        """Revoke a key: it fails with 401 from the next request on."""
        result: dict[str, Any] = self.admin("POST", "keys", {"key": key, "action": "revoke"})
        return result

    # -- life cycle -------------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the sandbox process exited with code {self.process.returncode}")
            try:
                self.admin("GET", "faults", timeout=2.0)
                return
            except SandboxAdminError as e:
                last = e
                time.sleep(0.02)
        raise TimeoutError(f"the sandbox at {self.base_url} did not answer within {timeout:g} s: {last}")

    def stop(self) -> None:
        """Stop the sandbox (idempotent)."""
        stopper, self._stopper = self._stopper, None
        if stopper is not None:
            stopper()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# Thread mode
# --------------------------------------------------------------------------------------------------
def _start_thread(config: SandboxConfig, timeout: float) -> SandboxHandle:
    import uvicorn

    from airflow_provider_msgflash.sandbox.app import create_app

    sock = bind_socket(config.host, config.port)
    port = sock.getsockname()[1]
    uv_config = uvicorn.Config(
        create_app(config),
        loop="asyncio",
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=config.access_log,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(uv_config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # reported to the caller
            failure.append(e)

    thread = threading.Thread(target=run, name=f"msgflash-sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        sock.close()

    if not server.started:
        stop()
        why = f": {failure[0]!r}" if failure else ""
        raise RuntimeError(f"the sandbox did not start within {timeout:g} s{why}")
    handle = SandboxHandle(base_url_for(config.host, port), config, stopper=stop)
    try:
        handle.wait_ready(max(1.0, deadline - time.monotonic()))
    except BaseException:
        stop()
        raise
    return handle


# --------------------------------------------------------------------------------------------------
# Subprocess mode
# --------------------------------------------------------------------------------------------------
def _start_subprocess(config: SandboxConfig, timeout: float) -> SandboxHandle:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGFLASH_SANDBOX_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [
        sys.executable,
        "-m",
        "airflow_provider_msgflash.sandbox",
        *config_to_args(config),
        "--json",
        "--exit-on-stdin-eof",
    ]
    proc = _subprocess.Popen(cmd, stdin=_subprocess.PIPE, stdout=_subprocess.PIPE, env=env, close_fds=True)
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # the first line is the announcement; the rest is discarded
            if lines.empty():
                lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, name=f"msgflash-sandbox-stdout-{proc.pid}", daemon=True).start()

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except _subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    deadline = time.monotonic() + timeout
    try:
        try:
            first = lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the sandbox process printed nothing within {timeout:g} s") from None
        if not first:
            proc.wait(5)
            raise RuntimeError(f"the sandbox process exited with code {proc.returncode} before announcing itself")
        info = json.loads(first)
        handle = SandboxHandle(str(info["base_url"]), config, process=proc, stopper=stop)
        handle.wait_ready(max(1.0, deadline - time.monotonic()))
    except BaseException:
        stop()
        raise
    return handle


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------
def start_sandbox(
    config: SandboxConfig | None = None, *, subprocess: bool = False, startup_timeout: float = 30.0, **settings: Any
) -> SandboxHandle:
    """Start a sandbox and return its handle; call ``handle.stop()`` when done (or use
    :func:`running_sandbox`). ``settings`` are :class:`SandboxConfig` fields overriding ``config``."""
    cfg = (config or SandboxConfig()).replace(**settings) if settings else (config or SandboxConfig())
    if subprocess:
        return _start_subprocess(cfg, startup_timeout)
    return _start_thread(cfg, startup_timeout)


@contextlib.contextmanager
def running_sandbox(
    config: SandboxConfig | None = None, *, subprocess: bool = False, startup_timeout: float = 30.0, **settings: Any
) -> Iterator[SandboxHandle]:
    """A sandbox on a free loopback port for the duration of the ``with`` block.

    :param config: a :class:`SandboxConfig` (default: the defaults).
    :param subprocess: run it as a separate process (``python -m airflow_provider_msgflash.sandbox``)
        instead of a daemon thread of this process.
    :param startup_timeout: seconds to wait until it answers.
    :param settings: :class:`SandboxConfig` fields, e.g. ``pace="realistic"``, ``rate_limit=0``.
    """
    handle = start_sandbox(config, subprocess=subprocess, startup_timeout=startup_timeout, **settings)
    try:
        yield handle
    finally:
        handle.stop()

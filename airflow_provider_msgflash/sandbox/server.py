"""Run the sandbox on a free loopback port, in a daemon thread (default) or as a subprocess, and hand
back a :class:`~airflow_provider_msgflash.sandbox.handle.SandboxHandle`.

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_msgflash.sandbox.config import FAULT_FIELDS, SandboxConfig
from airflow_provider_msgflash.sandbox.handle import SandboxHandle

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


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
    args += _fault_flags(config)
    if config.seed is not None:
        args += ["--seed", str(config.seed)]
    if config.access_log:
        args.append("--access-log")
    args += ["--request-log-size", str(config.request_log_size)]
    args += ["--dialect", ",".join(config.dialect)]
    return args


def _fault_flags(config: SandboxConfig) -> list[str]:
    """The flags of the fault switches but ``pace``, ``rate_limit`` and ``monthly_quota``."""
    args: list[str] = []
    for name in FAULT_FIELDS:
        if name in ("pace", "rate_limit", "monthly_quota"):
            continue
        flag, value = "--" + name.replace("_", "-"), getattr(config, name)
        if isinstance(value, bool):
            args += [flag] if value else []
        elif isinstance(value, tuple):
            args += [flag, ",".join(value)]
        else:
            args += [flag, "" if value is None else repr(value) if isinstance(value, float) else str(value)]
    return args


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
def _spawn(config: SandboxConfig) -> _subprocess.Popen[bytes]:
    """``python -m airflow_provider_msgflash.sandbox`` with ``config`` as flags (no MSGFLASH_SANDBOX_* from
    our environment: the flags say it all)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSGFLASH_SANDBOX_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "airflow_provider_msgflash.sandbox", *config_to_args(config)]
    cmd += ["--json", "--exit-on-stdin-eof"]
    return _subprocess.Popen(cmd, stdin=_subprocess.PIPE, stdout=_subprocess.PIPE, env=env, close_fds=True)


def _first_line(proc: _subprocess.Popen[bytes]) -> queue.Queue[bytes]:
    """A queue receiving the process's first output line (its announcement), or ``b""`` at its exit."""
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # the rest is discarded
            if lines.empty():
                lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, name=f"msgflash-sandbox-stdout-{proc.pid}", daemon=True).start()
    return lines


def _stopper(proc: _subprocess.Popen[bytes]) -> Callable[[], None]:
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

    return stop


def _start_subprocess(config: SandboxConfig, timeout: float) -> SandboxHandle:
    proc = _spawn(config)
    lines = _first_line(proc)
    stop = _stopper(proc)
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

"""Drive a running sandbox from Python: where it is, its keys, and its admin API (``/_sandbox/``).

with running_sandbox(pace="fast") as sb:          # a SandboxHandle
    os.environ["AIRFLOW_CONN_MSGFLASH_DEFAULT"] = sb.connection_json()
    sb.set_faults(error_rate=0.3)
"""

from __future__ import annotations

import json
import subprocess as _subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from airflow_provider_msgflash.sandbox.config import FAULT_FIELDS, SandboxConfig
from airflow_provider_msgflash.sandbox.seeds import SEEDED_INSTANCES

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy


class SandboxAdminError(RuntimeError):
    """An admin call to the sandbox failed (bad argument, unknown instance or key, sandbox gone)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


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
        """Change fault switches (:data:`~airflow_provider_msgflash.sandbox.config.FAULT_FIELDS`); returns all,
        with the seconds left of each window switch (``storm_429_remaining``, ``outage_remaining``,
        ``gateway_429_remaining``)."""
        unknown = sorted(set(faults) - set(FAULT_FIELDS))
        if unknown:
            raise TypeError(f"unknown fault switch(es) {', '.join(unknown)}; known: {', '.join(FAULT_FIELDS)}")
        result: dict[str, Any] = self.admin("POST", "faults", faults)
        return result

    def faults(self) -> dict[str, Any]:
        """The fault switches in force (counts as far as they are used up), as :meth:`set_faults` returns them."""
        result: dict[str, Any] = self.admin("GET", "faults")
        return result

    def reset(self, faults: bool = False) -> None:
        """Fresh seeded state: keys, instances (the warming one warms up again), no lookups or contacts,
        counters, quota and request log cleared. ``faults=True`` also restores the starting switches
        and dialect."""
        self.admin("POST", "reset?faults=true" if faults else "reset")

    def state(self) -> dict[str, Any]:
        """Summary: ``instances``, ``lookups`` (oldest first, with status and counts), ``contacts`` (count),
        ``request_counts`` per (method, route, status), ``total_429``, ``quota_used``, ``faults``, ``keys``."""
        result: dict[str, Any] = self.admin("GET", "state")
        return result

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Recent API requests, oldest first: ``time, method, path, route, status, key`` (a fingerprint),
        ``dropped``, ``processed`` (whether the route ran), ``route_status`` (what the route answered, null if
        it did not run; differs from ``status`` when a gateway error replaced it), ``duration_ms``."""
        result: list[dict[str, Any]] = self.admin("GET", f"requests?limit={limit}" if limit else "requests")
        return result

    def contacts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.admin("GET", "contacts")
        return result

    def set_dialect(self, dialect: str | list[str] | tuple[str, ...] | None) -> list[str]:
        """Answer the undocumented parts in ``dialect`` (``"list-items,clock-ahead"``, a list, ``"all"``;
        ``""``/None: the canonical shapes) from the next request on; returns the dialects in force.
        ``reset(faults=True)`` goes back to the dialect the sandbox started with."""
        body = list(dialect) if isinstance(dialect, tuple) else dialect
        result: list[str] = self.admin("POST", "config", {"dialect": body})["dialect"]
        return result

    def create_lookup_as_other(self, instance: str, numbers: list[str]) -> dict[str, Any]:
        """Create a lookup as another client of the account would (``POST /_sandbox/lookups``), on
        ``instance`` (id or name, which must be connected): it behaves like any other lookup (sync under
        100 numbers, else it progresses with the pace) and is listed, but no fault switch applies to it and
        it is not in the request log. Returns its create answer (``lookupId``, ``mode``, ...)."""
        result: dict[str, Any] = self.admin("POST", "lookups", {"instance": instance, "numbers": list(numbers)})
        return result

    def set_instance_status(self, instance: str, status: str) -> dict[str, Any]:
        """Flip an instance (by id or name) to ``disconnected``, ``connecting`` or ``connected``."""
        ref = urllib.parse.quote(instance, safe="")
        result: dict[str, Any] = self.admin("POST", f"instances/{ref}/status", {"status": status})
        return result

    def set_instance_health(self, instance: str, safety_score: int, safety_state: str | None = None) -> dict[str, Any]:
        """Set an instance's (by id or name) ``safetyScore`` (0-100) and ``safetyState`` (``healthy``,
        ``warning``, ``at_risk``; by default derived from the score: from 80 healthy, from 50 warning);
        returns its health answer (canonical shape). Lasts until the next reset."""
        ref = urllib.parse.quote(instance, safe="")
        body: dict[str, Any] = {"safetyScore": safety_score}
        if safety_state is not None:
            body["safetyState"] = safety_state
        result: dict[str, Any] = self.admin("POST", f"instances/{ref}/health", body)
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

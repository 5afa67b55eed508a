"""How a sandbox starts (:class:`SandboxConfig`) and the fault switches it can change while it runs
(:class:`Faults`), each value checked with an error naming the setting and what it accepts."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.dialects import parse_dialect
from airflow_provider_msgflash.sandbox.seeds import SANDBOX_API_KEY, SANDBOX_TEAM_ID, SANDBOX_TEAM_KEY

#: Route labels for ``unavailable_routes``: method and path template, as the request log shows them
#: (``GET /_sandbox/requests``: ``method`` and ``route``). The template alone means every method.
ROUTE_LABELS = (
    "GET /api/v1/instances",
    "GET /api/v1/instances/{id}",
    "GET /api/v1/instances/{id}/state",
    "GET /api/v1/instances/{id}/health",
    "POST /api/v1/number-lookups",
    "GET /api/v1/number-lookups",
    "GET /api/v1/number-lookups/{id}",
    "GET /api/v1/number-lookups/{id}/progress",
    "POST /api/v1/number-lookups/{id}/cancel",
    "POST /api/v1/number-lookups/{id}/import-contacts",
    "GET /api/v1/contacts",
    "GET /api/v1/contacts/{id}",
    "POST /api/v1/contacts",
    "GET /api/v1/me",
)
_ROUTE_TEMPLATES = frozenset(label.split(" ", 1)[1] for label in ROUTE_LABELS)
#: Statuses a gateway answers with after processing a create (``gateway_status`` null: these in turn).
GATEWAY_STATUSES = (502, 503, 504)
#: Switches that open a window of that many seconds (from start, or from the ``set_faults`` call).
WINDOW_SWITCHES = ("storm_429", "outage", "gateway_429")
_SERVICE_ERROR_RE = re.compile(r"[A-Z][A-Z0-9_]*: \S.*")


def _fraction(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v <= 1:
        raise ValueError(f"{name} must be a number from 0 to 1, got {v!r}")
    return float(v)


def _seconds(name: str, v: Any, cap: float = 3600.0) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v <= cap:
        raise ValueError(f"{name} must be a number of seconds from 0 to {cap:g}, got {v!r}")
    return float(v)


def _count(name: str, v: Any, *, optional: bool = False, cap: int = 10**12) -> int | None:
    if v is None and optional:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > cap:
        most = f" and at most {cap}" if cap < 10**12 else ""
        raise ValueError(
            f"{name} must be a whole number of at least 0{most}{' or null' if optional else ''}, got {v!r}"
        )
    return v


def _flag(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"{name} must be true or false, got {v!r}")
    return v


def _gateway_status(name: str, v: Any) -> int | None:
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v in GATEWAY_STATUSES):
        return v
    raise ValueError(f"{name} must be 502, 503, 504 or null (null: 502, 503, 504 in turn), got {v!r}")


def _routes(name: str, v: Any) -> tuple[str, ...]:
    """Route labels (a list, or a comma-separated string): ``"GET /api/v1/number-lookups"`` or a bare
    template (every method)."""
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{name} must be a list of route labels such as 'GET /api/v1/number-lookups', got {v!r}")
    labels: list[str] = []
    for item in items:
        method, _, template = item.strip().rpartition(" ")
        label = f"{method.strip().upper()} {template}" if method else template
        if not label:
            continue
        if label not in ROUTE_LABELS and label not in _ROUTE_TEMPLATES:
            raise ValueError(
                f"{name}: unknown route {item!r}; a route is 'METHOD template' as the request log shows it, or "
                f"the template alone for every method: {', '.join(ROUTE_LABELS)}"
            )
        labels.append(label)
    return tuple(dict.fromkeys(labels))


def _service_error(name: str, v: Any) -> str | None:
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) > 500 or not _SERVICE_ERROR_RE.fullmatch(v):
        raise ValueError(
            f"{name} must be 'CODE: message' (CODE in capitals, digits and _; one line, at most 500 characters), "
            f"e.g. 'ACCOUNT_BLOCKED: The WhatsApp account behind this instance was blocked', or null, got {v!r}"
        )
    return v


def _rate_limit(name: str, v: Any) -> int | None:
    return _count(name, 0 if v is None else v) or None


def _pace(name: str, v: Any) -> Any:
    rules.parse_pace(v)
    return v


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "error_rate": _fraction,
    "latency": lambda n, v: _seconds(n, v, 60.0),
    "latency_jitter": lambda n, v: _seconds(n, v, 60.0),
    "fail_lookups": _count,
    "fail_error": _service_error,
    "stall_lookups": _count,
    "stall_seconds": _seconds,
    "disconnect_during_lookup": _count,
    "drop_rate": _fraction,
    "storm_429": _seconds,
    "gateway_429": _seconds,
    "gateway_429_retry_after": _flag,
    "gateway_after_create": _count,
    "gateway_status": _gateway_status,
    "outage": _seconds,
    "unavailable_routes": _routes,
    "busy_account": lambda n, v: _count(n, v, cap=1000),
    "rate_limit": _rate_limit,
    "monthly_quota": lambda n, v: _count(n, v, optional=True),
    "pace": _pace,
}
#: The switches ``set_faults`` / ``POST /_sandbox/faults`` may change while the sandbox runs.
FAULT_FIELDS = tuple(_CHECKS)


def check_fault(name: str, value: Any) -> Any:
    """The checked value of fault switch ``name``; raises ValueError (unknown switch or bad value)."""
    check = _CHECKS.get(name)
    if check is None:
        raise ValueError(f"unknown fault switch {name!r}; known: {', '.join(FAULT_FIELDS)}")
    return check(name, value)


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox starts. Every field can also be given to ``running_sandbox(**fields)``; the fault
    switches (:data:`FAULT_FIELDS`) can be changed later with ``set_faults``.

    :param host: loopback only (``127.0.0.1``, ``localhost``, ``::1``).
    :param port: TCP port; 0 picks a free one.
    :param api_keys: accepted personal keys (``msgf_live_`` + 64 lowercase hex).
    :param team_keys: accepted team keys (``msgf_team_...``), all of team ``team_id``.
    :param team_id: the team id team keys must be sent with (``X-Team-Id``).
    :param pace: seconds per batch of 20 numbers for async lookups: ``"fast"`` (0.02), ``"realistic"``
        (1.0), ``"instant"`` (0) or a number.
    :param rate_limit: accepted requests per key in any one-second window; 0 or None turns it off.
    :param monthly_quota: requests the account may make (None: unlimited).
    :param warmup_delay: seconds after start/reset at which ``sandbox-warming`` turns connected.
    :param error_rate: fraction of API requests answered 500 ``INTERNAL_ERROR`` or 502 ``PROVIDER_*``.
    :param latency: seconds added to every API answer; ``latency_jitter`` adds up to that many more.
    :param fail_lookups: how many of the next async lookups end ``failed`` partway.
    :param fail_error: the error those failed lookups carry, ``"CODE: message"`` (None: a provider timeout).
    :param stall_lookups: how many of the next async lookups stop progressing while ``processing``.
    :param stall_seconds: how long a stalled lookup stands still before it resumes (0: forever).
    :param disconnect_during_lookup: how many of the next async lookups disconnect their instance
        halfway and end ``failed`` (``INSTANCE_DISCONNECTED``).
    :param drop_rate: fraction of API requests whose connection is closed without an answer.
    :param storm_429: for this many seconds every API request gets 429 ``API_RATE_LIMIT_EXCEEDED``.
    :param gateway_429: for this many seconds every API request gets a gateway's 429 HTML page (no
        envelope); with ``Retry-After`` only if ``gateway_429_retry_after``.
    :param gateway_after_create: how many of the next lookup creates are processed, then answered with
        a gateway's HTML error page (``gateway_status``, or 502, 503, 504 in turn).
    :param outage: for this many seconds every API request gets a gateway's 503 HTML page, unprocessed.
    :param unavailable_routes: these routes (:data:`ROUTE_LABELS`) get a gateway's 503 HTML page,
        unprocessed.
    :param busy_account: after each lookup created through the API, this many lookups of the same size
        by "other clients" on the same instance (and one each of the size above and below).
    :param seed: seed of the random generator behind the fault switches (reproducible runs).
    :param access_log: log every request (uvicorn's access log).
    :param request_log_size: how many recent requests ``/_sandbox/requests`` keeps.
    :param dialect: answer the undocumented parts of the API in these alternative shapes (see
        ``dialects.py`` and docs/sandbox.md): a comma-separated string or a list of names, ``all``;
        empty (default): the canonical shapes. Changed while running with ``set_dialect``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = (SANDBOX_API_KEY,)
    team_keys: tuple[str, ...] = (SANDBOX_TEAM_KEY,)
    team_id: str = SANDBOX_TEAM_ID
    pace: str | float = "fast"
    rate_limit: int | None = 10
    monthly_quota: int | None = None
    warmup_delay: float = 3.0
    # faults of the API's answers
    error_rate: float = 0.0
    latency: float = 0.0
    latency_jitter: float = 0.0
    drop_rate: float = 0.0
    storm_429: float = 0.0
    # a gateway in front of the API
    outage: float = 0.0
    unavailable_routes: tuple[str, ...] = ()
    gateway_429: float = 0.0
    gateway_429_retry_after: bool = False
    gateway_after_create: int = 0
    gateway_status: int | None = None
    # faults of the next async lookups
    fail_lookups: int = 0
    fail_error: str | None = None
    stall_lookups: int = 0
    stall_seconds: float = 0.0
    disconnect_during_lookup: int = 0
    # other clients of the account
    busy_account: int = 0
    seed: int | None = None
    access_log: bool = False
    request_log_size: int = 1000
    dialect: str | tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "host", rules.check_host(str(self.host)))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, got {self.port!r}")
        for name in ("api_keys", "team_keys"):
            value = getattr(self, name)
            set_(self, name, (value,) if isinstance(value, str) else tuple(value))
        self._check_keys()
        for name in FAULT_FIELDS:
            set_(self, name, check_fault(name, getattr(self, name)))
        set_(self, "warmup_delay", _seconds("warmup_delay", self.warmup_delay))
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.request_log_size, int) or self.request_log_size < 1:
            raise ValueError("request_log_size must be at least 1")
        set_(self, "dialect", parse_dialect(self.dialect))

    def _check_keys(self) -> None:
        if not self.api_keys:
            raise ValueError("api_keys must hold at least one personal key")
        for key in self.api_keys:
            if not isinstance(key, str) or not rules.is_personal_key(key):
                raise ValueError("api_keys: a personal key is 'msgf_live_' followed by 64 lowercase hex characters")
        for key in self.team_keys:
            if not isinstance(key, str) or not rules.is_team_key(key):
                raise ValueError("team_keys: a team key starts with 'msgf_team_'")
        if not rules.is_uuid(self.team_id):
            raise ValueError(f"team_id must be a UUID, got {self.team_id!r}")

    def replace(self, **changes: Any) -> SandboxConfig:
        """A copy with ``changes`` (checked); unknown names raise TypeError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown sandbox setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


@dataclass
class Faults:
    """The fault switches in force: the configuration's at start and after ``reset(faults=True)``,
    changed by ``set_faults``. Counts (``fail_lookups``, ``gateway_after_create``, ...) go down as they
    are used up."""

    error_rate: float
    latency: float
    latency_jitter: float
    fail_lookups: int
    fail_error: str | None
    stall_lookups: int
    stall_seconds: float
    disconnect_during_lookup: int
    drop_rate: float
    storm_429: float
    gateway_429: float
    gateway_429_retry_after: bool
    gateway_after_create: int
    gateway_status: int | None
    outage: float
    unavailable_routes: tuple[str, ...]
    busy_account: int
    rate_limit: int | None
    monthly_quota: int | None
    pace: str | float
    #: time.monotonic() until which each window switch (:data:`WINDOW_SWITCHES`) is in force.
    until: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: SandboxConfig) -> Faults:
        f = cls(**{name: getattr(config, name) for name in FAULT_FIELDS})
        f._open(WINDOW_SWITCHES)
        return f

    def _open(self, names: tuple[str, ...] | list[str]) -> None:
        now = time.monotonic()
        for name in names:
            seconds = getattr(self, name)
            self.until[name] = now + seconds if seconds else 0.0

    def update(self, changes: Mapping[str, Any]) -> None:
        """Check every change first, then apply them all (all or nothing). A window switch given
        (``storm_429``, ``outage``, ``gateway_429``) opens its window from now."""
        checked = {name: check_fault(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)
        self._open([name for name in WINDOW_SWITCHES if name in checked])

    @property
    def batch_interval(self) -> float:
        return rules.parse_pace(self.pace)

    def remaining(self, name: str) -> float:
        """Seconds left of window switch ``name`` (0: not in force)."""
        return max(0.0, self.until.get(name, 0.0) - time.monotonic())

    def to_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in FAULT_FIELDS}
        d["unavailable_routes"] = list(self.unavailable_routes)
        for name in WINDOW_SWITCHES:
            d[f"{name}_remaining"] = round(self.remaining(name), 3)
        d["batch_interval"] = self.batch_interval
        return d

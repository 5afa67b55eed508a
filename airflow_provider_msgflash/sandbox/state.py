"""The sandbox's configuration, seeded data and state: instances, number lookups (with their background
processing), contacts, keys, the rate limiter, the monthly quota and the request log.

Everything here runs on the server's event loop thread; nothing is shared with other threads. State
lives in memory, and also in SQLite when ``state_file`` is set (it then survives a restart, and
pending or processing lookups resume).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import random
import sqlite3
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

from airflow_provider_msgflash.sandbox import rules

# --------------------------------------------------------------------------------------------------
# Demo keys and seeded instances
# --------------------------------------------------------------------------------------------------
#: The sandbox's default personal key (``msgf_live_`` + 64 hex). A demo value: never a real key.
SANDBOX_API_KEY = "msgf_live_" + "5a" * 32
#: The sandbox's default team key; send it with ``X-Team-Id: SANDBOX_TEAM_ID``.
SANDBOX_TEAM_KEY = "msgf_team_sandbox0000000000000000"
SANDBOX_TEAM_ID = "7e4d1c2a-0000-4000-8000-000000000001"
#: The id of the sandbox's single account (``GET /api/v1/me``).
SANDBOX_ACCOUNT_ID = "5a0d0000-0000-4000-8000-0000000000aa"

INSTANCE_STATUSES = ("disconnected", "connecting", "connected")
PROVIDER_STATES = {"connected": "open", "connecting": "connecting", "disconnected": "close"}
ACTIVE = frozenset({"pending", "processing"})
TERMINAL = frozenset({"done", "failed", "cancelled"})


@dataclass(frozen=True)
class SeededInstance:
    """One instance every fresh sandbox has, with a fixed id."""

    id: str
    name: str
    wa_number: str
    status: str
    safety_state: str
    safety_score: int
    description: str
    warms_up: bool = False


#: The seeded instances by name. ``sandbox-warming`` is ``connecting`` and turns ``connected``
#: ``warmup_delay`` seconds after the sandbox starts or is reset.
SEEDED_INSTANCES: dict[str, SeededInstance] = {
    s.name: s
    for s in (
        SeededInstance(
            "5a0d0000-0000-4000-8000-000000000001",
            "sandbox-connected",
            "+41790000001",
            "connected",
            "healthy",
            92,
            "connected and healthy: lookups work",
        ),
        SeededInstance(
            "5a0d0000-0000-4000-8000-000000000002",
            "sandbox-connecting",
            "+41790000002",
            "connecting",
            "healthy",
            80,
            "stays connecting: lookups are refused",
        ),
        SeededInstance(
            "5a0d0000-0000-4000-8000-000000000003",
            "sandbox-disconnected",
            "+41790000003",
            "disconnected",
            "warning",
            60,
            "disconnected: lookups are refused",
        ),
        SeededInstance(
            "5a0d0000-0000-4000-8000-000000000004",
            "sandbox-unhealthy",
            "+41790000004",
            "connected",
            "at_risk",
            35,
            "connected, but its health is at_risk (safetyScore 35)",
        ),
        SeededInstance(
            "5a0d0000-0000-4000-8000-000000000005",
            "sandbox-warming",
            "+41790000005",
            "connecting",
            "warning",
            70,
            "connecting, turns connected warmup_delay seconds after start or reset",
            warms_up=True,
        ),
    )
}
_SEED_CREATED = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc).timestamp()


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
#: The switches ``set_faults`` / ``POST /_sandbox/faults`` may change while the sandbox runs.
FAULT_FIELDS = (
    "error_rate",
    "latency",
    "latency_jitter",
    "fail_lookups",
    "stall_lookups",
    "drop_rate",
    "storm_429",
    "rate_limit",
    "monthly_quota",
    "pace",
)


def _fraction(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v <= 1:
        raise ValueError(f"{name} must be a number from 0 to 1, got {v!r}")
    return float(v)


def _seconds(name: str, v: Any, cap: float = 3600.0) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v <= cap:
        raise ValueError(f"{name} must be a number of seconds from 0 to {cap:g}, got {v!r}")
    return float(v)


def _count(name: str, v: Any, *, optional: bool = False) -> int | None:
    if v is None and optional:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 10**12:
        raise ValueError(f"{name} must be a whole number of at least 0{' or null' if optional else ''}, got {v!r}")
    return v


def check_fault(name: str, value: Any) -> Any:
    """The checked value of fault switch ``name``; raises ValueError (unknown switch or bad value)."""
    if name in ("error_rate", "drop_rate"):
        return _fraction(name, value)
    if name in ("latency", "latency_jitter"):
        return _seconds(name, value, 60.0)
    if name == "storm_429":
        return _seconds(name, value)
    if name in ("fail_lookups", "stall_lookups"):
        return _count(name, value)
    if name == "rate_limit":
        n = _count(name, 0 if value is None else value)
        return n or None
    if name == "monthly_quota":
        return _count(name, value, optional=True)
    if name == "pace":
        rules.parse_pace(value)
        return value
    raise ValueError(f"unknown fault switch {name!r}; known: {', '.join(FAULT_FIELDS)}")


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
    :param state_file: SQLite file keeping the state across restarts (None: memory only).
    :param error_rate: fraction of API requests answered 500 ``INTERNAL_ERROR`` or 502 ``PROVIDER_*``.
    :param latency: seconds added to every API answer; ``latency_jitter`` adds up to that many more.
    :param fail_lookups: how many of the next async lookups end ``failed`` partway.
    :param stall_lookups: how many of the next async lookups stop progressing while ``processing``.
    :param drop_rate: fraction of API requests whose connection is closed without an answer.
    :param storm_429: for this many seconds every API request gets 429 ``API_RATE_LIMIT_EXCEEDED``.
    :param seed: seed of the random generator behind the fault switches (reproducible runs).
    :param access_log: log every request (uvicorn's access log).
    :param request_log_size: how many recent requests ``/_sandbox/requests`` keeps.
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
    state_file: str | None = None
    error_rate: float = 0.0
    latency: float = 0.0
    latency_jitter: float = 0.0
    fail_lookups: int = 0
    stall_lookups: int = 0
    drop_rate: float = 0.0
    storm_429: float = 0.0
    seed: int | None = None
    access_log: bool = False
    request_log_size: int = 1000

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "host", rules.check_host(str(self.host)))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, got {self.port!r}")
        for name in ("api_keys", "team_keys"):
            value = getattr(self, name)
            set_(self, name, (value,) if isinstance(value, str) else tuple(value))
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
        for name in FAULT_FIELDS:
            set_(self, name, check_fault(name, getattr(self, name)))
        set_(self, "warmup_delay", _seconds("warmup_delay", self.warmup_delay))
        if self.state_file is not None:
            set_(self, "state_file", str(self.state_file))
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.request_log_size, int) or self.request_log_size < 1:
            raise ValueError("request_log_size must be at least 1")

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
    """The fault switches in force (changed by ``set_faults``)."""

    error_rate: float = 0.0
    latency: float = 0.0
    latency_jitter: float = 0.0
    fail_lookups: int = 0
    stall_lookups: int = 0
    drop_rate: float = 0.0
    storm_429: float = 0.0
    rate_limit: int | None = 10
    monthly_quota: int | None = None
    pace: str | float = "fast"
    storm_until: float = 0.0  # time.monotonic() until which every API request gets a 429

    @classmethod
    def from_config(cls, config: SandboxConfig) -> Faults:
        f = cls(**{name: getattr(config, name) for name in FAULT_FIELDS})
        if f.storm_429:
            f.storm_until = time.monotonic() + f.storm_429
        return f

    def update(self, changes: Mapping[str, Any]) -> None:
        """Check every change first, then apply them all (all or nothing)."""
        checked = {name: check_fault(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)
        if "storm_429" in checked:
            self.storm_until = time.monotonic() + self.storm_429 if self.storm_429 else 0.0

    @property
    def batch_interval(self) -> float:
        return rules.parse_pace(self.pace)

    def storm_remaining(self) -> float:
        return max(0.0, self.storm_until - time.monotonic())

    def to_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in FAULT_FIELDS}
        d["storm_429_remaining"] = round(self.storm_remaining(), 3)
        d["batch_interval"] = self.batch_interval
        return d


# --------------------------------------------------------------------------------------------------
# Errors and helpers
# --------------------------------------------------------------------------------------------------
class SandboxError(Exception):
    """An API failure: answered as ``{"error": {"code", "message", "details"?}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}


def validation_error(field_name: str, message: str) -> SandboxError:
    return SandboxError(
        400, "VALIDATION_ERROR", f"{field_name}: {message}", [{"field": field_name, "message": message}]
    )


def iso(t: float | None) -> str | None:
    """``2026-04-01T09:00:00.000Z`` (UTC, milliseconds), as the API writes times."""
    if t is None:
        return None
    dt = datetime.fromtimestamp(t, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _encode_cursor(kind: str, key: tuple[str, int]) -> str:
    raw = json.dumps({"k": kind, "v": [key[0], key[1]]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(kind: str, cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        v = doc["v"]
        if doc.get("k") != kind or not (isinstance(v, list) and len(v) == 2):
            raise ValueError
        if not isinstance(v[0], str) or isinstance(v[1], bool) or not isinstance(v[1], int):
            raise ValueError
        return v[0], v[1]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise validation_error("cursor", "not a cursor from an earlier page of this list") from None


def _page(
    items: Iterable[Any], key: Callable[[Any], tuple[str, int]], desc: bool, after: tuple[str, int] | None, limit: int
) -> tuple[list[Any], tuple[str, int] | None]:
    ordered = sorted(items, key=key, reverse=desc)
    if after is not None:
        ordered = [it for it in ordered if (key(it) < after if desc else key(it) > after)]
    page = ordered[:limit]
    return page, (key(page[-1]) if len(ordered) > limit and page else None)


# --------------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------------
@dataclass
class Instance:
    id: str
    name: str
    wa_number: str
    status: str
    safety_state: str
    safety_score: int
    description: str
    created_at: float
    updated_at: float
    warm_at: float | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "waNumber": self.wa_number,
            "status": self.status,
            "webhook": None,
            "meta": {"sandbox": self.description},
            "deletedAt": None,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }

    def health(self) -> dict[str, Any]:
        warming = self.warm_at is not None or self.safety_state != "healthy"
        recommendations = {
            "healthy": ["Keep a steady sending pace; the number is well established."],
            "warning": [
                "Ramp up slowly: stay under the daily limit of the warm-up policy.",
                "Prefer contacts who have written to this number before.",
            ],
            "at_risk": [
                "Pause bulk sends on this number until its safety score recovers.",
                "Reduce volume and avoid sending to unverified numbers.",
                "Check recent blocks and reports in the dashboard.",
            ],
        }[self.safety_state]
        return {
            "instanceId": self.id,
            "safetyState": self.safety_state,
            "safetyScore": self.safety_score,
            "warmupPolicy": {
                "version": "v1",
                "phase": "warming" if warming else "established",
                "dailyLimit": 1000 if self.safety_state == "healthy" else 200 if warming else 50,
                "minDelaySeconds": 2 if self.safety_state == "healthy" else 10,
            },
            "usageWindowSummary": {"windowHours": 24, "sent": 0, "delivered": 0, "failed": 0, "blocked": 0},
            "recommendations": recommendations,
        }

    def to_row(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Lookup:
    id: str
    seq: int
    mode: str
    instance_id: str
    numbers: list[str]
    status: str
    created_at: float
    updated_at: float
    completed_at: float | None = None
    checked: int = 0
    error: str | None = None
    fail_at: int | None = None
    stall_at: int | None = None
    valid: list[str] = field(default_factory=list, repr=False)
    invalid: list[str] = field(default_factory=list, repr=False)
    on_count: int = 0

    def derive(self) -> None:
        """Normalise the inputs and recount what ``checked`` numbers found (after create or load)."""
        self.valid, self.invalid = rules.split_numbers(self.numbers)
        self.on_count = sum(1 for n in self.valid[: self.checked] if n[-1] in "02468")

    @property
    def progress(self) -> int:
        if self.status == "done":
            return 100
        return self.checked * 100 // len(self.valid) if self.valid else 0

    def counts(self) -> dict[str, Any]:
        return {
            "requestedCount": len(self.numbers),
            "normalizedCount": len(self.valid),
            "checkedCount": self.checked,
            "onWhatsAppCount": self.on_count,
            "notOnWhatsAppCount": self.checked - self.on_count,
            "invalidCount": len(self.invalid),
        }

    def progress_view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "progress": self.progress,
            **self.counts(),
            "error": self.error,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "completedAt": iso(self.completed_at),
        }

    def list_view(self) -> dict[str, Any]:
        return {**self.progress_view(), "mode": self.mode, "instanceId": self.instance_id}

    def result(self) -> dict[str, list[str]]:
        on = [n for n in self.valid if n[-1] in "02468"]
        off = [n for n in self.valid if n[-1] not in "02468"]
        return {"onWhatsApp": on, "notOnWhatsApp": off, "invalid": list(self.invalid)}

    def detail_view(self) -> dict[str, Any]:
        view = self.list_view()
        if self.status == "done":
            view["result"] = self.result()
        return view

    def to_row(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "id",
                "seq",
                "mode",
                "instance_id",
                "status",
                "created_at",
                "updated_at",
                "completed_at",
                "checked",
                "error",
                "fail_at",
                "stall_at",
            )
        }


@dataclass
class Contact:
    id: str
    seq: int
    name: str
    phone: str
    tags: list[str]
    meta: Any
    created_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "phone": self.phone,
            "tags": list(self.tags),
            "meta": self.meta,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }

    def to_row(self) -> dict[str, Any]:
        return dict(vars(self))


# --------------------------------------------------------------------------------------------------
# SQLite persistence
# --------------------------------------------------------------------------------------------------
class Store:
    """Write-through copy of the state in SQLite (one row per object, JSON columns)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.conn:
            self.conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, data TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS lookups (
                    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL, numbers TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS contacts (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
                """
            )

    def load(self) -> dict[str, Any] | None:
        meta = {k: json.loads(v) for k, v in self.conn.execute("SELECT k, v FROM meta")}
        if not meta.get("seeded"):
            return None
        instances = [json.loads(d) for (d,) in self.conn.execute("SELECT data FROM instances")]
        lookups = [
            (json.loads(d), json.loads(n))
            for d, n in self.conn.execute("SELECT data, numbers FROM lookups ORDER BY seq")
        ]
        contacts = [json.loads(d) for (d,) in self.conn.execute("SELECT data FROM contacts ORDER BY seq")]
        return {"meta": meta, "instances": instances, "lookups": lookups, "contacts": contacts}

    def clear(self) -> None:
        with self.conn:
            for table in ("meta", "instances", "lookups", "contacts"):
                self.conn.execute(f"DELETE FROM {table}")

    def set_meta(self, key: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, json.dumps(value)))

    def save_instances(self, instances: Iterable[Instance]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO instances (id, data) VALUES (?, ?)",
                [(i.id, json.dumps(i.to_row())) for i in instances],
            )

    def insert_lookup(self, lk: Lookup) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO lookups (id, seq, data, numbers) VALUES (?, ?, ?, ?)",
                (lk.id, lk.seq, json.dumps(lk.to_row()), json.dumps(lk.numbers)),
            )

    def save_lookup(self, lk: Lookup) -> None:
        with self.conn:
            self.conn.execute("UPDATE lookups SET data = ? WHERE id = ?", (json.dumps(lk.to_row()), lk.id))

    def save_contacts(self, contacts: Iterable[Contact]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO contacts (id, seq, data) VALUES (?, ?, ?)",
                [(c.id, c.seq, json.dumps(c.to_row())) for c in contacts],
            )

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------
@dataclass
class Caller:
    """Who sent a request that passed authentication."""

    key: str
    kind: str  # "personal" | "team"
    team_id: str | None = None


class KeyRing:
    def __init__(self, config: SandboxConfig) -> None:
        self.personal: set[str] = set(config.api_keys)
        self.team: dict[str, str] = dict.fromkeys(config.team_keys, config.team_id)
        self.revoked: set[str] = set()

    def add(self, key: str, team_id: str | None = None) -> str:
        if rules.is_team_key(key):
            if not rules.is_uuid(team_id):
                raise validation_error("team_id", "a team key needs the UUID of its team")
            assert team_id is not None
            self.team[key] = team_id
            kind = "team"
        elif rules.is_personal_key(key):
            if team_id is not None:
                raise validation_error("team_id", "only team keys (msgf_team_...) belong to a team")
            self.personal.add(key)
            kind = "personal"
        else:
            raise validation_error(
                "key", "expected 'msgf_live_' + 64 lowercase hex characters, or a team key 'msgf_team_...'"
            )
        self.revoked.discard(key)
        return kind

    def revoke(self, key: str) -> str:
        if key in self.personal:
            self.personal.discard(key)
            kind = "personal"
        elif key in self.team:
            del self.team[key]
            kind = "team"
        else:
            raise SandboxError(404, "NOT_FOUND", "No such key is accepted by this sandbox.")
        self.revoked.add(key)
        return kind

    def authenticate(self, key: str | None, team_header: str | None, authorization: str | None) -> Caller:
        if key is None or key == "":
            if authorization:
                msg = (
                    "Missing API key. MsgFlash does not accept 'Authorization: Bearer ...': send the key in the "
                    "x-api-key header."
                )
            else:
                msg = "Missing API key: send it in the x-api-key header."
            raise SandboxError(401, "UNAUTHORIZED", msg)
        if key in self.revoked:
            raise SandboxError(401, "UNAUTHORIZED", "This API key has been revoked.")
        if key in self.team:
            if not team_header:
                raise SandboxError(401, "UNAUTHORIZED", "Team keys must be sent with the X-Team-Id header.")
            if team_header != self.team[key]:
                raise SandboxError(401, "UNAUTHORIZED", "Invalid API key or team id.")
            return Caller(key, "team", team_header)
        if not rules.is_personal_key(key) and not rules.is_team_key(key):
            raise SandboxError(
                401,
                "UNAUTHORIZED",
                "Malformed API key: expected 'msgf_live_' followed by 64 lowercase hex characters, or a team key.",
            )
        if key not in self.personal:
            raise SandboxError(401, "UNAUTHORIZED", "Invalid API key.")
        if team_header is not None:
            raise SandboxError(
                403, "TEAM_KEY_REQUIRED", "X-Team-Id was sent with a personal key; it needs a team key (msgf_team_...)."
            )
        return Caller(key, "personal")

    def summary(self) -> dict[str, Any]:
        return {
            "personal": sorted(rules.key_fingerprint(k) or "" for k in self.personal),
            "team": sorted(rules.key_fingerprint(k) or "" for k in self.team),
            "revoked": sorted(rules.key_fingerprint(k) or "" for k in self.revoked),
        }


# --------------------------------------------------------------------------------------------------
# The state
# --------------------------------------------------------------------------------------------------
CONTACT_SORTS = {
    "-createdAt": (lambda c: ("", c.seq), True),
    "createdAt": (lambda c: ("", c.seq), False),
    "name": (lambda c: (c.name.lower(), c.seq), False),
    "-name": (lambda c: (c.name.lower(), c.seq), True),
    "phone": (lambda c: (c.phone, c.seq), False),
    "-phone": (lambda c: (c.phone, c.seq), True),
}
DEFAULT_CONTACT_SORT = "-createdAt"

_ERROR_FAULTS = (
    (500, "INTERNAL_ERROR", "Internal server error (sandbox fault: error_rate)."),
    (502, "PROVIDER_ERROR", "The WhatsApp provider answered with an error (sandbox fault: error_rate)."),
    (502, "PROVIDER_UNAVAILABLE", "The WhatsApp provider is unavailable (sandbox fault: error_rate)."),
)


class SandboxState:
    """All the sandbox knows. Methods raise :class:`SandboxError` for API failures."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.faults = Faults.from_config(config)
        self.rng = random.Random(config.seed)
        self.store: Store | None = None
        self.keys = KeyRing(config)
        self.instances: dict[str, Instance] = {}
        self.lookups: dict[str, Lookup] = {}
        self.contacts: dict[str, Contact] = {}
        self.contacts_by_phone: dict[str, Contact] = {}
        self.seq = 0
        self.quota_used = 0
        self.total_429 = 0
        self.request_counts: Counter[tuple[str, str, int]] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=config.request_log_size)
        self.windows: dict[str, deque[float]] = {}
        self.started_at = time.time()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the state file (or seed), and resume pending/processing lookups."""
        if self.config.state_file:
            self.store = Store(self.config.state_file)
            loaded = self.store.load()
            if loaded is not None:
                self._load(loaded)
            else:
                self._seed()
        else:
            self._seed()
        for lk in self.lookups.values():
            if lk.status in ACTIVE:
                self._spawn(lk)

    async def stop(self) -> None:
        await self._cancel_tasks()
        if self.store is not None:
            self.store.close()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def reset(self, faults: bool = False) -> None:
        """Fresh seeded state (keys, instances, no lookups or contacts, counters and logs cleared).
        With ``faults``, the fault switches go back to the configuration the sandbox started with."""
        await self._cancel_tasks()
        self.keys = KeyRing(self.config)
        if faults:
            self.faults = Faults.from_config(self.config)
            self.rng = random.Random(self.config.seed)
        self.lookups.clear()
        self.contacts.clear()
        self.contacts_by_phone.clear()
        self.request_counts.clear()
        self.request_log.clear()
        self.windows.clear()
        self.total_429 = 0
        self.quota_used = 0
        if self.store is not None:
            self.store.clear()
        self._seed()

    def _seed(self) -> None:
        now = time.time()
        self.started_at = now
        self.seq = 0
        self.instances = {}
        for i, s in enumerate(SEEDED_INSTANCES.values()):
            self.instances[s.id] = Instance(
                id=s.id,
                name=s.name,
                wa_number=s.wa_number,
                status=s.status,
                safety_state=s.safety_state,
                safety_score=s.safety_score,
                description=s.description,
                created_at=_SEED_CREATED + 3600 * i,
                updated_at=now,
                warm_at=now + self.config.warmup_delay if s.warms_up else None,
            )
        if self.store is not None:
            self.store.save_instances(self.instances.values())
            self.store.set_meta("quota_used", 0)
            self.store.set_meta("started_at", now)
            self.store.set_meta("seeded", True)

    def _load(self, loaded: dict[str, Any]) -> None:
        meta = loaded["meta"]
        self.quota_used = int(meta.get("quota_used", 0))
        self.started_at = float(meta.get("started_at", time.time()))
        self.instances = {}
        for row in loaded["instances"]:
            inst = Instance(**row)
            self.instances[inst.id] = inst
        for row, numbers in loaded["lookups"]:
            lk = Lookup(numbers=numbers, **row)
            lk.derive()
            self.lookups[lk.id] = lk
        for row in loaded["contacts"]:
            c = Contact(**row)
            self.contacts[c.id] = c
            self.contacts_by_phone[c.phone] = c
        self.seq = max([0, *(lk.seq for lk in self.lookups.values()), *(c.seq for c in self.contacts.values())])

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- request guard --------------------------------------------------------------------------------
    def admit(self, caller: Caller) -> None:
        """Storm, rate limit and quota for an authenticated API request (raises a 429)."""
        remaining = self.faults.storm_remaining()
        if remaining > 0:
            raise SandboxError(
                429,
                "API_RATE_LIMIT_EXCEEDED",
                "Too many requests: more than 10 requests per second on this API key (sandbox fault: storm_429).",
                headers={"Retry-After": str(max(1, math.ceil(remaining)))},
            )
        limit = self.faults.rate_limit
        if limit:
            now = time.monotonic()
            window = self.windows.setdefault(caller.key, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                wait = max(1, math.ceil(window[0] + 1.0 - now))
                raise SandboxError(
                    429,
                    "API_RATE_LIMIT_EXCEEDED",
                    f"Too many requests: more than {limit} requests per second on this API key.",
                    headers={"Retry-After": str(wait)},
                )
            window.append(now)
        quota = self.faults.monthly_quota
        if quota is not None and self.quota_used >= quota:
            raise SandboxError(
                429,
                "MONTHLY_API_REQUEST_QUOTA_EXCEEDED",
                f"The monthly API request quota ({quota} requests) is used up.",
            )
        self.quota_used += 1
        if self.store is not None:
            self.store.set_meta("quota_used", self.quota_used)

    def injected_error(self) -> SandboxError | None:
        if self.faults.error_rate and self.rng.random() < self.faults.error_rate:
            status, code, message = self.rng.choice(_ERROR_FAULTS)
            return SandboxError(status, code, message)
        return None

    def should_drop(self) -> bool:
        return bool(self.faults.drop_rate) and self.rng.random() < self.faults.drop_rate

    def latency(self) -> float:
        f = self.faults
        return f.latency + (self.rng.uniform(0, f.latency_jitter) if f.latency_jitter else 0.0)

    def record(
        self, method: str, path: str, route: str, status: int, key: str | None, started: float, dropped: bool
    ) -> None:
        self.request_counts[(method, route, status)] += 1
        if status == 429:
            self.total_429 += 1
        self.request_log.append(
            {
                "time": iso(started),
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "key": rules.key_fingerprint(key),
                "dropped": dropped,
                "duration_ms": round((time.time() - started) * 1000, 2),
            }
        )

    # -- instances ----------------------------------------------------------------------------------
    def _refresh_instances(self) -> None:
        now = time.time()
        changed = []
        for inst in self.instances.values():
            if inst.warm_at is not None and now >= inst.warm_at:
                if inst.status == "connecting":
                    inst.status = "connected"
                    inst.updated_at = inst.warm_at
                inst.warm_at = None
                changed.append(inst)
        if changed and self.store is not None:
            self.store.save_instances(changed)

    def list_instances(self) -> list[dict[str, Any]]:
        self._refresh_instances()
        return [i.public() for i in self.instances.values()]

    def instance(self, instance_id: str) -> Instance:
        self._refresh_instances()
        inst = self.instances.get(instance_id)
        if inst is None:
            raise SandboxError(404, "NOT_FOUND", f"Instance {instance_id!r} not found.")
        return inst

    def instance_state(self, instance_id: str) -> dict[str, Any]:
        inst = self.instance(instance_id)
        return {"instanceId": inst.id, "status": inst.status, "providerState": PROVIDER_STATES[inst.status]}

    def set_instance_status(self, ref: str, status: str) -> dict[str, Any]:
        if status not in INSTANCE_STATUSES:
            raise validation_error("status", f"must be one of {', '.join(INSTANCE_STATUSES)}")
        self._refresh_instances()
        inst = self.instances.get(ref) or next((i for i in self.instances.values() if i.name == ref), None)
        if inst is None:
            raise SandboxError(404, "NOT_FOUND", f"Instance {ref!r} not found.")
        inst.status = status
        inst.warm_at = None
        inst.updated_at = time.time()
        if self.store is not None:
            self.store.save_instances([inst])
        return inst.public()

    # -- lookups ------------------------------------------------------------------------------------
    def create_lookup(self, instance_id: str, numbers: list[str]) -> tuple[int, dict[str, Any]]:
        inst = self.instance(instance_id)
        if inst.status != "connected":
            raise SandboxError(
                409, "CONFLICT", f"Instance {inst.id} is not connected (status: {inst.status}); connect it first."
            )
        now = time.time()
        mode = "sync" if len(numbers) < rules.ASYNC_THRESHOLD else "async"
        lk = Lookup(
            id=str(uuid.uuid4()),
            seq=self._next_seq(),
            mode=mode,
            instance_id=inst.id,
            numbers=list(numbers),
            status="pending",
            created_at=now,
            updated_at=now,
        )
        lk.derive()
        if mode == "sync":
            lk.checked = len(lk.valid)
            lk.on_count = sum(1 for n in lk.valid if n[-1] in "02468")
            lk.status = "done"
            lk.completed_at = now
        else:
            if self.faults.stall_lookups > 0:
                self.faults.stall_lookups -= 1
                lk.stall_at = min(rules.BATCH_SIZE, max(0, len(lk.valid) - 1))
            elif self.faults.fail_lookups > 0:
                self.faults.fail_lookups -= 1
                lk.fail_at = (len(lk.valid) // 2) // rules.BATCH_SIZE * rules.BATCH_SIZE
        self.lookups[lk.id] = lk
        if self.store is not None:
            self.store.insert_lookup(lk)
        if mode == "sync":
            counts = lk.counts()
            return 200, {
                "mode": "sync",
                "lookupId": lk.id,
                "status": "done",
                "requested": counts["requestedCount"],
                "normalized": counts["normalizedCount"],
                "checked": counts["checkedCount"],
                "onWhatsAppCount": counts["onWhatsAppCount"],
                "notOnWhatsAppCount": counts["notOnWhatsAppCount"],
                "invalidCount": counts["invalidCount"],
                "result": lk.result(),
            }
        answer = {
            "mode": "async",
            "lookupId": lk.id,
            "status": "pending",
            "requested": len(lk.numbers),
            "message": "Lookup in progress. Check status later.",
        }
        if self.faults.batch_interval <= 0:
            self._advance(lk, None)  # pace 0: finished before the answer leaves
        if lk.status in ACTIVE:
            self._spawn(lk)
        return 202, answer

    def _spawn(self, lk: Lookup) -> None:
        task = asyncio.get_running_loop().create_task(self._run(lk), name=f"msgflash-sandbox-lookup-{lk.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, lk: Lookup) -> None:
        """Advance ``lk`` one step per ``pace`` seconds until it is finished, cancelled or stalled."""
        while lk.status in ACTIVE and not self._stalled(lk):
            interval = self.faults.batch_interval
            await asyncio.sleep(interval)
            if self.lookups.get(lk.id) is not lk:
                return  # reset
            self._advance(lk, 1 if interval > 0 else None)

    def _stalled(self, lk: Lookup) -> bool:
        return lk.stall_at is not None and lk.status == "processing" and lk.checked >= lk.stall_at

    def _advance(self, lk: Lookup, steps: int | None) -> None:
        """One step (pending → processing, then one batch of 20 per step); ``None``: as many as it takes."""
        if lk.status not in ACTIVE:
            return
        budget = steps if steps is not None else 1 + len(lk.valid) // rules.BATCH_SIZE + 2
        now = time.time()
        while budget > 0 and lk.status in ACTIVE:
            budget -= 1
            if lk.status == "pending":
                lk.status = "processing"
                continue
            if self._stalled(lk):
                break
            if lk.fail_at is not None and lk.checked >= lk.fail_at:
                lk.status = "failed"
                lk.error = (
                    f"The WhatsApp provider stopped answering after {lk.checked} of {len(lk.valid)} numbers "
                    "(sandbox fault: fail_lookups)."
                )
                lk.completed_at = now
                break
            batch = lk.valid[lk.checked : lk.checked + rules.BATCH_SIZE]
            lk.on_count += sum(1 for n in batch if n[-1] in "02468")
            lk.checked += len(batch)
            if lk.checked >= len(lk.valid):
                lk.status = "done"
                lk.completed_at = now
        lk.updated_at = now
        if self.store is not None:
            self.store.save_lookup(lk)

    def lookup(self, lookup_id: str) -> Lookup:
        lk = self.lookups.get(lookup_id)
        if lk is None:
            raise SandboxError(404, "LOOKUP_NOT_FOUND", f"Number lookup {lookup_id!r} not found.")
        return lk

    def list_lookups(self, limit: int, cursor: str | None) -> dict[str, Any]:
        after = _decode_cursor("lookups", cursor) if cursor else None
        page, nxt = _page(self.lookups.values(), lambda lk: ("", lk.seq), True, after, limit)
        return {
            "lookups": [lk.list_view() for lk in page],
            "nextCursor": _encode_cursor("lookups", nxt) if nxt else None,
            "hasMore": nxt is not None,
        }

    def cancel_lookup(self, lookup_id: str) -> dict[str, Any]:
        lk = self.lookup(lookup_id)
        if lk.status not in ACTIVE:
            raise SandboxError(
                400,
                "LOOKUP_CANNOT_BE_CANCELLED",
                f"Number lookup {lk.id} is already {lk.status}; it cannot be cancelled.",
            )
        now = time.time()
        lk.status = "cancelled"
        lk.completed_at = now
        lk.updated_at = now
        if self.store is not None:
            self.store.save_lookup(lk)
        return {"id": lk.id, "status": "cancelled", "completedAt": iso(now)}

    def import_contacts(self, lookup_id: str, tag: str) -> dict[str, Any]:
        lk = self.lookup(lookup_id)
        if lk.status != "done":
            raise SandboxError(
                409,
                "CONFLICT",
                f"Number lookup {lk.id} is {lk.status}; contacts can be imported only from a done lookup "
                + ("(wait until it is done)." if lk.status in ACTIVE else "(it will never be done)."),
            )
        now = time.time()
        imported = existing = 0
        changed: list[Contact] = []
        on = lk.result()["onWhatsApp"]
        for phone in on:
            c = self.contacts_by_phone.get(phone)
            if c is None:
                c = Contact(str(uuid.uuid4()), self._next_seq(), phone, phone, [tag], None, now, now)
                self.contacts[c.id] = c
                self.contacts_by_phone[phone] = c
                imported += 1
                changed.append(c)
            else:
                existing += 1
                if tag not in c.tags:
                    c.tags.append(tag)
                    c.updated_at = now
                    changed.append(c)
        if self.store is not None and changed:
            self.store.save_contacts(changed)
        return {
            "lookupId": lk.id,
            "tag": tag,
            "imported": imported,
            "alreadyExisting": existing,
            "skipped": len(lk.numbers) - len(on),
        }

    # -- contacts -----------------------------------------------------------------------------------
    def list_contacts(self, limit: int, cursor: str | None, search: str | None, sort: str) -> dict[str, Any]:
        key, desc = CONTACT_SORTS[sort]
        items: Iterable[Contact] = self.contacts.values()
        if search:
            needle = search.lower()
            items = [
                c
                for c in items
                if needle in c.name.lower() or needle in c.phone or any(needle in t.lower() for t in c.tags)
            ]
        items = list(items)
        after = _decode_cursor("contacts" + sort, cursor) if cursor else None
        page, nxt = _page(items, key, desc, after, limit)
        return {
            "contacts": [c.public() for c in page],
            "total": len(items),
            "limit": limit,
            "sort": sort,
            "nextCursor": _encode_cursor("contacts" + sort, nxt) if nxt else None,
            "hasMore": nxt is not None,
        }

    def contact(self, contact_id: str) -> dict[str, Any]:
        c = self.contacts.get(contact_id)
        if c is None:
            raise SandboxError(404, "NOT_FOUND", f"Contact {contact_id!r} not found.")
        return c.public()

    def create_contact(self, name: str, phone: str, tags: list[str] | None, meta: Any) -> dict[str, Any]:
        if phone in self.contacts_by_phone:
            raise SandboxError(409, "CONFLICT", f"A contact with phone {phone} already exists.")
        now = time.time()
        c = Contact(str(uuid.uuid4()), self._next_seq(), name, phone, list(dict.fromkeys(tags or [])), meta, now, now)
        self.contacts[c.id] = c
        self.contacts_by_phone[phone] = c
        if self.store is not None:
            self.store.save_contacts([c])
        return c.public()

    # -- account and summary --------------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return {
            "id": SANDBOX_ACCOUNT_ID,
            "name": "MsgFlash sandbox",
            "email": "sandbox@localhost",
            "plan": "sandbox",
            "monthlyRequestQuota": self.faults.monthly_quota,
            "monthlyRequestsUsed": self.quota_used,
        }

    def summary(self) -> dict[str, Any]:
        self._refresh_instances()
        return {
            "instances": [{**i.public(), "safetyScore": i.safety_score} for i in self.instances.values()],
            "lookups": [lk.list_view() for lk in sorted(self.lookups.values(), key=lambda x: x.seq)],
            "contacts": len(self.contacts),
            "request_counts": [
                {"method": m, "route": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self.request_counts.items())
            ],
            "requests_total": sum(self.request_counts.values()),
            "total_429": self.total_429,
            "quota_used": self.quota_used,
            "monthly_quota": self.faults.monthly_quota,
            "faults": self.faults.to_dict(),
            "keys": self.keys.summary(),
            "state_file": self.config.state_file,
            "started_at": iso(self.started_at),
        }

    def contacts_dump(self) -> list[dict[str, Any]]:
        return [c.public() for c in sorted(self.contacts.values(), key=lambda c: c.seq)]

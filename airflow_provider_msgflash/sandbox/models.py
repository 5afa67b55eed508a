"""The objects the sandbox keeps (instances, number lookups, contacts) and their views: the plain
dicts the API answers with, in the canonical shape (the documented one, and for what the docs do not show,
the shape ``docs/api-assumptions.md`` assumes; ``schemas.py`` checks them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.seeds import SeededInstance

INSTANCE_STATUSES = ("disconnected", "connecting", "connected")
PROVIDER_STATES = {"connected": "open", "connecting": "connecting", "disconnected": "close"}
SAFETY_STATES = ("healthy", "warning", "at_risk")
ACTIVE = frozenset({"pending", "processing"})
TERMINAL = frozenset({"done", "failed", "cancelled"})

#: Health recommendations by safety state: ``(code, message)``. The canonical answer lists the
#: messages; the ``health-objects`` dialect answers ``{"code", "message"}`` objects.
RECOMMENDATIONS: dict[str, list[tuple[str, str]]] = {
    "healthy": [("STEADY_PACE", "Keep a steady sending pace; the number is well established.")],
    "warning": [
        ("RAMP_UP_SLOWLY", "Ramp up slowly: stay under the daily limit of the warm-up policy."),
        ("PREFER_KNOWN_CONTACTS", "Prefer contacts who have written to this number before."),
    ],
    "at_risk": [
        ("PAUSE_BULK_SENDS", "Pause bulk sends on this number until its safety score recovers."),
        ("REDUCE_VOLUME", "Reduce volume and avoid sending to unverified numbers."),
        ("CHECK_BLOCKS", "Check recent blocks and reports in the dashboard."),
    ],
}
RECOMMENDATION_CODES = {message: code for pairs in RECOMMENDATIONS.values() for code, message in pairs}


def split_error(text: str) -> tuple[str, str]:
    """``(code, message)`` of a lookup's canonical ``error``, ``"CODE: message"``."""
    code, _, message = text.partition(": ")
    return code, message


def iso(t: float | None) -> str | None:
    """``2026-04-01T09:00:00.000Z`` (UTC, milliseconds), as the API writes times."""
    if t is None:
        return None
    dt = datetime.fromtimestamp(t, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Instance:
    """A seeded instance (``seed``: its fixed id, name, number and description) and what can change."""

    seed: SeededInstance
    status: str
    safety_state: str
    safety_score: int
    created_at: float
    updated_at: float
    warm_at: float | None = None

    @property
    def id(self) -> str:
        return self.seed.id

    def public(self) -> dict[str, Any]:
        return {
            "id": self.seed.id,
            "name": self.seed.name,
            "waNumber": self.seed.wa_number,
            "status": self.status,
            "webhook": None,
            "meta": {"sandbox": self.seed.description},
            "deletedAt": None,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }

    def state(self) -> dict[str, Any]:
        return {"instanceId": self.id, "status": self.status, "providerState": PROVIDER_STATES[self.status]}

    def health(self) -> dict[str, Any]:
        healthy = self.safety_state == "healthy"
        warming = self.warm_at is not None or not healthy
        return {
            "instanceId": self.id,
            "safetyState": self.safety_state,
            "safetyScore": self.safety_score,
            "warmupPolicy": {
                "version": "v1",
                "phase": "warming" if warming else "established",
                "dailyLimit": 1000 if healthy else 200 if warming else 50,
                "minDelaySeconds": 2 if healthy else 10,
            },
            "usageWindowSummary": {"windowHours": 24, "sent": 0, "delivered": 0, "failed": 0, "blocked": 0},
            "recommendations": [message for _, message in RECOMMENDATIONS[self.safety_state]],
        }


@dataclass
class Lookup:
    """A number lookup. ``origin``: ``api`` (created through ``POST /api/v1/number-lookups``) or ``other``
    (another client of the account: ``busy_account``, ``POST /_sandbox/lookups``). ``error`` is
    ``"CODE: message"`` once failed. The planned faults: ``fail_at`` (fail once that many are checked,
    with ``fail_error``, or disconnecting ``fail_instance``), ``stall_at`` (stand still once that many are
    checked, for ``stall_for`` seconds, 0: forever; ``resume_at``: loop time it resumes)."""

    id: str
    seq: int
    mode: str
    instance_id: str
    numbers: list[str]
    status: str
    created_at: float
    updated_at: float
    origin: str = "api"
    completed_at: float | None = None
    checked: int = 0
    on_count: int = 0
    error: str | None = None
    fail_at: int | None = None
    fail_error: str | None = None
    fail_instance: Instance | None = field(default=None, repr=False)
    stall_at: int | None = None
    stall_for: float = 0.0
    resume_at: float | None = None
    valid: list[str] = field(default_factory=list, repr=False)
    invalid: list[str] = field(default_factory=list, repr=False)
    on_flags: list[bool] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.valid, self.invalid = rules.split_numbers(self.numbers)
        self.on_flags = [rules.e164_on_whatsapp(n) for n in self.valid]

    def check_next(self, n: int) -> None:
        """Check the next ``n`` valid numbers (one provider batch, or all of them)."""
        end = min(len(self.valid), self.checked + n)
        self.on_count += sum(self.on_flags[self.checked : end])
        self.checked = end

    @property
    def stalled(self) -> bool:
        return self.stall_at is not None and self.status == "processing" and self.checked >= self.stall_at

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

    def result(self) -> dict[str, list[str]]:
        on = [n for n, is_on in zip(self.valid, self.on_flags, strict=True) if is_on]
        off = [n for n, is_on in zip(self.valid, self.on_flags, strict=True) if not is_on]
        return {"onWhatsApp": on, "notOnWhatsApp": off, "invalid": list(self.invalid)}

    def progress_view(self) -> dict[str, Any]:
        """``GET /number-lookups/{id}/progress`` (documented)."""
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
        """An item of ``GET /number-lookups`` (assumed): the progress fields, ``mode`` and ``instanceId``."""
        return {**self.progress_view(), "mode": self.mode, "instanceId": self.instance_id}

    def detail_view(self) -> dict[str, Any]:
        """``GET /number-lookups/{id}`` (assumed): a list item and, once done, ``result``."""
        view = self.list_view()
        if self.status == "done":
            view["result"] = self.result()
        return view

    def sync_answer(self) -> dict[str, Any]:
        """The documented ``200`` answer to a create of fewer than 100 numbers."""
        counts = self.counts()
        return {
            "mode": "sync",
            "lookupId": self.id,
            "status": "done",
            "requested": counts["requestedCount"],
            "normalized": counts["normalizedCount"],
            "checked": counts["checkedCount"],
            "onWhatsAppCount": counts["onWhatsAppCount"],
            "notOnWhatsAppCount": counts["notOnWhatsAppCount"],
            "invalidCount": counts["invalidCount"],
            "result": self.result(),
        }

    def async_answer(self) -> dict[str, Any]:
        """The documented ``202`` answer to a create of 100 numbers or more."""
        return {
            "mode": "async",
            "lookupId": self.id,
            "status": "pending",
            "requested": len(self.numbers),
            "message": "Lookup in progress. Check status later.",
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

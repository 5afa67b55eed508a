"""The account's WhatsApp instances: seeded at start and reset, warming up on a timer, and changed by
the admin API (status flips, health)."""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.errors import not_found, validation_error
from airflow_provider_msgflash.sandbox.models import INSTANCE_STATUSES, Instance
from airflow_provider_msgflash.sandbox.seeds import SEED_CREATED, SEEDED_INSTANCES


class InstanceRegistry:
    def __init__(self, warmup_delay: float) -> None:
        now = time.time()
        self.by_id: dict[str, Instance] = {
            s.id: Instance(
                seed=s,
                status=s.status,
                safety_state=s.safety_state,
                safety_score=s.safety_score,
                created_at=SEED_CREATED + 3600 * i,
                updated_at=now,
                warm_at=now + warmup_delay if s.warms_up else None,
            )
            for i, s in enumerate(SEEDED_INSTANCES.values())
        }

    def _refresh(self) -> None:
        """Turn warming instances connected once their time has come."""
        now = time.time()
        for inst in self.by_id.values():
            if inst.warm_at is not None and now >= inst.warm_at:
                if inst.status == "connecting":
                    inst.status = "connected"
                    inst.updated_at = inst.warm_at
                inst.warm_at = None

    def all(self) -> list[Instance]:
        self._refresh()
        return list(self.by_id.values())

    def get(self, instance_id: str) -> Instance:
        """By id (the API's way); ``404 NOT_FOUND`` otherwise."""
        self._refresh()
        inst = self.by_id.get(instance_id)
        if inst is None:
            raise not_found("Instance", instance_id)
        return inst

    def find(self, ref: str) -> Instance:
        """By id or name (the admin API's way)."""
        self._refresh()
        inst = self.by_id.get(ref) or next((i for i in self.by_id.values() if i.seed.name == ref), None)
        if inst is None:
            raise not_found("Instance", ref)
        return inst

    def set_status(self, ref: str, status: str) -> dict[str, Any]:
        if status not in INSTANCE_STATUSES:
            raise validation_error("status", f"must be one of {', '.join(INSTANCE_STATUSES)}")
        inst = self.find(ref)
        inst.status = status
        inst.warm_at = None
        inst.updated_at = time.time()
        return inst.public()

    def set_health(self, ref: str, score: int, state: str | None = None) -> dict[str, Any]:
        """Set ``safetyScore`` (0-100) and ``safetyState`` (given, or derived from the score)."""
        inst = self.find(ref)
        inst.safety_score = score
        inst.safety_state = state or rules.safety_state_for(score)
        inst.updated_at = time.time()
        return inst.health()

    def summary(self) -> list[dict[str, Any]]:
        return [{**i.public(), "safetyScore": i.safety_score} for i in self.all()]

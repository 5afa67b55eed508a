"""What every fresh (or reset) sandbox holds: the demo keys, the account and the seeded instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

#: The sandbox's default personal key (``msgf_live_`` + 64 hex). A demo value: never a real key.
SANDBOX_API_KEY = "msgf_live_" + "5a" * 32
#: The sandbox's default team key; send it with ``X-Team-Id: SANDBOX_TEAM_ID``.
SANDBOX_TEAM_KEY = "msgf_team_sandbox0000000000000000"
SANDBOX_TEAM_ID = "7e4d1c2a-0000-4000-8000-000000000001"
#: The id of the sandbox's single account (``GET /api/v1/me``).
SANDBOX_ACCOUNT_ID = "5a0d0000-0000-4000-8000-0000000000aa"

#: ``createdAt`` of the first seeded instance; the others follow an hour apart.
SEED_CREATED = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc).timestamp()


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

"""The keys the sandbox accepts (personal and team keys, revocation) and who a request comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.config import SandboxConfig
from airflow_provider_msgflash.sandbox.errors import SandboxError, validation_error


@dataclass
class Caller:
    """Who sent a request that passed authentication."""

    key: str
    kind: str  # "personal" | "team"
    team_id: str | None = None


def _unauthorized(message: str) -> SandboxError:
    return SandboxError(401, "UNAUTHORIZED", message)


class KeyRing:
    """The accepted and revoked keys (from the configuration; changed by ``add_key`` / ``revoke_key``)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.personal: set[str] = set(config.api_keys)
        self.team: dict[str, str] = dict.fromkeys(config.team_keys, config.team_id)
        self.revoked: set[str] = set()

    def add(self, key: str, team_id: str | None = None) -> str:
        if rules.is_team_key(key):
            if team_id is None or not rules.is_uuid(team_id):
                raise validation_error("team_id", "a team key needs the UUID of its team")
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
        """The caller behind ``x-api-key`` (and ``X-Team-Id``); raises 401 or 403 ``TEAM_KEY_REQUIRED``."""
        if not key:
            if authorization:
                raise _unauthorized(
                    "Missing API key. MsgFlash does not accept 'Authorization: Bearer ...': send the key in the "
                    "x-api-key header."
                )
            raise _unauthorized("Missing API key: send it in the x-api-key header.")
        if key in self.revoked:
            raise _unauthorized("This API key has been revoked.")
        if key in self.team:
            if not team_header:
                raise _unauthorized("Team keys must be sent with the X-Team-Id header.")
            if team_header != self.team[key]:
                raise _unauthorized("Invalid API key or team id.")
            return Caller(key, "team", team_header)
        if not rules.is_personal_key(key) and not rules.is_team_key(key):
            raise _unauthorized(
                "Malformed API key: expected 'msgf_live_' followed by 64 lowercase hex characters, or a team key."
            )
        if key not in self.personal:
            raise _unauthorized("Invalid API key.")
        if team_header is not None:
            raise SandboxError(
                403, "TEAM_KEY_REQUIRED", "X-Team-Id was sent with a personal key; it needs a team key (msgf_team_...)."
            )
        return Caller(key, "personal")

    def summary(self) -> dict[str, Any]:
        """Fingerprints only, never a key."""
        return {
            "personal": sorted(rules.key_fingerprint(k) or "" for k in self.personal),
            "team": sorted(rules.key_fingerprint(k) or "" for k in self.team),
            "revoked": sorted(rules.key_fingerprint(k) or "" for k in self.revoked),
        }

"""Configuration and fault switches: defaults, seeds, checks with errors naming the setting."""

from __future__ import annotations

import re

import pytest

from airflow_provider_msgflash.sandbox import (
    FAULT_FIELDS,
    SANDBOX_API_KEY,
    SANDBOX_TEAM_ID,
    SANDBOX_TEAM_KEY,
    SEEDED_INSTANCES,
    SandboxAdminError,
    SandboxConfig,
    SandboxHandle,
    key_fingerprint,
    running_sandbox,
)


def test_defaults_and_seeds() -> None:
    assert SANDBOX_API_KEY == "msgf_live_" + "5a" * 32
    assert SANDBOX_TEAM_KEY == "msgf_team_sandbox0000000000000000"
    assert SANDBOX_TEAM_ID == "7e4d1c2a-0000-4000-8000-000000000001"
    assert set(SEEDED_INSTANCES) == {
        "sandbox-connected",
        "sandbox-connecting",
        "sandbox-disconnected",
        "sandbox-unhealthy",
        "sandbox-warming",
    }
    assert len({s.id for s in SEEDED_INSTANCES.values()}) == 5
    assert len({s.wa_number for s in SEEDED_INSTANCES.values()}) == 5
    cfg = SandboxConfig()
    assert (cfg.host, cfg.port, cfg.pace, cfg.rate_limit, cfg.monthly_quota, cfg.warmup_delay) == (
        "127.0.0.1",
        0,
        "fast",
        10,
        None,
        3.0,
    )
    assert key_fingerprint(SANDBOX_API_KEY) == key_fingerprint(SANDBOX_API_KEY)
    assert SANDBOX_API_KEY[10:] not in (key_fingerprint(SANDBOX_API_KEY) or "")


@pytest.mark.parametrize(
    "changes",
    [
        {"host": "0.0.0.0"},
        {"port": 70000},
        {"api_keys": ["msgf_live_short"]},
        {"api_keys": []},
        {"team_keys": ["team"]},
        {"team_id": "not-a-uuid"},
        {"pace": "warp"},
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"rate_limit": -1},
        {"monthly_quota": "many"},
        {"latency": 1000},
        {"fail_lookups": 1.5},
    ],
)
def test_bad_config_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SandboxConfig().replace(**changes)


def test_unknown_config_name_is_type_error() -> None:
    with pytest.raises(TypeError, match="unknown sandbox setting"):
        SandboxConfig().replace(colour="blue")


def test_pace_presets_and_numbers(sb: SandboxHandle) -> None:
    assert sb.set_faults(pace="realistic")["batch_interval"] == 1.0
    assert sb.set_faults(pace="fast")["batch_interval"] == 0.02
    assert sb.set_faults(pace=0.5)["batch_interval"] == 0.5
    assert sb.set_faults(pace="0.25")["batch_interval"] == 0.25
    with pytest.raises(SandboxAdminError):
        sb.set_faults(pace="warp")
    with pytest.raises(SandboxAdminError):
        sb.set_faults(error_rate=2)
    with pytest.raises(TypeError):
        sb.set_faults(nonsense=1)
    assert set(sb.faults()) >= set(FAULT_FIELDS)


@pytest.mark.parametrize(
    ("name", "bad", "says"),
    [
        ("gateway_after_create", -1, "gateway_after_create must be a whole number of at least 0"),
        ("gateway_after_create", 1.5, "gateway_after_create must be a whole number"),
        ("gateway_status", 500, "gateway_status must be 502, 503, 504 or null"),
        ("gateway_status", "502", "gateway_status must be 502, 503, 504 or null"),
        ("outage", -1, "outage must be a number of seconds from 0 to 3600"),
        ("outage", "long", "outage must be a number of seconds"),
        ("unavailable_routes", ["list_lookups"], "unavailable_routes: unknown route 'list_lookups'"),
        ("unavailable_routes", "DELETE /api/v1/instances", "unavailable_routes: unknown route"),
        ("unavailable_routes", [5], "unavailable_routes must be a list of route labels"),
        ("gateway_429", 4000, "gateway_429 must be a number of seconds from 0 to 3600"),
        ("gateway_429_retry_after", "yes", "gateway_429_retry_after must be true or false"),
        ("busy_account", 1001, "busy_account must be a whole number of at least 0 and at most 1000"),
        ("stall_seconds", -0.5, "stall_seconds must be a number of seconds from 0 to 3600"),
        ("fail_error", "blocked", "fail_error must be 'CODE: message'"),
        ("disconnect_during_lookup", True, "disconnect_during_lookup must be a whole number"),
    ],
)
def test_each_new_switch_is_checked_with_an_error_naming_it(
    sb: SandboxHandle, name: str, bad: object, says: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        SandboxConfig().replace(**{name: bad})
    with pytest.raises(SandboxAdminError) as info:
        sb.set_faults(**{name: bad})
    assert info.value.status == 400 and says in str(info.value)
    assert info.value.code == "VALIDATION_ERROR"
    before = sb.faults()
    with pytest.raises(SandboxAdminError):
        sb.set_faults(error_rate=0.5, **{name: bad})  # all or nothing
    assert sb.faults()["error_rate"] == before["error_rate"] == 0


def test_every_switch_is_visible_settable_at_start_and_reset() -> None:
    new = {
        "gateway_after_create": 2,
        "gateway_status": 503,
        "outage": 0.0,
        "unavailable_routes": ["GET /api/v1/contacts"],
        "gateway_429": 0.0,
        "gateway_429_retry_after": True,
        "busy_account": 3,
        "stall_seconds": 1.5,
        "fail_error": "ACCOUNT_BLOCKED: blocked",
        "disconnect_during_lookup": 1,
    }
    assert set(new) <= set(FAULT_FIELDS)
    with running_sandbox(rate_limit=0, **new) as sb:
        assert {n: sb.faults()[n] for n in new} == new
        sb.set_faults(gateway_after_create=0, unavailable_routes="", fail_error=None, gateway_status=None)
        changed = sb.faults()
        assert (changed["gateway_after_create"], changed["unavailable_routes"], changed["fail_error"]) == (0, [], None)
        sb.reset()  # keeps the switches as they are
        assert sb.faults()["gateway_after_create"] == 0
        sb.reset(faults=True)  # back to the starting ones
        assert {n: sb.faults()[n] for n in new} == new
        assert sb.admin("GET", "config")["unavailable_routes"] == ["GET /api/v1/contacts"]


def test_unavailable_routes_are_read_from_a_string_and_normalised() -> None:
    cfg = SandboxConfig(unavailable_routes="get /api/v1/number-lookups, /api/v1/me,,GET /api/v1/number-lookups")
    assert cfg.unavailable_routes == ("GET /api/v1/number-lookups", "/api/v1/me")

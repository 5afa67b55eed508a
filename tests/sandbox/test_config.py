"""Configuration and fault switches: defaults, seeds, checks with errors naming the setting."""

from __future__ import annotations

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

"""The sandbox's deterministic rules (normalisation, on-WhatsApp, pace) and its configuration checks."""

from __future__ import annotations

import json

import pytest

from airflow_provider_msgflash.sandbox import (
    SANDBOX_API_KEY,
    SANDBOX_TEAM_ID,
    SANDBOX_TEAM_KEY,
    SEEDED_INSTANCES,
    SandboxConfig,
    SandboxHandle,
    is_on_whatsapp,
    key_fingerprint,
    normalize_number,
    split_numbers,
)
from airflow_provider_msgflash.sandbox.rules import check_host, is_valid_tag, parse_pace


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+41791234567", "+41791234567"),
        ("+41 79 123 45 67", "+41791234567"),
        ("0041 79 123-45.67", "+41791234567"),
        ("(+41) 79 123 45 67", "+41791234567"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("\t+41791234567\n", "+41791234567"),
        ("+12345678", "+12345678"),  # 8 digits: the shortest valid
        ("+123456789012345", "+123456789012345"),  # 15 digits: the longest valid
        ("+1234567", None),  # 7 digits
        ("+1234567890123456", None),  # 16 digits
        ("+0123456789", None),  # first digit 0
        ("079 123 45 67", None),  # no country code
        ("41791234567", None),  # no +
        ("+41 79 abc", None),
        ("++41791234567", None),
        ("", None),
        ("000041791234567", None),
    ],
)
def test_normalize(raw: str, e164: str | None) -> None:
    assert normalize_number(raw) == e164


def test_on_whatsapp_rule_is_last_digit_even() -> None:
    assert [is_on_whatsapp(f"+4179123456{d}") for d in range(10)] == [d % 2 == 0 for d in range(10)]
    assert is_on_whatsapp("0041 79 123 45 60") is True
    assert is_on_whatsapp("079 123 45 60") is False  # invalid: never on WhatsApp
    assert is_on_whatsapp("not a number 2") is False


def test_split_keeps_order_duplicates_and_invalid_inputs() -> None:
    normalized, invalid = split_numbers(["+41791234567", "x", "0041791234567", "", "+41791234567"])
    assert normalized == ["+41791234567"] * 3
    assert invalid == ["x", ""]


def test_pace_and_tags_and_hosts() -> None:
    assert (parse_pace("fast"), parse_pace("realistic"), parse_pace("instant")) == (0.02, 1.0, 0.0)
    assert parse_pace(0.5) == parse_pace("0.5") == 0.5
    for bad in ("warp", -1, float("nan"), True, 10_000):
        with pytest.raises(ValueError):
            parse_pace(bad)
    assert is_valid_tag("verified-whatsapp") and is_valid_tag("a.b:c_d-1") and is_valid_tag("x" * 64)
    assert not any(is_valid_tag(t) for t in ("", "x" * 65, "has space", "é", None, 5))
    assert check_host("localhost") == "127.0.0.1" and check_host("::1") == "::1" and check_host("[::1]") == "::1"
    for bad in ("0.0.0.0", "192.168.1.2", "example.com", "::"):
        with pytest.raises(ValueError, match="loopback"):
            check_host(bad)


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


def test_connection_json_and_uri() -> None:
    sb = SandboxHandle("http://127.0.0.1:8765", SandboxConfig())
    personal = json.loads(sb.connection_json())
    assert personal == {
        "conn_type": "msgflash",
        "host": "http://127.0.0.1:8765",
        "password": SANDBOX_API_KEY,
        "extra": {},
    }
    team = json.loads(sb.connection_json(team=True))
    assert team["password"] == SANDBOX_TEAM_KEY and team["extra"] == {"team_id": SANDBOX_TEAM_ID}
    assert sb.connection_uri() == f"msgflash://:{SANDBOX_API_KEY}@127.0.0.1:8765"
    assert sb.connection_uri(team=True) == f"msgflash://:{SANDBOX_TEAM_KEY}@127.0.0.1:8765?team_id={SANDBOX_TEAM_ID}"
    assert sb.instance_id("sandbox-connected") == SEEDED_INSTANCES["sandbox-connected"].id
    assert sb.instance_id(SEEDED_INSTANCES["sandbox-warming"].id) == SEEDED_INSTANCES["sandbox-warming"].id
    with pytest.raises(KeyError):
        sb.instance_id("nope")
    assert sb.headers(team=True) == {"x-api-key": SANDBOX_TEAM_KEY, "X-Team-Id": SANDBOX_TEAM_ID}

"""The sandbox's deterministic rules: normalisation, the on-WhatsApp rule, pace presets, tags, hosts."""

from __future__ import annotations

import pytest

from airflow_provider_msgflash.sandbox import (
    SEEDED_INSTANCES,
    is_on_whatsapp,
    normalize_number,
    split_numbers,
)
from airflow_provider_msgflash.sandbox.rules import check_host, is_valid_tag, parse_pace, safety_state_for


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


def test_safety_state_for_score() -> None:
    assert [safety_state_for(s) for s in (100, 80, 79, 50, 49, 0)] == [
        "healthy",
        "healthy",
        "warning",
        "warning",
        "at_risk",
        "at_risk",
    ]
    assert all(safety_state_for(s.safety_score) == s.safety_state for s in SEEDED_INSTANCES.values())

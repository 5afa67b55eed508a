"""What the API layer knows about number lookups beyond single routes: timestamps, the requested count
in both of its names, finding "the lookup we already submitted" in the list, and checking a lookup
request before it is sent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_msgflash.api.defaults import ASYNC_LOOKUP_THRESHOLD, MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.exceptions import MsgFlashConfigError


def parse_time(value: Any) -> datetime | None:
    """Parse the API's ISO-8601 timestamps (``2026-04-01T09:00:00.000Z``); None when absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def lookup_requested(item: Mapping[str, Any]) -> int | None:
    """The requested count of a lookup in any of its shapes (``requested`` or ``requestedCount``)."""
    for k in ("requestedCount", "requested"):
        v = item.get(k)
        if isinstance(v, int):
            return v
    return None


def matching_lookups(
    lookups: Iterable[Mapping[str, Any]],
    *,
    instance_id: str,
    requested: int,
    created_after: datetime | None,
    clock_skew: timedelta = timedelta(seconds=60),
) -> list[Mapping[str, Any]]:
    """Lookups (newest first, as listed) that could be the one we submitted: same instance, same
    number of requested numbers, created after ``created_after`` (minus a clock-skew allowance)."""
    found = []
    for item in lookups:
        if item.get("instanceId") != instance_id or lookup_requested(item) != requested:
            continue
        created = parse_time(item.get("createdAt"))
        if created_after is not None and created is not None and created < created_after - clock_skew:
            continue
        if item.get("status") == "cancelled":
            continue
        found.append(item)
    return found


def check_lookup_request(instance_id: Any, numbers: Any) -> None:
    """Refuse, before sending, a lookup body the API would refuse; the message names the field."""
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise MsgFlashConfigError(
            f"`instance_id` must be a non-empty string (the instance's id from list_instances), got {instance_id!r}.",
            code="BAD_ARGUMENT",
        )
    if not isinstance(numbers, list | tuple) or not numbers:
        raise MsgFlashConfigError(
            "`numbers` must be a non-empty list of phone numbers in international format "
            f"(e.g. '+41791234567'), got {type(numbers).__name__} {str(numbers)[:60]!r}.",
            code="BAD_ARGUMENT",
        )
    if len(numbers) > MAX_NUMBERS_PER_LOOKUP:
        raise MsgFlashConfigError(
            f"`numbers` has {len(numbers)} entries; one lookup takes at most {MAX_NUMBERS_PER_LOOKUP}. "
            "Split the list (the lookup operator does this for you).",
            code="BAD_ARGUMENT",
        )
    bad = [i for i, n in enumerate(numbers) if not isinstance(n, str)]
    if bad:
        first = bad[0]
        raise MsgFlashConfigError(
            f"`numbers` must hold strings; {len(bad)} entr{'y is' if len(bad) == 1 else 'ies are'} not "
            f"(first at index {first}: {numbers[first]!r} of type {type(numbers[first]).__name__}). "
            "Quote phone numbers as strings, e.g. '+41791234567'.",
            code="BAD_ARGUMENT",
        )


def iter_result(result: Any) -> Iterator[tuple[str, list[str]]]:
    """``(status, numbers)`` pairs from a finished lookup's ``result`` object, status being
    ``on_whatsapp``, ``not_on_whatsapp`` or ``invalid``."""
    if not isinstance(result, dict):
        return
    for key, status in (
        ("onWhatsApp", "on_whatsapp"),
        ("notOnWhatsApp", "not_on_whatsapp"),
        ("invalid", "invalid"),
    ):
        items = result.get(key)
        if isinstance(items, list):
            yield status, [str(x) for x in items]


def _digits(number: str) -> str:
    d = "".join(ch for ch in number if ch.isdigit())
    return d[2:] if d.startswith("00") else d


def same_numbers(result: Any, numbers: list[str]) -> bool:
    """Whether a finished lookup's result holds the same numbers as ``numbers`` (compared by digits)."""
    seen = sorted(_digits(n) for _, nums in iter_result(result) for n in nums)
    return seen == sorted(_digits(n) for n in numbers)


def recovered_submission(item: Mapping[str, Any]) -> dict[str, Any]:
    """A create-style answer built from a listed lookup (found after a lost create answer, or reused
    on a retry), marked ``recovered: True``."""
    requested = lookup_requested(item)
    return {
        "mode": item.get("mode") or ("sync" if (requested or 0) < ASYNC_LOOKUP_THRESHOLD else "async"),
        "lookupId": item.get("id"),
        "status": item.get("status"),
        "requested": requested,
        "recovered": True,
    }

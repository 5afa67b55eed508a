"""What the API layer knows about number lookups beyond single routes: timestamps, the fields of a lookup
in all their names, telling "the lookup we already submitted" apart in the (undocumented) list, reading
a finished lookup's result, and checking a lookup request before it is sent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_msgflash.api.defaults import ASYNC_LOOKUP_THRESHOLD, MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.api.shapes import UNEXPECTED_SHAPE, first_int, note_shape, result_number
from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashFinalError

#: A lookup's counts (the summary's names) and the names each has in the API's answers (``requested`` on
#: create, ``requestedCount`` on progress and get).
LOOKUP_COUNT_NAMES: dict[str, tuple[str, ...]] = {
    "requested": ("requestedCount", "requested"),
    "normalized": ("normalizedCount", "normalized"),
    "checked": ("checkedCount", "checked"),
    "on_whatsapp": ("onWhatsAppCount",),
    "not_on_whatsapp": ("notOnWhatsAppCount",),
    "invalid": ("invalidCount",),
}
#: The groups of a finished lookup's ``result`` and the status each stands for.
RESULT_GROUPS = (("onWhatsApp", "on_whatsapp"), ("notOnWhatsApp", "not_on_whatsapp"), ("invalid", "invalid"))
#: How far apart our clock and the server's may be without a word (a ``createdAt`` this much earlier
#: than the moment we sent counts as ours).
CLOCK_ALLOWANCE = timedelta(seconds=60)
#: How far the server's clock may plausibly be behind ours: a lookup created up to this much before the
#: window may be ours (server clock behind) or an older one, and is checked further.
MAX_CLOCK_SKEW = timedelta(minutes=15)


def parse_time(value: Any) -> datetime | None:
    """The API's timestamps: ISO-8601 (``2026-04-01T09:00:00.000Z``; no zone = UTC) or epoch seconds or
    milliseconds; None when absent or unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        seconds = value / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def lookup_requested(item: Mapping[str, Any]) -> int | None:
    """The requested count of a lookup in any of its shapes (``requested`` or ``requestedCount``)."""
    return first_int(item, LOOKUP_COUNT_NAMES["requested"])


def lookup_id_of(item: Mapping[str, Any]) -> str | None:
    """A listed lookup's id (``id``, or ``lookupId`` as in the create answer)."""
    value = next((item.get(k) for k in ("id", "lookupId") if isinstance(item.get(k), str) and item.get(k)), None)
    return str(value) if value is not None else None


def lookup_counts(data: Mapping[str, Any]) -> dict[str, int | None]:
    """A lookup answer's counts under the summary's names; a count the answer does not give is None."""
    return {key: first_int(data, names) for key, names in LOOKUP_COUNT_NAMES.items()}


# -- "the lookup we already submitted" ----------------------------------------------------------------
MATCH, MAYBE = "match", "maybe"


@dataclass(frozen=True)
class Window:
    """Which listed lookups may be the one we submitted: on ``instance_id``, of ``requested`` numbers,
    created since ``since`` (our clock). ``ahead``: how far the server's clock was seen ahead of ours."""

    instance_id: str
    requested: int
    since: datetime | None
    ahead: timedelta = timedelta(0)

    def created(self, item: Mapping[str, Any]) -> datetime | None:
        """When ``item`` was created, on our clock as far as we can tell (server time minus ``ahead``)."""
        created = parse_time(item.get("createdAt"))
        return None if created is None else created - self.ahead

    def older_than_any_candidate(self, item: Mapping[str, Any]) -> bool:
        created = parse_time(item.get("createdAt"))  # uncorrected: correcting only makes it older
        return self.since is not None and created is not None and created < self.since - MAX_CLOCK_SKEW

    def kind(self, item: Mapping[str, Any]) -> str | None:
        """:data:`MATCH` (same instance and count, created since ``since`` less :data:`CLOCK_ALLOWANCE`),
        :data:`MAYBE` (not ruled out: a field missing, or created up to :data:`MAX_CLOCK_SKEW` earlier,
        the server clock may be behind), or None (another lookup, or cancelled)."""
        if item.get("status") == "cancelled" or lookup_id_of(item) is None:
            return None
        instance, requested = item.get("instanceId"), lookup_requested(item)
        if (instance is not None and instance != self.instance_id) or requested not in (None, self.requested):
            return None
        created = self.created(item)
        if self.since is not None and created is not None and created < self.since - MAX_CLOCK_SKEW:
            return None
        unsure = self.since is not None and (created is None or created < self.since - CLOCK_ALLOWANCE)
        return MAYBE if unsure or instance is None or requested is None else MATCH


def clock_ahead(items: list[dict[str, Any]], now: datetime) -> timedelta:
    """How far the server's clock is at least ahead of ours: its newest ``createdAt`` past ``now``
    (nothing can have been created in the future); zero when none is."""
    times = [t for t in (parse_time(i.get("createdAt")) for i in items) if t is not None]
    ahead = max(times) - now if times else timedelta(0)
    if ahead > CLOCK_ALLOWANCE:
        note_shape("GET /number-lookups", f"createdAt about {ahead.total_seconds() / 60:.0f} min ahead of our clock")
    return max(ahead, timedelta(0))


def lookup_mode(item: Mapping[str, Any]) -> str | None:
    """``sync``/``async``: the lookup's ``mode``, else what its requested count implies; None if unknown."""
    mode = item.get("mode")
    if mode in ("sync", "async"):
        return str(mode)
    requested = lookup_requested(item)
    return None if requested is None else "sync" if requested < ASYNC_LOOKUP_THRESHOLD else "async"


def recovered_submission(item: Mapping[str, Any]) -> dict[str, Any]:
    """A create-style answer built from a listed lookup (found after a lost create answer, or reused
    on a retry), marked ``recovered: True``."""
    return {
        "mode": lookup_mode(item),
        "lookupId": lookup_id_of(item),
        "status": item.get("status"),
        "requested": lookup_requested(item),
        "recovered": True,
    }


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
    ``on_whatsapp``, ``not_on_whatsapp`` or ``invalid``. Items are strings, or objects holding the number
    (:func:`~airflow_provider_msgflash.api.shapes.result_number`); an item holding no recognisable number
    raises :class:`MsgFlashFinalError` (``UNEXPECTED_SHAPE``) showing it, rather than losing it."""
    if not isinstance(result, Mapping):
        return
    for key, status in RESULT_GROUPS:
        items = result.get(key)
        if not isinstance(items, list):
            continue
        numbers = [result_number(x) for x in items]
        bad = next((x for x, n in zip(items, numbers, strict=True) if n is None), None)
        if bad is not None:
            raise MsgFlashFinalError(
                f"A {key} item of the lookup's result holds no phone number this provider recognises: "
                f"{bad!r:.120}. The lookup itself is fine: read it on GET /api/v1/number-lookups/{{id}} "
                "or the MsgFlash dashboard, and report the shape (see docs/api-assumptions.md).",
                code=UNEXPECTED_SHAPE,
            )
        if any(not isinstance(x, str) for x in items):
            note_shape("GET /number-lookups/{id}", "result items as objects holding the number")
        yield status, [n for n in numbers if n is not None]


def _digits(number: str) -> str:
    d = "".join(ch for ch in number if ch.isdigit())
    return d[2:] if d.startswith("00") else d


def same_numbers(result: Any, numbers: list[str]) -> bool | None:
    """Whether a finished lookup's result holds the same numbers as ``numbers`` (compared by digits);
    None when it cannot tell (no result, or items it cannot read)."""
    if not isinstance(result, Mapping) or not any(isinstance(result.get(k), list) for k, _ in RESULT_GROUPS):
        return None
    try:
        seen = sorted(_digits(n) for _, nums in iter_result(result) for n in nums)
    except MsgFlashFinalError:
        return None
    return seen == sorted(_digits(n) for n in numbers)

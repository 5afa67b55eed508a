"""Reading what MsgFlash's docs do not show, defensively: the shape of lists, result items, counts and
health fields. ``docs/api-assumptions.md`` lists every such field and what happens when it differs.

Rules every reader follows:

- An extra field is never an error; a missing one is *unknown* (``None``), never 0 or an empty list.
- An alternative plausible shape (a list under another key, a count under another name, a health field
  as an object) is read, and logged once per process and shape (:func:`note_shape`).
- What cannot be read is said, not guessed: the readers return ``None`` (or a :class:`Page` without
  items, with the reason) and the caller decides (fail clearly, or log and go on).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: ``code`` of the errors raised when an answer cannot be read.
UNEXPECTED_SHAPE = "UNEXPECTED_SHAPE"

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def note_shape(where: str, shape: str) -> None:
    """Log a warning, once per process for each ``(where, shape)``, that MsgFlash answered ``where`` in
    the unexpected ``shape`` (read as such)."""
    with _warned_lock:
        if (where, shape) in _warned:
            return
        _warned.add((where, shape))
    log.warning(
        "MsgFlash answered %s in a shape this provider did not expect: %s. Read as such (see "
        "docs/api-assumptions.md); said once per process.",
        where,
        shape,
    )


def forget_noted_shapes() -> None:
    """Forget which shapes were already logged (each is then logged again once)."""
    with _warned_lock:
        _warned.clear()


def keys_of(data: Any) -> str:
    """``"a, b, c"``: the keys of an answer, for messages (``"(not an object)"`` otherwise)."""
    if isinstance(data, Mapping):
        return ", ".join(sorted(str(k) for k in data)) or "(none)"
    return f"(not an object: {type(data).__name__})"


def small_answer(data: Any, limit: int = 1000) -> Any:
    """``data`` itself when its JSON is at most ``limit`` characters, else its JSON text cut there."""
    text = json.dumps(data, default=str, separators=(",", ":"))
    return data if len(text) <= limit else text[:limit] + "..."


def as_int(value: Any) -> int | None:
    """A count: an ``int`` (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def plus(total: int | None, more: int | None) -> int | None:
    """The sum of two counts, unknown (None) when either is."""
    return None if total is None or more is None else total + more


def first_int(data: Any, names: Iterable[str]) -> int | None:
    """The first of ``names`` that holds a count in ``data``; None when none does."""
    if not isinstance(data, Mapping):
        return None
    return next((v for v in (as_int(data.get(n)) for n in names) if v is not None), None)


# -- lists ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    """One page of a list answer.

    :param items: the objects listed, or None when no list could be recognised (``problem`` says why).
    :param cursor: the next page's cursor, or None for the last (or only) page.
    :param shape: how the page differed from the documented shape (None: as documented).
    :param problem: why no list could be recognised.
    """

    items: list[dict[str, Any]] | None
    cursor: str | None = None
    shape: str | None = None
    problem: str | None = None


def _list_field(data: Mapping[str, Any], key: str) -> tuple[str | None, str | None]:
    """``(name of the list field to read, problem)``: ``key`` when present, else the one list field."""
    lists = {k: v for k, v in data.items() if isinstance(v, list)}
    if key in lists:
        return key, None
    if len(lists) == 1:
        return next(iter(lists)), None
    if not lists:
        return None, f"no list in the answer (keys: {keys_of(data)})"
    filled = [k for k, v in lists.items() if v]
    if len(filled) <= 1:  # the others are empty: whichever it is, that is what is listed
        return (filled or sorted(lists))[0], None
    return None, f"several lists and none named {key!r} ({', '.join(sorted(lists))}); cannot tell which to read"


def read_page(data: Any, key: str) -> Page:
    """One page of a paginated list, documented as ``{key: [...], nextCursor, hasMore}``.

    Also read: ``data`` as a plain array (one page), the list under another name when it is the only
    list (or the only non-empty one; several are refused), paging fields absent (one page), and a
    ``nextCursor`` without ``hasMore`` (followed). Items that are not objects are left out.
    """
    shape: str | None
    if isinstance(data, list):
        items, shape = data, "a plain array in data, no paging (read as one page)"
        cursor = None
    elif isinstance(data, Mapping):
        name, problem = _list_field(data, key)
        if name is None:
            return Page(None, problem=problem)
        items = data[name]
        shape = None if name == key else f"the list under {name!r} instead of {key!r}"
        raw = data.get("nextCursor")
        cursor = raw if isinstance(raw, str) and raw and data.get("hasMore") is not False else None
    else:
        return Page(None, problem=f"the answer is {type(data).__name__}, not a list or an object")
    objects = [x for x in items if isinstance(x, dict)]
    if len(objects) < len(items):
        if not objects:
            return Page(None, problem=f"the list holds no objects (first item: {items[0]!r:.60})")
        extra = f"{len(items) - len(objects)} item(s) not objects (left out)"
        shape = f"{shape}; {extra}" if shape else extra
    return Page(objects, cursor, shape)


# -- result items ---------------------------------------------------------------------------------
#: Fields that may hold the number in a result item given as an object, in the order they are tried.
NUMBER_FIELDS = ("number", "phone", "phoneNumber", "e164", "msisdn", "waNumber")
_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ().-]{5,}$")


def result_number(item: Any) -> str | None:
    """The phone number of one result item: a string, or an object holding it under one of
    :data:`NUMBER_FIELDS` or as its only phone-number-like string; None when there is none."""
    if isinstance(item, str):
        return item
    if not isinstance(item, Mapping):
        return None
    for name in NUMBER_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value:
            return value
    phones = [v for v in item.values() if isinstance(v, str) and _PHONE_LIKE.match(v)]
    return phones[0] if len(phones) == 1 else None


# -- import counts --------------------------------------------------------------------------------
#: The import answer's counts, each with the names it is recognised under (the first is the assumed one).
IMPORT_COUNT_NAMES: dict[str, tuple[str, ...]] = {
    "imported": ("imported", "importedCount", "created", "createdCount", "new", "newCount"),
    "alreadyExisting": ("alreadyExisting", "alreadyExistingCount", "existing", "existingCount", "alreadyExists"),
    "skipped": ("skipped", "skippedCount", "ignored", "ignoredCount"),
}
#: Objects of the import answer the counts may be nested in (one level).
IMPORT_COUNT_HOLDERS = ("summary", "counts", "stats", "result")


@dataclass(frozen=True)
class ImportCounts:
    """The counts of one import answer: each an int, or None when the answer did not give it.

    :param shape: the names the counts were found under, when not the assumed ones.
    """

    counts: dict[str, int | None]
    shape: str | None

    @property
    def complete(self) -> bool:
        return all(v is not None for v in self.counts.values())


def _find_count(places: list[tuple[str, Any]], names: tuple[str, ...]) -> tuple[str, int | None]:
    for prefix, where in places:
        for name in names:
            value = as_int(where.get(name)) if isinstance(where, Mapping) else None
            if value is not None:
                return prefix + name, value
    return "", None


def read_import_counts(answer: Any) -> ImportCounts:
    """The counts of an import-contacts answer under any of :data:`IMPORT_COUNT_NAMES`, at its top
    level or one level down in one of :data:`IMPORT_COUNT_HOLDERS`."""
    places: list[tuple[str, Any]] = [("", answer)]
    if isinstance(answer, Mapping):
        places += [(f"{h}.", answer[h]) for h in IMPORT_COUNT_HOLDERS if isinstance(answer.get(h), Mapping)]
    counts: dict[str, int | None] = {}
    notes: list[str] = []
    for count, names in IMPORT_COUNT_NAMES.items():
        found, counts[count] = _find_count(places, names)
        if counts[count] is not None and found != count:
            notes.append(f"{count} as {found}")
    missing = [k for k, v in counts.items() if v is None]
    if missing:
        notes.append(f"no {', '.join(missing)} count (keys: {keys_of(answer)})")
    return ImportCounts(counts, "; ".join(notes) or None)


# -- health -----------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def health_score(health: Any) -> float | None:
    """``safetyScore`` on the 0-100 scale: a number, or an object ``{"value", "max"?}`` (also
    ``score``/``current``; scaled to 100 when ``max`` says otherwise). None when absent or unreadable."""
    raw = health.get("safetyScore") if isinstance(health, Mapping) else None
    if not isinstance(raw, Mapping):
        return _number(raw)
    value = next((v for v in (_number(raw.get(k)) for k in ("value", "score", "current")) if v is not None), None)
    top = _number(raw.get("max"))
    if value is not None and top is not None and top > 0 and top != 100:
        value = value * 100.0 / top
    if value is not None:
        note_shape("GET /instances/{id}/health", "safetyScore as an object")
    return value


def health_state(health: Any) -> str | None:
    """``safetyState``: a string, or an object holding it (``level``, ``state``, ``value``, ``name``)."""
    raw = health.get("safetyState") if isinstance(health, Mapping) else None
    if isinstance(raw, str) or raw is None:
        return raw
    if isinstance(raw, Mapping):
        found = next((v for v in (raw.get(k) for k in ("level", "state", "value", "name")) if isinstance(v, str)), None)
        if found is not None:
            note_shape("GET /instances/{id}/health", "safetyState as an object")
            return found
    return json.dumps(raw, default=str)[:80]


def health_recommendations(health: Any) -> list[str]:
    """``recommendations`` as text: strings, or objects ``{"code", "message"}`` (``"message (code)"``)."""
    raw = health.get("recommendations") if isinstance(health, Mapping) else None
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    out = []
    for item in items:
        if isinstance(item, Mapping):
            message, code = item.get("message") or item.get("text"), item.get("code")
            out.append(f"{message} ({code})" if message and code else str(message or code or dict(item)))
            note_shape("GET /instances/{id}/health", "recommendations as objects")
        else:
            out.append(str(item))
    return out

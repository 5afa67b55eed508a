"""Reading what MsgFlash's docs do not show, defensively: lists and their paging, a lookup's fields in all their
names (docs/api-assumptions.md lists every such field). An extra field is never an error; a missing one is unknown
(``None``), never a default; another plausible shape is read and noted once per process (:func:`note_shape`); what
cannot be read is said (``None``, or a :class:`Page` with the ``problem``), and the caller decides."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

log = logging.getLogger(__name__)

#: ``code`` of the errors raised when an answer cannot be read.
UNEXPECTED_SHAPE = "UNEXPECTED_SHAPE"

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def note_shape(where: str, shape: str) -> None:
    """Log a warning, once per process for each ``(where, shape)``, that MsgFlash answered ``where`` in the
    unexpected ``shape`` (read as such)."""
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


# -- lists and their paging -------------------------------------------------------------------------------
#: Where a list's next cursor may be, in the order tried (``nextCursor`` is the documented name).
CURSOR_FIELDS = ("nextCursor", "next", "nextPageToken", "next_cursor")


@dataclass(frozen=True)
class Page:
    """One page of a list answer.

    :param items: the objects listed, or None when no list could be recognised (``problem`` says why).
    :param next: the query that asks for the next page (``{"cursor": ...}`` or ``{"page": n}``), or None.
    :param last: whether the answer shows that no page follows (with ``next`` None and ``last`` False,
        more may exist that cannot be asked for: a full page without paging fields, or ``hasMore`` without
        a cursor).
    :param shape: how the page differed from the documented shape (None: as documented).
    :param problem: why no list could be recognised.
    """

    items: list[dict[str, Any]] | None
    next: dict[str, Any] | None = None
    last: bool = True
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


def _paging(data: Mapping[str, Any], count: int, limit: int | None) -> tuple[dict[str, Any] | None, bool, str | None]:
    """``(next query, last page?, shape)`` of a list page in any paging style this provider reads."""
    has_more = data.get("hasMore")
    for name in CURSOR_FIELDS:
        raw = data.get(name)
        if isinstance(raw, str) and raw and has_more is not False:
            return {"cursor": raw}, False, None if name == "nextCursor" else f"the cursor under {name!r}"
    page, pages, total = as_int(data.get("page")), as_int(data.get("totalPages")), as_int(data.get("total"))
    if page is not None and (pages is not None or (total is not None and limit)):
        more = page < pages if pages is not None else page * int(limit or 0) < int(total or 0)
        return ({"page": page + 1} if more else None), not more, "page numbers with totals"
    if has_more is True:
        return None, False, "hasMore without a cursor"
    if has_more is False or "nextCursor" in data:
        return None, True, None
    return None, limit is None or count < limit, None  # no paging fields: a short page is the last one


def read_page(data: Any, key: str, limit: int | None = None) -> Page:
    """One page of a paginated list, documented as ``{key: [...], nextCursor, hasMore}``.

    Also read: ``data`` as a plain array (one page), the list under another name when it is the only list
    (or the only non-empty one; several are refused), the cursor under another name (``next``,
    ``nextPageToken``), page numbers with totals (``page`` with ``totalPages`` or ``total``), and no paging
    fields at all (one page, unless it is full: then more may exist). ``limit``: the page size asked for.
    Items that are not objects are left out.
    """
    shape: str | None
    if isinstance(data, list):
        items: list[Any] = data
        nxt, last, shape = (
            None,
            limit is None or len(data) < limit,
            "a plain array in data, no paging (read as one page)",
        )
    elif isinstance(data, Mapping):
        name, problem = _list_field(data, key)
        if name is None:
            return Page(None, problem=problem)
        items = data[name]
        nxt, last, paging = _paging(data, len(items), limit)
        notes = [f"the list under {name!r} instead of {key!r}" if name != key else None, paging]
        shape = "; ".join(n for n in notes if n) or None
    else:
        return Page(None, problem=f"the answer is {type(data).__name__}, not a list or an object")
    objects = [x for x in items if isinstance(x, dict)]
    if len(objects) < len(items):
        if not objects:
            return Page(None, problem=f"the list holds no objects (first item: {items[0]!r:.60})")
        extra = f"{len(items) - len(objects)} item(s) not objects (left out)"
        shape = f"{shape}; {extra}" if shape else extra
    if shape:
        note_shape(f"the {key} list", shape)
    return Page(objects, nxt, last, shape)


# -- a lookup's fields ------------------------------------------------------------------------------------
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


def parse_time(value: Any) -> datetime | None:
    """The API's timestamps: ISO-8601 (``2026-04-01T09:00:00.000Z``; no zone = UTC) or epoch seconds or
    milliseconds; None when absent or unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / 1000.0 if value > 1e11 else float(value), timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def lookup_id_of(item: Mapping[str, Any]) -> str | None:
    """A lookup's id (``id``, or ``lookupId`` as in the create answer)."""
    value = next((item.get(k) for k in ("id", "lookupId") if isinstance(item.get(k), str) and item.get(k)), None)
    return str(value) if value is not None else None


def lookup_requested(item: Mapping[str, Any]) -> int | None:
    """The requested count of a lookup in any of its shapes (``requested`` or ``requestedCount``)."""
    return first_int(item, LOOKUP_COUNT_NAMES["requested"])


def lookup_counts(data: Mapping[str, Any]) -> dict[str, int | None]:
    """A lookup answer's counts under the summary's names; a count the answer does not give is None."""
    return {key: first_int(data, names) for key, names in LOOKUP_COUNT_NAMES.items()}


def lookup_error(data: Mapping[str, Any]) -> str | None:
    """A failed lookup's ``error`` as text: a string, or an object ``{"code", "message"}`` (``"CODE:
    message"``); None when there is none."""
    raw = data.get("error")
    if isinstance(raw, Mapping):
        code, message = raw.get("code"), raw.get("message")
        text = ": ".join(str(p) for p in (code, message) if p) or json.dumps(raw, default=str)
        return text[:500]
    return str(raw)[:500] if raw else None


def lookup_error_code(data: Mapping[str, Any]) -> str | None:
    """The code of a failed lookup's ``error`` (an object's ``code``, or a leading ``CODE:`` of a string)."""
    raw = data.get("error")
    if isinstance(raw, Mapping):
        return str(raw["code"]) if isinstance(raw.get("code"), str) else None
    m = re.match(r"^([A-Z][A-Z0-9_]{2,}):", raw) if isinstance(raw, str) else None
    return m.group(1) if m else None


def lookup_mode(item: Mapping[str, Any]) -> Literal["sync", "async"] | None:
    """``sync``/``async``: the lookup's ``mode``, else what its requested count implies; None if unknown."""
    mode = item.get("mode")
    if mode == "sync" or mode == "async":
        return mode
    requested = lookup_requested(item)
    return None if requested is None else "sync" if requested < 100 else "async"

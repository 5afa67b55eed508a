"""Dialects: alternative, plausible shapes for what the MsgFlash docs do not show.

The provider and the sandbox were written from the same reading of MsgFlash's public API documentation
(https://docs.msgflash.com/), so they agree even on what it does not show (the provider's assumptions
are listed in ``docs/api-assumptions.md``). A dialect makes the sandbox answer one such part
differently, so the provider can be tested against a service that chose otherwise. Documented parts never change: the
dialects touch the lookup list (its shape and how it pages), the lookup detail, the import answer, the
health fields' shapes, the shape of a lookup's ``error``, and timestamp *values* (what ``updatedAt``
means, the server's clock).

Dialects combine (``"list-items,clock-ahead"``), except two of one group (two shapes of the same
thing) and ``list-array`` with a paging dialect (a plain array has no paging). ``all`` is the first
dialect of every group. Each dialect is a function from the canonical answer of a view to its own
shape, applied by :meth:`DialectSet.shape` after the engine built the canonical answer and before
FastAPI checks it against that dialect's response model (``schemas.response_models``). Two paging
dialects also change how the list route reads its request (:meth:`DialectSet.page_size`,
:attr:`DialectSet.page_numbers`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_msgflash.sandbox.models import RECOMMENDATION_CODES, iso, split_error

Data = Any
Shape = Callable[[str, Data], Data]

#: ``all``: the first dialect of each group.
ALL = "all"
#: How many seconds the ``clock-ahead`` / ``clock-behind`` server clock is off.
CLOCK_SKEW = 7 * 60.0
#: The most lookups a ``list-short-pages`` page holds, whatever the ``limit`` asked for.
SHORT_PAGE = 7
#: The name of the next page's cursor under ``list-cursor-renamed``.
RENAMED_CURSOR = "nextPageToken"
_TIME_KEYS = frozenset({"createdAt", "updatedAt", "completedAt", "deletedAt"})
_OPAQUE_KEYS = frozenset({"meta", "webhook", "warmupPolicy", "usageWindowSummary"})


@dataclass(frozen=True)
class Dialect:
    """One alternative shape. ``views``: the answers it changes (None: every answer); ``conflicts``: the
    groups it cannot be combined with."""

    name: str
    group: str
    views: frozenset[str] | None
    apply: Shape
    summary: str
    conflicts: frozenset[str] = frozenset()


def _per_lookup(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Shape:
    """Apply ``change`` to a lookup answer, or to each lookup of a (canonical) lookup page."""

    def apply(view: str, data: Data) -> Data:
        if view == "lookups":
            return {**data, "lookups": [change(item) for item in data["lookups"]]}
        return change(data)

    return apply


def _without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: {k: v for k, v in d.items() if k != name}


def _per_key_dropped(name: str) -> Shape:
    """A page without its field ``name``."""
    drop = _without(name)
    return lambda view, page: drop(page)


def _updated_now(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "updatedAt": iso(time.time())}


def _result_objects(d: dict[str, Any]) -> dict[str, Any]:
    if "result" not in d:
        return d
    return {**d, "result": {k: [{"number": n} for n in numbers] for k, numbers in d["result"].items()}}


def _error_object(d: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(d.get("error"), str):
        return d  # no error (null) stays null
    code, message = split_error(d["error"])
    return {**d, "error": {"code": code, "message": message}}


def _as_is(view: str, page: Data) -> Data:
    """The paging dialects that change the request only (``list-short-pages``, ``list-page-numbers``)."""
    return page


def _cursor_renamed(view: str, page: Data) -> Data:
    return {RENAMED_CURSOR if k == "nextCursor" else k: v for k, v in page.items()}


def _list_items(view: str, page: Data) -> Data:
    return {"items" if k == "lookups" else k: v for k, v in page.items()}


def _list_array(view: str, page: Data) -> Data:
    return page["lookups"]


def _health_objects(view: str, h: Data) -> Data:
    return {
        **h,
        "safetyState": {"level": h["safetyState"]},
        "safetyScore": {"value": h["safetyScore"], "max": 100},
        "recommendations": [{"code": RECOMMENDATION_CODES[m], "message": m} for m in h["recommendations"]],
    }


def _import_counts(view: str, a: Data) -> Data:
    return {
        "lookupId": a["lookupId"],
        "tag": a["tag"],
        "importedCount": a["imported"],
        "alreadyExistingCount": a["alreadyExisting"],
        "skippedCount": a["skipped"],
    }


def _import_summary(view: str, a: Data) -> Data:
    summary = {"new": a["imported"], "existing": a["alreadyExisting"]}
    return {"lookupId": a["lookupId"], "tag": a["tag"], "summary": summary}


def _shift_times(seconds: float) -> Shape:
    def shift(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # a time not set yet (null) stays null
        return iso(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() + seconds)

    def walk(data: Any) -> Any:
        if isinstance(data, list):
            return [walk(x) for x in data]
        if isinstance(data, dict):
            return {k: shift(v) if k in _TIME_KEYS else v if k in _OPAQUE_KEYS else walk(v) for k, v in data.items()}
        return data

    return lambda view, data: walk(data)


_LOOKUPS = frozenset({"lookup", "lookups"})
_WITH_PROGRESS = frozenset({"progress", "lookup", "lookups"})
_DETAIL, _LIST, _HEALTH, _IMPORT = (frozenset({v}) for v in ("lookup", "lookups", "health", "import"))
_EVERY = None

#: Every dialect, in the order they are applied (values first, then shapes, then the clock):
#: name, group, the answers it changes, how, and what it does in a few words.
DIALECTS: dict[str, Dialect] = {
    row[0]: Dialect(*row)
    for row in (
        ("updated-now", "updatedAt", _WITH_PROGRESS, _per_lookup(_updated_now), "updatedAt = time of the read"),
        ("updated-missing", "updatedAt", _LOOKUPS, _per_lookup(_without("updatedAt")), "no updatedAt in detail, list"),
        ("no-mode", "mode", _LOOKUPS, _per_lookup(_without("mode")), "no mode in the lookup detail and list"),
        ("result-objects", "result", _DETAIL, _per_lookup(_result_objects), "detail result items as objects"),
        ("error-object", "error", _WITH_PROGRESS, _per_lookup(_error_object), "error as {code, message}"),
        ("list-short-pages", "paging", _LIST, _as_is, f"list pages of at most {SHORT_PAGE}, whatever the limit"),
        ("list-cursor-renamed", "paging", _LIST, _cursor_renamed, f"list cursor named {RENAMED_CURSOR}"),
        ("list-no-has-more", "paging", _LIST, _per_key_dropped("hasMore"), "list without hasMore"),
        ("list-page-numbers", "paging", _LIST, _as_is, "list by ?page=N: {page, totalPages, total}, no cursor"),
        ("list-items", "list", _LIST, _list_items, "lookup list under items, paged"),
        ("list-array", "list", _LIST, _list_array, "lookup list as a plain array, no paging", frozenset({"paging"})),
        ("health-objects", "health", _HEALTH, _health_objects, "health fields as objects"),
        ("import-counts", "import", _IMPORT, _import_counts, "import counts named *Count"),
        ("import-summary", "import", _IMPORT, _import_summary, "import counts as summary.new/existing"),
        ("clock-ahead", "clock", _EVERY, _shift_times(CLOCK_SKEW), "every timestamp 7 minutes ahead"),
        ("clock-behind", "clock", _EVERY, _shift_times(-CLOCK_SKEW), "every timestamp 7 minutes behind"),
    )
}
#: What ``all`` stands for: the first dialect of each group.
ALL_DIALECTS: tuple[str, ...] = tuple(
    next(n for n, d in DIALECTS.items() if d.group == g) for g in dict.fromkeys(d.group for d in DIALECTS.values())
)


def _known() -> str:
    return f"{', '.join(DIALECTS)}, {ALL} (= {','.join(ALL_DIALECTS)}), or none"


def parse_dialect(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The dialect names in ``value`` (``"a,b"`` or a list; ``all``; ``""``/``none``: the canonical
    shapes), in the order they apply. Raises ValueError naming an unknown name or two of one group."""
    raw = [] if value is None else value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in raw:
        name = item.strip().lower() if isinstance(item, str) else item
        if name in ("", "none", "canonical"):
            continue
        if name == ALL:
            names += ALL_DIALECTS
        elif name in DIALECTS:
            names.append(name)
        else:
            raise ValueError(f"dialect: unknown {item!r}; known: {_known()}")
    chosen = [n for n in DIALECTS if n in names]
    for group in dict.fromkeys(DIALECTS[n].group for n in chosen):
        clash = [n for n in chosen if DIALECTS[n].group == group]
        if len(clash) > 1:
            raise ValueError(
                f"dialect: {' and '.join(clash)} are two shapes of the same thing ({group}); keep one of them"
            )
    for name in chosen:
        clash = [n for n in chosen if DIALECTS[n].group in DIALECTS[name].conflicts]
        if clash:
            group = DIALECTS[clash[0]].group
            raise ValueError(f"dialect: {name} cannot be combined with {' or '.join(clash)}: it has no {group}")
    return tuple(chosen)


class DialectSet:
    """The dialects in force, applied in order to each canonical answer."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = parse_dialect(list(names))
        self._steps = [(DIALECTS[n].views, DIALECTS[n].apply) for n in self.names]
        #: ``list-page-numbers``: the lookup list is read by ``?page=N&limit=L`` (``cursor`` ignored).
        self.page_numbers = "list-page-numbers" in self.names
        self._page_cap = SHORT_PAGE if "list-short-pages" in self.names else None

    def page_size(self, limit: int) -> int:
        """How many lookups a list page holds when ``limit`` are asked for."""
        return min(limit, self._page_cap) if self._page_cap else limit

    def shape(self, view: str, data: Data) -> Data:
        """``data``, the canonical answer of ``view``, in the shape of these dialects."""
        for views, apply in self._steps:
            if views is None or view in views:
                data = apply(view, data)
        return data

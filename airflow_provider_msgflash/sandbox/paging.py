"""Paging for the list routes: opaque cursors bound to one list (and sort order); page numbers (the
``list-page-numbers`` dialect)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from airflow_provider_msgflash.sandbox.errors import validation_error

T = TypeVar("T")
SortKey = tuple[str, int]


def encode_cursor(kind: str, key: SortKey) -> str:
    raw = json.dumps({"k": kind, "v": [key[0], key[1]]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> SortKey:
    """The sort key a cursor of list ``kind`` points after; ``400 VALIDATION_ERROR`` (``cursor``) if it is
    not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        v = doc["v"]
        if doc.get("k") != kind or not (isinstance(v, list) and len(v) == 2):
            raise ValueError
        if not isinstance(v[0], str) or isinstance(v[1], bool) or not isinstance(v[1], int):
            raise ValueError
        return v[0], v[1]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise validation_error("cursor", "not a cursor from an earlier page of this list") from None


def page(
    kind: str, items: Iterable[T], key: Callable[[T], SortKey], desc: bool, cursor: str | None, limit: int
) -> tuple[list[T], str | None]:
    """One page of ``items`` sorted by ``key`` after ``cursor``, and the next page's cursor (None: last)."""
    after = decode_cursor(kind, cursor) if cursor else None
    ordered = sorted(items, key=key, reverse=desc)
    if after is not None:
        ordered = [it for it in ordered if (key(it) < after if desc else key(it) > after)]
    chosen = ordered[:limit]
    nxt = key(chosen[-1]) if len(ordered) > limit and chosen else None
    return chosen, (encode_cursor(kind, nxt) if nxt else None)


def paged(things: str, chosen: list[dict[str, Any]], nxt: str | None) -> dict[str, Any]:
    """The documented list shape: ``{<things>: [...], nextCursor, hasMore}``."""
    return {things: chosen, "nextCursor": nxt, "hasMore": nxt is not None}


def numbered(ordered: list[T], page_no: int, size: int) -> tuple[list[T], dict[str, int]]:
    """Page ``page_no`` (1-based) of ``ordered`` in pages of ``size``, and ``{page, totalPages, total}``
    (a page past the last one is empty)."""
    start = (page_no - 1) * size
    total = len(ordered)
    return ordered[start : start + size], {"page": page_no, "totalPages": -(-total // size), "total": total}

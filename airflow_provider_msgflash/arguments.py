"""Checks of what DAG authors pass to the operators and sensors, shared by all of them.

Each check names the bad argument and the fix in a :class:`~airflow_provider_msgflash.exceptions.MsgFlashConfigError`
(a final error: the task fails without using its retries, since a retry would pass the same value).
"""

from __future__ import annotations

import ast
import json
import re
from datetime import timedelta
from typing import Any

from airflow_provider_msgflash.exceptions import MsgFlashConfigError

TAG_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def is_template(value: Any) -> bool:
    """Whether ``value`` is a string Airflow will render (so it can only be checked after rendering)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_tag(tag: Any, name: str = "tag") -> str:
    """A contact tag: 1 to 64 letters, digits, ``-``, ``_``, ``.`` or ``:``."""
    if not isinstance(tag, str) or not TAG_RE.match(tag.strip()):
        raise MsgFlashConfigError(
            f"`{name}` must be 1 to 64 letters, digits, '-', '_', '.' or ':' (e.g. 'verified-whatsapp'), got {tag!r}.",
            code="BAD_ARGUMENT",
        )
    return tag.strip()


def check_seconds(value: Any, name: str, *, allow_none: bool = True, allow_zero: bool = False) -> None:
    """A number of seconds: positive (or 0 with ``allow_zero``), or None with ``allow_none``."""
    if value is None and allow_none:
        return
    ok = not isinstance(value, bool) and isinstance(value, int | float)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "a positive number of"
        raise MsgFlashConfigError(f"`{name}` must be {least} seconds, got {value!r}.", code="BAD_ARGUMENT")


def seconds_of(value: Any) -> float | None:
    """Seconds from a number or a ``timedelta`` (a sensor's or task's ``timeout``), None otherwise."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_text_value(text: str) -> Any:
    """A list or dict written as text, the way a template renders it without native objects: JSON
    (``["a", "b"]``) or Python's own form (``['a', 'b']``). Anything else comes back unchanged."""
    stripped = text.strip()
    if not stripped.startswith(("[", "{")):
        return text
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def summary_says_done(value: Any) -> bool:
    """Whether ``value`` is a lookup task's summary (its ``return_value``) reporting every lookup done."""
    if isinstance(value, str):
        value = parse_text_value(value)
    return isinstance(value, dict) and value.get("status") == "done" and bool(value.get("lookup_ids"))


def lookup_ids_from(value: Any) -> list[str]:
    """Lookup ids from what a DAG author may pass as ``lookup_id``: one id, a list of ids, a JSON list,
    the string form of a Python list (a template rendered without ``render_template_as_native_obj``),
    or a lookup task's summary (its ``return_value`` XCom, e.g. ``lookup.output``)."""
    if isinstance(value, str):
        value = parse_text_value(value)
    if isinstance(value, dict):
        value = value.get("lookup_ids") or value.get("lookup_id")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise MsgFlashConfigError(
            "`lookup_id` must be a lookup id, a list of ids, or a lookup task's summary (e.g. "
            f"`lookup_id=lookup.output`); got {value!r:.100}.",
            code="BAD_ARGUMENT",
        )
    return [v.strip() for v in value]

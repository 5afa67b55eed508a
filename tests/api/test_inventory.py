"""Every field name the readers use is either documented by MsgFlash or listed in docs/api-assumptions.md.

The field names are the string literals of the modules that read MsgFlash's answers (docstrings aside)
that look like a JSON field name (``lowerCamelCase``); a new ``item.get("fooBar")`` there fails this test
until ``fooBar`` is documented or inventoried."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from airflow_provider_msgflash.api.shapes import CURSOR_FIELDS, LOOKUP_COUNT_NAMES
from airflow_provider_msgflash.operators.contacts import IMPORT_COUNT_HOLDERS, IMPORT_COUNT_NAMES
from airflow_provider_msgflash.results import NUMBER_FIELDS

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "airflow_provider_msgflash"
INVENTORY = REPO / "docs" / "api-assumptions.md"
READERS = [
    *sorted((PKG / "api").glob("*.py")),
    PKG / "hooks" / "lookups.py",
    PKG / "results.py",
    PKG / "readiness.py",
    PKG / "polling.py",
    PKG / "operators" / "contacts.py",
]
FIELD_LIKE = re.compile(r"^[a-z][A-Za-z0-9]*$")

#: Field names MsgFlash's public API documentation (https://docs.msgflash.com/) shows:
#: envelope and errors, paging of the documented lists, instances, state, health field names, the
#: create answers, progress, cancel, import request, contacts, and the request fields.
DOCUMENTED = frozenset(
    {
        # envelope, errors, paging
        "data", "error", "code", "message", "details", "limit", "cursor", "nextCursor", "hasMore",
        # instances, state, health (names only: their shapes are inventoried)
        "id", "name", "waNumber", "status", "webhook", "meta", "deletedAt", "createdAt", "updatedAt",
        "instanceId", "providerState", "safetyState", "safetyScore", "warmupPolicy", "usageWindowSummary",
        "recommendations",
        # lookups: request, create answers, progress, cancel, import request
        "numbers", "mode", "lookupId", "requested", "normalized", "checked", "onWhatsAppCount",
        "notOnWhatsAppCount", "invalidCount", "result", "onWhatsApp", "notOnWhatsApp", "invalid", "progress",
        "requestedCount", "normalizedCount", "checkedCount", "completedAt", "tag",
        # contacts
        "contacts", "phone", "tags", "total", "sort", "search",
    }
)  # fmt: skip

#: Literals of those modules that are not field names of an answer, and why.
NOT_FIELDS = frozenset(
    {
        # values of documented fields
        "sync", "async", "done", "failed", "cancelled", "connected", "pending", "processing", "connecting",
        "disconnected",
        # the provider's own names: constants, its summaries and results, gate_instance's return value
        "match", "maybe", "recovered", "accounting", "inputs", "sent", "reason", "instance", "health",
        # health policies; connection fields and URL schemes; keyword names of tenacity and of exceptions
        "ignore", "warn", "fail", "host", "port", "password", "timeout", "http", "https", "localhost",
        "reraise", "retry", "stop", "wait", "request",
        # words of messages and format specs ("above 0", known or 'none', timespec, open(..., "w"), :g)
        "above", "none", "seconds", "w", "g", "unknown",
        # the HTTP libraries looked up in sys.modules, and float("inf")
        "requests", "aiohttp", "inf",
    }
)  # fmt: skip


def _literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in docstrings
        and FIELD_LIKE.match(n.value)
    }


def _inventoried() -> set[str]:
    """Every name written in backticks in the inventory (``summary.new`` counts as both names)."""
    names = re.findall(r"`([A-Za-z0-9_.]+)`", INVENTORY.read_text())
    return {part for name in names for part in name.split(".")}


def test_every_field_name_the_readers_use_is_documented_or_inventoried() -> None:
    inventoried = _inventoried()
    unlisted = {
        f"{path.relative_to(REPO)}: {name!r}"
        for path in READERS
        for name in _literals(path)
        if name not in DOCUMENTED | NOT_FIELDS | inventoried
    }
    assert not unlisted, (
        "field names read from MsgFlash's answers that are neither documented nor in docs/api-assumptions.md "
        f"(add them to the inventory with what happens when they are absent): {sorted(unlisted)}"
    )


def test_the_scan_sees_the_readers_field_names() -> None:
    """The test above cannot pass by seeing nothing: the undocumented names the readers rely on are found."""
    seen = set().union(*(_literals(p) for p in READERS))
    assert {"lookups", "importedCount", "phoneNumber", "summary", "level"} <= seen
    assert "lookups" not in DOCUMENTED | NOT_FIELDS


def test_every_alias_the_readers_try_is_inventoried() -> None:
    aliases = {
        *NUMBER_FIELDS,
        *IMPORT_COUNT_HOLDERS,
        *(n for names in IMPORT_COUNT_NAMES.values() for n in names),
        *(n for names in LOOKUP_COUNT_NAMES.values() for n in names),
        *CURSOR_FIELDS,
    }
    assert aliases - DOCUMENTED - _inventoried() == set()

"""The answers the provider reads, as types: what each hook method returns.

Documented shapes (and, for undocumented answers, the assumed ones: docs/api-assumptions.md), as ``TypedDict``\\ s
with every key optional: the service may leave a field out, and the readers of :mod:`.shapes` take a missing field
as unknown, never as a default. At run time each is a plain, JSON-able ``dict``.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Instance(TypedDict, total=False):
    """``GET /instances`` item and ``GET /instances/{id}``; ``status``: disconnected, connecting, connected."""

    id: str
    name: str
    waNumber: str
    status: str
    webhook: Any
    meta: Any
    deletedAt: str | None
    createdAt: str
    updatedAt: str


class InstanceState(TypedDict, total=False):
    """``GET /instances/{id}/state``: the live state from the WhatsApp provider."""

    instanceId: str
    status: str
    providerState: str


class InstanceHealth(TypedDict, total=False):
    """``GET /instances/{id}/health`` (field shapes undocumented: read by ``readiness.safety_score`` & co)."""

    safetyState: Any
    safetyScore: Any
    warmupPolicy: Any
    usageWindowSummary: Any
    recommendations: Any


class LookupResult(TypedDict, total=False):
    """A finished lookup's numbers by outcome (strings, or objects holding the number)."""

    onWhatsApp: list[Any]
    notOnWhatsApp: list[Any]
    invalid: list[Any]


class LookupProgress(TypedDict, total=False):
    """``GET /number-lookups/{id}/progress``; ``status``: pending, processing, done, failed, cancelled;
    ``error``: a string or ``{code, message}`` (read with ``shapes.lookup_error``)."""

    id: str
    status: str
    progress: float
    requestedCount: int
    normalizedCount: int
    checkedCount: int
    onWhatsAppCount: int
    notOnWhatsAppCount: int
    invalidCount: int
    error: Any
    createdAt: str
    updatedAt: str
    completedAt: str | None


class Lookup(LookupProgress, total=False):
    """``GET /number-lookups/{id}`` and a list item: the progress fields, ``mode``, ``instanceId``, and once done
    ``result``."""

    mode: str
    instanceId: str
    result: LookupResult


class LookupSubmission(TypedDict, total=False):
    """Submitting a lookup: MsgFlash's create answer (``sync`` with its ``result``, or ``async`` with the
    ``lookupId`` to follow), or one built from a lookup found again, marked ``recovered: True``."""

    mode: str | None
    lookupId: str
    status: str | None
    requested: int | None
    normalized: int
    checked: int
    onWhatsAppCount: int
    notOnWhatsAppCount: int
    invalidCount: int
    result: LookupResult
    message: str
    recovered: bool


class LookupList(TypedDict, total=False):
    """``GET /number-lookups`` (undocumented: read with ``shapes.read_page``, any paging style)."""

    lookups: list[Lookup]
    nextCursor: str | None
    hasMore: bool


class CancelAnswer(TypedDict, total=False):
    """``POST /number-lookups/{id}/cancel``."""

    id: str
    status: str
    completedAt: str


class ImportAnswer(TypedDict, total=False):
    """``POST /number-lookups/{id}/import-contacts`` (undocumented: its counts are read by the import operator)."""

    lookupId: str
    tag: str
    imported: int
    alreadyExisting: int
    skipped: int


class Contact(TypedDict, total=False):
    """``GET /contacts`` item and ``GET /contacts/{id}``."""

    id: str
    name: str
    phone: str
    tags: list[str]
    meta: Any


class ContactList(TypedDict, total=False):
    """``GET /contacts``: one page."""

    contacts: list[Contact]
    total: int
    limit: int
    sort: str
    nextCursor: str | None
    hasMore: bool

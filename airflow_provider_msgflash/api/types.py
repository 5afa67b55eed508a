"""The answers the provider reads, as types: what each hook method returns.

Documented shapes (and, for undocumented answers, the assumed ones: docs/api-assumptions.md), as ``TypedDict``\\ s
with every key optional: the service may leave a field out, and the readers of :mod:`.shapes` take a missing field
as unknown, never as a default. At run time each is a plain, JSON-able ``dict``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

#: The documented statuses (an unknown one is refused where it is read: ``polling.lookup_status``).
InstanceStatus = Literal["disconnected", "connecting", "connected"]
LookupStatus = Literal["pending", "processing", "done", "failed", "cancelled"]


class Instance(TypedDict, total=False):
    """``GET /instances`` item and ``GET /instances/{id}``."""

    id: str
    status: InstanceStatus
    name: str
    waNumber: str
    createdAt: str
    updatedAt: str
    deletedAt: str | None
    webhook: Any
    meta: Any


#: ``GET /instances/{id}/state``: the live state from the WhatsApp provider.
class InstanceState(TypedDict, total=False):
    instanceId: str
    status: InstanceStatus
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


class LookupCounts(TypedDict, total=False):
    """The counters a lookup's answers share (``requested``/``requestedCount``: see ``shapes.LOOKUP_COUNT_NAMES``)."""

    onWhatsAppCount: int
    notOnWhatsAppCount: int
    invalidCount: int


class LookupProgress(LookupCounts, total=False):
    """``GET /number-lookups/{id}/progress``; ``error``: a string or ``{code, message}`` (read with
    ``shapes.lookup_error``)."""

    id: str
    status: LookupStatus
    progress: float
    requestedCount: int
    normalizedCount: int
    checkedCount: int
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


class LookupSubmission(LookupCounts, total=False):
    """Submitting a lookup: MsgFlash's create answer (``sync`` with its ``result``, or ``async`` with the
    ``lookupId`` to follow), or one built from a lookup found again, marked ``recovered: True``."""

    mode: Literal["sync", "async"] | None
    lookupId: str
    status: LookupStatus | None
    requested: int | None
    normalized: int
    checked: int
    result: LookupResult
    message: str
    recovered: bool


#: ``GET /number-lookups`` (undocumented: read with ``shapes.read_page``, in any paging style).
class LookupList(TypedDict, total=False):
    lookups: list[Lookup]
    nextCursor: str | None
    hasMore: bool


#: ``POST /number-lookups/{id}/cancel``.
class CancelAnswer(TypedDict, total=False):
    id: str
    status: Literal["cancelled"]
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

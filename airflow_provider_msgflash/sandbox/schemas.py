"""The API's request bodies and response models, written from MsgFlash's public API documentation (and,
for the answers it does not show, ``docs/api-assumptions.md``), with one model per dialect shape for those
(:func:`response_models`).

Response models are enforced: every route declares one (``response_model=``), FastAPI validates each
answer against it, and an answer outside it (a missing or extra field, a wrong type) is refused with
``500 INTERNAL_ERROR`` instead of reaching the client. They are strict (no coercion: a count sent as
``"3"`` is refused) and closed (``extra="forbid"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.dialects import RENAMED_CURSOR

T = TypeVar("T")

InstanceStatus = Literal["disconnected", "connecting", "connected"]
LookupStatus = Literal["pending", "processing", "done", "failed", "cancelled"]
ContactSort = Literal["-createdAt", "createdAt", "name", "-name", "phone", "-phone"]


class Out(BaseModel):
    """Base of the response models: strict and closed."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Envelope(Out, Generic[T]):
    data: T


class ErrorBody(Out):
    code: str
    message: str
    details: list[Any] | None = None


class ErrorEnvelope(Out):
    error: ErrorBody


# -- instances (doc) ---------------------------------------------------------------------------------
class InstanceOut(Out):
    id: str
    name: str
    waNumber: str
    status: InstanceStatus
    webhook: Any
    meta: Any
    deletedAt: str | None
    createdAt: str
    updatedAt: str


class InstanceStateOut(Out):
    instanceId: str
    status: InstanceStatus
    providerState: Literal["open", "connecting", "close"]


class InstanceHealthOut(Out):
    """Field names documented; their shapes assumed (``safetyState`` a word, ``safetyScore`` 0-100,
    ``recommendations`` strings)."""

    instanceId: str
    safetyState: Literal["healthy", "warning", "at_risk"]
    safetyScore: int = Field(ge=0, le=100)
    warmupPolicy: dict[str, Any]
    usageWindowSummary: dict[str, Any]
    recommendations: list[str]


# -- number lookups ------------------------------------------------------------------------------------
class LookupResult(Out):
    onWhatsApp: list[str]
    notOnWhatsApp: list[str]
    invalid: list[str]


class SyncLookupOut(Out):
    """``200``, fewer than 100 numbers (doc)."""

    mode: Literal["sync"]
    lookupId: str
    status: Literal["done"]
    requested: int
    normalized: int
    checked: int
    onWhatsAppCount: int
    notOnWhatsAppCount: int
    invalidCount: int
    result: LookupResult


class AsyncLookupOut(Out):
    """``202``, 100 numbers or more (doc)."""

    mode: Literal["async"]
    lookupId: str
    status: Literal["pending"]
    requested: int
    message: str


class LookupProgressOut(Out):
    """``GET /number-lookups/{id}/progress`` (doc)."""

    id: str
    status: LookupStatus
    progress: int = Field(ge=0, le=100, description="Percentage of valid numbers checked.")
    requestedCount: int
    normalizedCount: int
    checkedCount: int
    onWhatsAppCount: int
    notOnWhatsAppCount: int
    invalidCount: int
    error: str | None
    createdAt: str
    updatedAt: str
    completedAt: str | None


class CancelOut(Out):
    id: str
    status: Literal["cancelled"]
    completedAt: str


# -- the undocumented answers, in each dialect's shape ---------------------------------------------
class NumberObject(Out):
    number: str


class LookupResultObjects(Out):
    """``result`` with ``{"number": ...}`` items (dialect ``result-objects``)."""

    onWhatsApp: list[NumberObject]
    notOnWhatsApp: list[NumberObject]
    invalid: list[NumberObject]


class LookupErrorObject(Out):
    """A lookup's ``error`` as an object (dialect ``error-object``); canonical: ``"CODE: message"``."""

    code: str
    message: str


class ImportOut(Out):
    """``POST /number-lookups/{id}/import-contacts``, canonical (assumed)."""

    lookupId: str
    tag: str
    imported: int
    alreadyExisting: int
    skipped: int


class ImportCountsOut(Out):
    """Dialect ``import-counts``."""

    lookupId: str
    tag: str
    importedCount: int
    alreadyExistingCount: int
    skippedCount: int


class ImportSummary(Out):
    new: int
    existing: int


class ImportSummaryOut(Out):
    """Dialect ``import-summary``: counts the provider cannot recognise."""

    lookupId: str
    tag: str
    summary: ImportSummary


class SafetyStateObject(Out):
    level: Literal["healthy", "warning", "at_risk"]


class SafetyScoreObject(Out):
    value: int = Field(ge=0, le=100)
    max: Literal[100]


class RecommendationObject(Out):
    code: str
    message: str


class InstanceHealthObjectsOut(Out):
    """Dialect ``health-objects`` (same field names as the documented ones)."""

    instanceId: str
    safetyState: SafetyStateObject
    safetyScore: SafetyScoreObject
    warmupPolicy: dict[str, Any]
    usageWindowSummary: dict[str, Any]
    recommendations: list[RecommendationObject]


@dataclass(frozen=True)
class ResponseModels:
    """The models of the answers dialects may change; every other route has one fixed model."""

    health: Any
    progress: Any
    lookup: Any
    lookup_page: Any
    import_: Any


def _progress_fields(chosen: set[str]) -> dict[str, Any]:
    """The documented progress fields, ``error`` in the shape of the dialect in force."""
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in LookupProgressOut.model_fields.items()}
    if "error-object" in chosen:
        fields["error"] = (LookupErrorObject | None, ...)
    return fields


def _progress(chosen: set[str]) -> Any:
    if "error-object" not in chosen:
        return LookupProgressOut
    return create_model("LookupProgressErrorObjectOut", __base__=Out, **_progress_fields(chosen))


def _lookup_item(chosen: set[str]) -> Any:
    """A lookup as listed (assumed): the documented progress fields, ``mode`` and ``instanceId``."""
    fields = _progress_fields(chosen)
    if "updated-missing" in chosen:
        del fields["updatedAt"]
    if "no-mode" not in chosen:
        fields["mode"] = (Literal["sync", "async"], ...)
    fields["instanceId"] = (str, ...)
    return create_model("LookupItemOut", __base__=Out, **fields)


def _lookup_page(chosen: set[str], item: Any) -> Any:
    """A page of the lookup list: its key (``lookups``, ``items``), then cursor paging (``nextCursor`` or
    ``nextPageToken``, ``hasMore`` unless ``list-no-has-more``) or page numbers; or a plain array."""
    if "list-array" in chosen:
        return list[item]  # type: ignore[valid-type]
    key = "items" if "list-items" in chosen else "lookups"
    name = "LookupItemsPageOut" if key == "items" else "LookupPageOut"
    fields: dict[str, Any] = {key: (list[item], ...)}  # type: ignore[valid-type]
    if "list-page-numbers" in chosen:
        fields.update(page=(int, ...), totalPages=(int, ...), total=(int, ...))
    else:
        fields[RENAMED_CURSOR if "list-cursor-renamed" in chosen else "nextCursor"] = (str | None, ...)
        if "list-no-has-more" not in chosen:
            fields["hasMore"] = (bool, ...)
    return create_model(name, __base__=Out, **fields)


def response_models(names: Iterable[str]) -> ResponseModels:
    """The response models of the dialect-dependent answers under dialects ``names`` (none: canonical)."""
    chosen = set(names)
    item = _lookup_item(chosen)
    result: Any = LookupResultObjects if "result-objects" in chosen else LookupResult
    lookup = create_model("LookupOut", __base__=item, result=(result | None, Field(None, description="Once done.")))
    imports = {"import-counts": ImportCountsOut, "import-summary": ImportSummaryOut}
    return ResponseModels(
        health=InstanceHealthObjectsOut if "health-objects" in chosen else InstanceHealthOut,
        progress=_progress(chosen),
        lookup=lookup,
        lookup_page=_lookup_page(chosen, item),
        import_=next((m for n, m in imports.items() if n in chosen), ImportOut),
    )


# -- contacts and account (doc) ------------------------------------------------------------------------
class ContactOut(Out):
    id: str
    name: str
    phone: str
    tags: list[str]
    meta: Any
    createdAt: str
    updatedAt: str


class ContactPageOut(Out):
    contacts: list[ContactOut]
    total: int
    limit: int
    sort: ContactSort
    nextCursor: str | None
    hasMore: bool


class MeOut(Out):
    id: str
    name: str
    email: str
    plan: str
    monthlyRequestQuota: int | None
    monthlyRequestsUsed: int


# -- request bodies --------------------------------------------------------------------------------------
class LookupCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    instanceId: StrictStr = Field(min_length=1, description="The instance's `id` (from GET /api/v1/instances).")
    numbers: list[StrictStr] = Field(
        min_length=1, max_length=rules.MAX_NUMBERS, description="1 to 10,000 phone numbers in international format."
    )


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tag: StrictStr = Field(pattern=rules.TAG_RE.pattern, description="1-64 letters, digits or - _ . :")


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = Field(min_length=1, max_length=200)
    phone: StrictStr = Field(pattern=rules.E164_RE.pattern, description="E.164, e.g. +41791234567")
    tags: list[Annotated[StrictStr, Field(pattern=rules.TAG_RE.pattern)]] | None = Field(None, max_length=100)
    meta: dict[str, Any] | None = None


# -- admin bodies ----------------------------------------------------------------------------------------
class StatusBody(BaseModel):
    status: InstanceStatus


class HealthBody(BaseModel):
    safetyScore: StrictInt = Field(ge=0, le=100)
    safetyState: Literal["healthy", "warning", "at_risk"] | None = None


class OtherLookupBody(BaseModel):
    """``POST /_sandbox/lookups``: a lookup by another client of the account."""

    instance: StrictStr = Field(min_length=1, description="The instance's id or name.")
    numbers: list[StrictStr] = Field(min_length=1, max_length=rules.MAX_NUMBERS)


class KeyBody(BaseModel):
    key: StrictStr = Field(min_length=1, max_length=500)
    action: Literal["add", "revoke"]
    team_id: StrictStr | None = None

"""The API's request bodies and response models, written from ``msgflash-api.md``.

Response models are enforced: every route declares one (``response_model=``), FastAPI validates each
answer against it, and an answer outside it (a missing or extra field, a wrong type) is refused with
``500 INTERNAL_ERROR`` instead of reaching the client. They are strict (no coercion: a count sent as
``"3"`` is refused) and closed (``extra="forbid"``).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from airflow_provider_msgflash.sandbox import rules

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


class LookupItemOut(LookupProgressOut):
    """An item of ``GET /number-lookups`` (assumed)."""

    mode: Literal["sync", "async"]
    instanceId: str


class LookupOut(LookupItemOut):
    """``GET /number-lookups/{id}`` (assumed)."""

    result: LookupResult | None = Field(None, description="Present once the lookup is done.")


class LookupPageOut(Out):
    """``GET /number-lookups`` (assumed): like the documented lists."""

    lookups: list[LookupItemOut]
    nextCursor: str | None
    hasMore: bool


class CancelOut(Out):
    id: str
    status: Literal["cancelled"]
    completedAt: str


class ImportOut(Out):
    """``POST /number-lookups/{id}/import-contacts`` (assumed)."""

    lookupId: str
    tag: str
    imported: int
    alreadyExisting: int
    skipped: int


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


class KeyBody(BaseModel):
    key: StrictStr = Field(min_length=1, max_length=500)
    action: Literal["add", "revoke"]
    team_id: StrictStr | None = None

"""The MsgFlash routes under ``/api/v1``, as MsgFlash's public API documentation gives them. Each handler
asks the state for its canonical answer, shapes it in the dialects in force, and returns it in the
``{"data": ...}`` envelope; FastAPI checks it against the route's model (for the routes dialects change:
that dialect's model)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response

from airflow_provider_msgflash.sandbox import schemas as s
from airflow_provider_msgflash.sandbox.dialects import DialectSet
from airflow_provider_msgflash.sandbox.errors import SandboxError, validation_error
from airflow_provider_msgflash.sandbox.state import SandboxState

API_PREFIX = "/api/v1"
#: Where the guard leaves the authenticated :class:`~airflow_provider_msgflash.sandbox.keys.Caller`.
CALLER_SCOPE_KEY = "msgflash_sandbox.caller"
F = TypeVar("F", bound=Callable[..., Any])
_LookupLimit = Annotated[int, Query(ge=1, le=100)]
Data = dict[str, Any]

_ERRORS = {
    400: "VALIDATION_ERROR / BAD_REQUEST (or LOOKUP_CANNOT_BE_CANCELLED on cancel)",
    401: "UNAUTHORIZED: key missing, malformed, unknown or revoked; team key without its X-Team-Id",
    403: "TEAM_KEY_REQUIRED (personal key with X-Team-Id) or TEAM_KEY_NOT_ALLOWED",
    404: "NOT_FOUND / LOOKUP_NOT_FOUND",
    409: "CONFLICT",
    429: "API_RATE_LIMIT_EXCEEDED (with Retry-After) or MONTHLY_API_REQUEST_QUOTA_EXCEEDED",
}


def state_of(request: Request) -> SandboxState:
    st: SandboxState = request.app.state.sandbox
    return st


def envelope_of(model: Any) -> Any:
    """``Envelope[model]``: the ``{"data": ...}`` answer holding ``model``."""
    return s.Envelope[model]


def route(
    api: APIRouter,
    method: str,
    path: str,
    model: Any,
    *errors: int,
    tag: str,
    summary: str,
    status: int = 200,
    answers: dict[int, Any] | None = None,
) -> Callable[[F], F]:
    """Register a handler answering ``Envelope[model]`` (enforced), with the error codes it documents
    (401, 403 and 429 apply to every route). Fields the handler leaves out stay out (``exclude_unset``).
    ``answers``: the model of each success status, where a route has several (documentation only)."""
    responses: dict[int | str, dict[str, Any]] = {
        c: {"model": s.ErrorEnvelope, "description": _ERRORS[c]} for c in (401, 403, 429, *errors)
    }
    responses.update({c: {"model": envelope_of(m)} for c, m in (answers or {}).items()})
    return api.api_route(
        path,
        methods=[method],
        tags=[tag],
        summary=summary,
        status_code=status,
        response_model=envelope_of(model),
        response_model_exclude_unset=True,
        responses=responses,
    )


def _instances(api: APIRouter, d: DialectSet, m: s.ResponseModels) -> None:
    tag = "instances"

    @route(api, "GET", "/instances", list[s.InstanceOut], tag=tag, summary="List the account's instances")
    async def list_instances(request: Request) -> Data:
        return {"data": d.shape("instances", [i.public() for i in state_of(request).instances.all()])}

    @route(api, "GET", "/instances/{id}", s.InstanceOut, 404, tag=tag, summary="One instance")
    async def get_instance(request: Request, id: str) -> Data:
        return {"data": d.shape("instance", state_of(request).instances.get(id).public())}

    @route(api, "GET", "/instances/{id}/state", s.InstanceStateOut, 404, tag=tag, summary="Live provider state")
    async def get_instance_state(request: Request, id: str) -> Data:
        return {"data": state_of(request).instances.get(id).state()}

    @route(api, "GET", "/instances/{id}/health", m.health, 404, tag=tag, summary="Warm-up and health")
    async def get_instance_health(request: Request, id: str) -> Data:
        return {"data": d.shape("health", state_of(request).instances.get(id).health())}


def _lookups(api: APIRouter, d: DialectSet, m: s.ResponseModels) -> None:
    tag = "number-lookups"

    @route(
        api,
        "POST",
        "/number-lookups",
        s.SyncLookupOut | s.AsyncLookupOut,
        400,
        404,
        409,
        tag=tag,
        summary="Check which numbers are on WhatsApp: 200 (sync) under 100 numbers, else 202 (async)",
        answers={200: s.SyncLookupOut, 202: s.AsyncLookupOut},
    )
    async def create_number_lookup(request: Request, response: Response, body: s.LookupCreate | None = None) -> Data:
        if body is None:
            raise validation_error("instanceId", "Field required")
        response.status_code, data = state_of(request).create_lookup(body.instanceId, body.numbers)
        return {"data": data}

    @route(api, "GET", "/number-lookups/{id}", m.lookup, 404, tag=tag, summary="A lookup, with result once done")
    async def get_number_lookup(request: Request, id: str) -> Data:
        return {"data": d.shape("lookup", state_of(request).engine.get(id).detail_view())}

    @route(api, "GET", "/number-lookups/{id}/progress", m.progress, 404, tag=tag, summary="Progress")
    async def get_number_lookup_progress(request: Request, id: str) -> Data:
        return {"data": d.shape("progress", state_of(request).engine.get(id).progress_view())}


def _lookup_list(api: APIRouter, d: DialectSet, m: s.ResponseModels) -> None:
    """``GET /number-lookups``: by ``cursor`` (canonical), or by ``page`` number (``list-page-numbers``);
    pages of ``limit`` lookups (``list-short-pages``: shorter)."""
    tag = "number-lookups"
    if d.page_numbers:

        @route(api, "GET", "/number-lookups", m.lookup_page, 400, tag=tag, summary="Lookups, newest first, by page")
        async def list_number_lookups_by_page(
            request: Request, limit: _LookupLimit = 20, page: Annotated[int, Query(ge=1, le=10**9)] = 1
        ) -> Data:
            return {"data": d.shape("lookups", state_of(request).engine.numbered_page(d.page_size(limit), page))}

        return

    @route(api, "GET", "/number-lookups", m.lookup_page, 400, tag=tag, summary="List lookups, newest first")
    async def list_number_lookups(
        request: Request, limit: _LookupLimit = 20, cursor: Annotated[str | None, Query(max_length=1000)] = None
    ) -> Data:
        return {"data": d.shape("lookups", state_of(request).engine.list_page(d.page_size(limit), cursor))}


def _lookup_actions(api: APIRouter, d: DialectSet, m: s.ResponseModels) -> None:
    tag = "number-lookups"

    @route(api, "POST", "/number-lookups/{id}/cancel", s.CancelOut, 400, 404, tag=tag, summary="Cancel a lookup")
    async def cancel_number_lookup(request: Request, id: str) -> Data:
        return {"data": d.shape("cancel", state_of(request).engine.cancel(id))}

    @route(
        api,
        "POST",
        "/number-lookups/{id}/import-contacts",
        m.import_,
        400,
        404,
        409,
        tag=tag,
        summary="Import the numbers found on WhatsApp as contacts with a tag",
    )
    async def import_contacts(request: Request, id: str, body: s.ImportBody | None = None) -> Data:
        if body is None:
            raise validation_error("tag", "Field required")
        return {"data": d.shape("import", state_of(request).import_contacts(id, body.tag))}


def _contacts_and_account(api: APIRouter, d: DialectSet, m: s.ResponseModels) -> None:
    @route(api, "GET", "/contacts", s.ContactPageOut, 400, tag="contacts", summary="List contacts")
    async def list_contacts(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(max_length=1000)] = None,
        search: Annotated[str | None, Query(max_length=200)] = None,
        sort: s.ContactSort = "-createdAt",
    ) -> Data:
        return {"data": d.shape("contacts", state_of(request).contacts.list_page(limit, cursor, search, sort))}

    @route(api, "GET", "/contacts/{id}", s.ContactOut, 404, tag="contacts", summary="One contact")
    async def get_contact(request: Request, id: str) -> Data:
        return {"data": d.shape("contact", state_of(request).contacts.get(id))}

    @route(api, "POST", "/contacts", s.ContactOut, 400, 409, tag="contacts", summary="Create a contact", status=201)
    async def create_contact(request: Request, body: s.ContactCreate | None = None) -> Data:
        if body is None:
            raise validation_error("name", "Field required")
        contact = state_of(request).contacts.create(body.name, body.phone, body.tags, body.meta)
        return {"data": d.shape("contact", contact)}

    @route(api, "GET", "/me", s.MeOut, tag="account", summary="The account behind a personal key")
    async def get_me(request: Request) -> Data:
        caller = request.scope.get(CALLER_SCOPE_KEY)
        if caller is not None and caller.kind == "team":
            raise SandboxError(403, "TEAM_KEY_NOT_ALLOWED", "Team keys cannot use /me; use a personal key.")
        return {"data": state_of(request).me()}


def api_router(dialects: DialectSet) -> APIRouter:
    """Every MsgFlash route, under ``/api/v1``, answering in ``dialects`` (none: the canonical shapes)."""
    api = APIRouter(prefix=API_PREFIX, redirect_slashes=False)
    models = s.response_models(dialects.names)
    for group in (_instances, _lookups, _lookup_list, _lookup_actions, _contacts_and_account):
        group(api, dialects, models)
    return api

"""The sandbox's ASGI application: the MsgFlash routes under ``/api/v1`` (as in ``msgflash-api.md``), the
admin routes under ``/_sandbox/`` (hidden from ``/openapi.json``), and the guard in front of the API
(auth, storm, rate limit, quota, latency, injected errors, dropped connections, request log).

Every answer under ``/api/`` is the documented envelope: ``{"data": ...}`` or
``{"error": {"code", "message", "details"?}}``, FastAPI's own 404/405/422 included.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.state import (
    FAULT_FIELDS,
    INSTANCE_STATUSES,
    Caller,
    SandboxConfig,
    SandboxError,
    SandboxState,
    validation_error,
)

log = logging.getLogger("airflow_provider_msgflash.sandbox")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/v1"
CALLER_SCOPE_KEY = "msgflash_sandbox.caller"
_ADMIN_CLIENTS = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})
_LOCATIONS = ("body", "query", "path", "header", "cookie")

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# Models (request bodies are validated with them; answers are documented with them)
# --------------------------------------------------------------------------------------------------
class Envelope(BaseModel, Generic[T]):
    data: T


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[Any] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class InstanceOut(BaseModel):
    id: str
    name: str
    waNumber: str
    status: Literal["disconnected", "connecting", "connected"]
    webhook: Any = None
    meta: Any = None
    deletedAt: str | None = None
    createdAt: str
    updatedAt: str


class InstanceStateOut(BaseModel):
    instanceId: str
    status: Literal["disconnected", "connecting", "connected"]
    providerState: Literal["open", "connecting", "close"]


class InstanceHealthOut(BaseModel):
    instanceId: str
    safetyState: Literal["healthy", "warning", "at_risk"]
    safetyScore: int = Field(ge=0, le=100)
    warmupPolicy: dict[str, Any]
    usageWindowSummary: dict[str, Any]
    recommendations: list[str]


class LookupCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    instanceId: StrictStr = Field(min_length=1, description="The instance's `id` (from GET /api/v1/instances).")
    numbers: list[StrictStr] = Field(
        min_length=1, max_length=rules.MAX_NUMBERS, description="1 to 10,000 phone numbers in international format."
    )


class LookupResult(BaseModel):
    onWhatsApp: list[str]
    notOnWhatsApp: list[str]
    invalid: list[str]


class SyncLookupOut(BaseModel):
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


class AsyncLookupOut(BaseModel):
    mode: Literal["async"]
    lookupId: str
    status: Literal["pending"]
    requested: int
    message: str


LookupStatus = Literal["pending", "processing", "done", "failed", "cancelled"]


class LookupProgressOut(BaseModel):
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
    mode: Literal["sync", "async"]
    instanceId: str


class LookupOut(LookupItemOut):
    result: LookupResult | None = Field(None, description="Present once the lookup is done.")


class LookupPageOut(BaseModel):
    lookups: list[LookupItemOut]
    nextCursor: str | None
    hasMore: bool


class CancelOut(BaseModel):
    id: str
    status: Literal["cancelled"]
    completedAt: str


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tag: StrictStr = Field(pattern=rules.TAG_RE.pattern, description="1-64 letters, digits or - _ . :")


class ImportOut(BaseModel):
    lookupId: str
    tag: str
    imported: int
    alreadyExisting: int
    skipped: int


class ContactOut(BaseModel):
    id: str
    name: str
    phone: str
    tags: list[str]
    meta: Any = None
    createdAt: str
    updatedAt: str


class ContactPageOut(BaseModel):
    contacts: list[ContactOut]
    total: int
    limit: int
    sort: str
    nextCursor: str | None
    hasMore: bool


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = Field(min_length=1, max_length=200)
    phone: StrictStr = Field(pattern=rules.E164_RE.pattern, description="E.164, e.g. +41791234567")
    tags: list[Annotated[StrictStr, Field(pattern=rules.TAG_RE.pattern)]] | None = Field(None, max_length=100)
    meta: dict[str, Any] | None = None


class MeOut(BaseModel):
    id: str
    name: str
    email: str
    plan: str
    monthlyRequestQuota: int | None
    monthlyRequestsUsed: int


ContactSort = Literal["-createdAt", "createdAt", "name", "-name", "phone", "-phone"]


# Admin bodies
class StatusBody(BaseModel):
    status: Literal["disconnected", "connecting", "connected"]


class KeyBody(BaseModel):
    key: StrictStr = Field(min_length=1, max_length=500)
    action: Literal["add", "revoke"]
    team_id: StrictStr | None = None


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "VALIDATION_ERROR / BAD_REQUEST (or LOOKUP_CANNOT_BE_CANCELLED on cancel)",
        401: "UNAUTHORIZED: key missing, malformed, unknown or revoked; team key without its X-Team-Id",
        403: "TEAM_KEY_REQUIRED (personal key with X-Team-Id) or TEAM_KEY_NOT_ALLOWED",
        404: "NOT_FOUND / LOOKUP_NOT_FOUND",
        409: "CONFLICT",
        429: "API_RATE_LIMIT_EXCEEDED (with Retry-After) or MONTHLY_API_REQUEST_QUOTA_EXCEEDED",
    }
    return {c: {"model": ErrorEnvelope, "description": described[c]} for c in (401, 403, 429, *codes)}


# --------------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------------
def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": data}, status_code=status)


def error_response(exc: SandboxError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


async def send_error(send: Send, exc: SandboxError) -> None:
    body = _dumps(exc.body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _state(request: Request) -> SandboxState:
    st: SandboxState = request.app.state.sandbox
    return st


def _caller(request: Request) -> Caller | None:
    caller: Caller | None = request.scope.get(CALLER_SCOPE_KEY)
    return caller


# --------------------------------------------------------------------------------------------------
# Exception handlers: FastAPI's own errors in the MsgFlash envelope
# --------------------------------------------------------------------------------------------------
async def _on_sandbox_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SandboxError)
    return error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        err = SandboxError(404, "NOT_FOUND", f"No route {where}.")
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
        err = SandboxError(
            405,
            "METHOD_NOT_ALLOWED",
            f"Method {request.method} is not allowed on {request.url.path}"
            + (f" (allowed: {allow})." if allow else "."),
            headers={"Allow": allow} if allow else None,
        )
    else:
        code = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 409: "CONFLICT"}.get(
            exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "BAD_REQUEST"
        )
        err = SandboxError(exc.status_code, code, str(exc.detail))
    return error_response(err)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str]:
    parts = [str(p) for p in loc]
    where = parts[0] if parts and parts[0] in _LOCATIONS else "body"
    rest = parts[1:] if parts and parts[0] in _LOCATIONS else parts
    return ".".join(rest) or where, where


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        ctx = bad_json.get("ctx") or {}
        reason = ctx.get("error") if isinstance(ctx, dict) else None
        return error_response(
            SandboxError(400, "BAD_REQUEST", "Malformed JSON body" + (f": {reason}." if reason else "."))
        )
    details = []
    for e in errors[:20]:
        field, where = _field_of(tuple(e.get("loc") or ()))
        msg = str(e.get("msg") or "invalid")
        if field == "body" and e.get("type") in ("model_attributes_type", "dict_type", "model_type"):
            msg = "the body must be a JSON object (send Content-Type: application/json)"
        details.append({"field": field, "location": where, "message": msg})
    if not details:
        details = [{"field": "body", "location": "body", "message": "invalid request"}]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return error_response(SandboxError(400, "VALIDATION_ERROR", f"Invalid request: {summary}{more}.", details))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("sandbox: unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(SandboxError(500, "INTERNAL_ERROR", "Internal server error (sandbox bug)."))


# --------------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------------
def _api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, redirect_slashes=False)

    @api.get(
        "/instances",
        tags=["instances"],
        summary="List the account's instances",
        response_model=Envelope[list[InstanceOut]],
        responses=_errors(),
    )
    async def list_instances(request: Request) -> JSONResponse:
        return ok(_state(request).list_instances())

    @api.get(
        "/instances/{id}",
        tags=["instances"],
        summary="One instance",
        response_model=Envelope[InstanceOut],
        responses=_errors(404),
    )
    async def get_instance(request: Request, id: str) -> JSONResponse:
        return ok(_state(request).instance(id).public())

    @api.get(
        "/instances/{id}/state",
        tags=["instances"],
        summary="Live state from the WhatsApp provider",
        response_model=Envelope[InstanceStateOut],
        responses=_errors(404),
    )
    async def get_instance_state(request: Request, id: str) -> JSONResponse:
        return ok(_state(request).instance_state(id))

    @api.get(
        "/instances/{id}/health",
        tags=["instances"],
        summary="Warm-up guidance and sending health",
        response_model=Envelope[InstanceHealthOut],
        responses=_errors(404),
    )
    async def get_instance_health(request: Request, id: str) -> JSONResponse:
        return ok(_state(request).instance(id).health())

    @api.post(
        "/number-lookups",
        tags=["number-lookups"],
        summary="Check which numbers are on WhatsApp (sync under 100 numbers, else async)",
        status_code=200,
        response_model=Envelope[SyncLookupOut],
        responses={
            202: {"model": Envelope[AsyncLookupOut], "description": "100 numbers or more: processed in background"},
            **_errors(400, 404, 409),
        },
    )
    async def create_number_lookup(request: Request, body: LookupCreate | None = None) -> JSONResponse:
        if body is None:
            raise validation_error("instanceId", "Field required")
        status, data = _state(request).create_lookup(body.instanceId, body.numbers)
        return ok(data, status)

    @api.get(
        "/number-lookups",
        tags=["number-lookups"],
        summary="List lookups, newest first",
        response_model=Envelope[LookupPageOut],
        responses=_errors(400),
    )
    async def list_number_lookups(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> JSONResponse:
        return ok(_state(request).list_lookups(limit, cursor))

    @api.get(
        "/number-lookups/{id}",
        tags=["number-lookups"],
        summary="A lookup: progress fields, mode, instanceId and (once done) result",
        response_model=Envelope[LookupOut],
        responses=_errors(404),
    )
    async def get_number_lookup(request: Request, id: str) -> JSONResponse:
        return ok(_state(request).lookup(id).detail_view())

    @api.get(
        "/number-lookups/{id}/progress",
        tags=["number-lookups"],
        summary="Progress of a lookup (poll every 2 s)",
        response_model=Envelope[LookupProgressOut],
        responses=_errors(404),
    )
    async def get_number_lookup_progress(request: Request, id: str) -> JSONResponse:
        return ok(_state(request).lookup(id).progress_view())

    @api.post(
        "/number-lookups/{id}/cancel",
        tags=["number-lookups"],
        summary="Cancel a pending or processing lookup",
        response_model=Envelope[CancelOut],
        responses=_errors(400, 404),
    )
    async def cancel_number_lookup(request: Request, id: str) -> JSONResponse:
        return ok(_state(request).cancel_lookup(id))

    @api.post(
        "/number-lookups/{id}/import-contacts",
        tags=["number-lookups"],
        summary="Import the numbers found on WhatsApp as contacts with a tag",
        response_model=Envelope[ImportOut],
        responses=_errors(400, 404, 409),
    )
    async def import_contacts(request: Request, id: str, body: ImportBody | None = None) -> JSONResponse:
        st = _state(request)
        if body is None:
            raise validation_error("tag", "Field required")
        return ok(st.import_contacts(id, body.tag))

    @api.get(
        "/contacts",
        tags=["contacts"],
        summary="List contacts",
        response_model=Envelope[ContactPageOut],
        responses=_errors(400),
    )
    async def list_contacts(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(max_length=1000)] = None,
        search: Annotated[str | None, Query(max_length=200)] = None,
        sort: ContactSort = "-createdAt",
    ) -> JSONResponse:
        return ok(_state(request).list_contacts(limit, cursor, search, sort))

    @api.get(
        "/contacts/{id}",
        tags=["contacts"],
        summary="One contact",
        response_model=Envelope[ContactOut],
        responses=_errors(404),
    )
    async def get_contact(request: Request, id: str) -> JSONResponse:
        return ok(_state(request).contact(id))

    @api.post(
        "/contacts",
        tags=["contacts"],
        summary="Create a contact",
        status_code=201,
        response_model=Envelope[ContactOut],
        responses=_errors(400, 409),
    )
    async def create_contact(request: Request, body: ContactCreate | None = None) -> JSONResponse:
        if body is None:
            raise validation_error("name", "Field required")
        return ok(_state(request).create_contact(body.name, body.phone, body.tags, body.meta), 201)

    @api.get(
        "/me",
        tags=["account"],
        summary="The account behind a personal key (team keys: 403 TEAM_KEY_NOT_ALLOWED)",
        response_model=Envelope[MeOut],
        responses=_errors(),
    )
    async def get_me(request: Request) -> JSONResponse:
        caller = _caller(request)
        if caller is not None and caller.kind == "team":
            raise SandboxError(403, "TEAM_KEY_NOT_ALLOWED", "Team keys cannot use /me; use a personal key.")
        return ok(_state(request).me())

    return api


def _admin_router() -> APIRouter:
    admin = APIRouter(prefix="/_sandbox", include_in_schema=False, redirect_slashes=False)

    @admin.post("/reset")
    async def reset(request: Request, faults: bool = False) -> JSONResponse:
        st = _state(request)
        await st.reset(faults=faults)
        return ok({"reset": True, "faults": st.faults.to_dict()})

    @admin.get("/faults")
    async def get_faults(request: Request) -> JSONResponse:
        return ok(_state(request).faults.to_dict())

    @admin.post("/faults")
    async def set_faults(request: Request, body: dict[str, Any]) -> JSONResponse:
        st = _state(request)
        unknown = sorted(set(body) - set(FAULT_FIELDS))
        if unknown:
            raise validation_error(unknown[0], f"unknown fault switch; known: {', '.join(FAULT_FIELDS)}")
        try:
            st.faults.update(body)
        except ValueError as e:
            name = next((n for n in FAULT_FIELDS if str(e).startswith(n)), "body")
            raise validation_error(name, str(e)) from None
        return ok(st.faults.to_dict())

    @admin.get("/config")
    async def get_config(request: Request) -> JSONResponse:
        cfg = _state(request).config.to_dict()
        cfg["api_keys"] = [rules.key_fingerprint(k) for k in cfg["api_keys"]]
        cfg["team_keys"] = [rules.key_fingerprint(k) for k in cfg["team_keys"]]
        return ok(cfg)

    @admin.post("/instances/{ref}/status")
    async def set_instance_status(request: Request, ref: str, body: StatusBody) -> JSONResponse:
        return ok(_state(request).set_instance_status(ref, body.status))

    @admin.post("/keys")
    async def keys(request: Request, body: KeyBody) -> JSONResponse:
        ring = _state(request).keys
        kind = ring.add(body.key, body.team_id) if body.action == "add" else ring.revoke(body.key)
        return ok({"action": body.action, "kind": kind, "key": rules.key_fingerprint(body.key)})

    @admin.get("/state")
    async def state(request: Request) -> JSONResponse:
        return ok(_state(request).summary())

    @admin.get("/requests")
    async def requests(request: Request, limit: Annotated[int, Query(ge=1)] = 1000) -> JSONResponse:
        log_ = list(_state(request).request_log)
        return ok(log_[-limit:])

    @admin.get("/contacts")
    async def contacts(request: Request) -> JSONResponse:
        return ok(_state(request).contacts_dump())

    return admin


# --------------------------------------------------------------------------------------------------
# The guard in front of /api/
# --------------------------------------------------------------------------------------------------
class _DropFilter(logging.Filter):
    """uvicorn complains when an app returns without answering: that is the point of ``drop_rate``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ASGI callable returned without" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_DropFilter())


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the client's connection with no (complete) answer."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        for _ in range(3):
            await asyncio.sleep(0)  # let the server notice the disconnect
        return
    # Not under uvicorn: promise a body and never deliver it; the server then closes the connection.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"data":', "more_body": True})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or ():
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


class Guard:
    """ASGI middleware: admin routes for loopback clients only; for ``/api/``: latency, auth, storm,
    rate limit, quota, injected errors, dropped connections, and the request log/counters."""

    def __init__(self, app: ASGIApp, state: SandboxState, router: Any) -> None:
        self.app = app
        self.state = state
        self.router = router

    def _route_template(self, scope: Scope) -> str:
        partial = None
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", "?"))
            if match == Match.PARTIAL and partial is None:
                partial = str(getattr(route, "path", "?"))
        return partial or "(unmatched)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_sandbox"):
            client = scope.get("client")
            if client and client[0] not in _ADMIN_CLIENTS:
                await send_error(send, SandboxError(403, "FORBIDDEN", "The admin API answers loopback clients only."))
                return
            await self.app(scope, receive, send)
            return
        if not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        await self._api(scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.state
        started = time.time()
        method: str = scope["method"]
        path: str = scope["path"]
        route = self._route_template(scope)
        key = _header(scope, b"x-api-key")
        delay = st.latency()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            caller = st.keys.authenticate(key, _header(scope, b"x-team-id"), _header(scope, b"authorization"))
            st.admit(caller)
            injected = st.injected_error()
            if injected is not None:
                raise injected
        except SandboxError as e:
            await send_error(send, e)
            st.record(method, path, route, e.status, key, started, False)
            return
        scope[CALLER_SCOPE_KEY] = caller
        status = 0
        started_response = False

        if st.should_drop():

            async def swallow(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])

            try:
                await self.app(scope, receive, swallow)
            except Exception:
                log.exception("sandbox: unexpected error on %s %s", method, path)
            await _drop_connection(receive, send)
            st.record(method, path, route, status, key, started, True)
            return

        async def forward(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = int(message["status"])
                started_response = True
            await send(message)

        try:
            await self.app(scope, receive, forward)
        except Exception:
            log.exception("sandbox: unexpected error on %s %s", method, path)
            if not started_response:
                status = 500
                await send_error(send, SandboxError(500, "INTERNAL_ERROR", "Internal server error (sandbox bug)."))
        st.record(method, path, route, status, key, started, False)


# --------------------------------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------------------------------
def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """The sandbox as an ASGI app (serve it with uvicorn on a loopback address)."""
    cfg = config or SandboxConfig()
    state = SandboxState(cfg)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    kwargs: dict[str, Any] = {}
    if "strict_content_type" in inspect.signature(FastAPI.__init__).parameters:
        kwargs["strict_content_type"] = False  # a JSON body without Content-Type is still read as JSON
    app = FastAPI(
        title="MsgFlash API (local sandbox)",
        version="v1",
        description=(
            "A local stand-in for the MsgFlash public API (https://srv.msgflash.com/api/v1) as the "
            "airflow-provider-msgflash uses it. Authenticate with the `x-api-key` header. "
            "A valid number is on WhatsApp iff its last digit is even."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
        **kwargs,
    )
    app.router.redirect_slashes = False
    app.state.sandbox = state
    app.include_router(_api_router())
    app.include_router(_admin_router())
    app.add_exception_handler(SandboxError, _on_sandbox_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(Guard, state=state, router=app.router)
    app.openapi_schema = None
    _add_security_scheme(app)
    return app


def _add_security_scheme(app: FastAPI) -> None:
    """Describe ``x-api-key`` (and ``X-Team-Id``) in the OpenAPI document."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base_openapi()
        components = schema.setdefault("components", {})
        components["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            "TeamId": {"type": "apiKey", "in": "header", "name": "X-Team-Id"},
        }
        schema["security"] = [{"ApiKey": []}, {"ApiKey": [], "TeamId": []}]
        schema["servers"] = [{"url": "/"}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["API_PREFIX", "INSTANCE_STATUSES", "create_app"]

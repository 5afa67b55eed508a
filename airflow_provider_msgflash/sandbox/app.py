"""The sandbox's ASGI application, assembled: the MsgFlash routes (``routes.py``), the admin routes
(``admin.py``), the guard in front (``guard.py``), and exception handlers that answer every failure
under ``/api/``, FastAPI's own 404/405/422 included, in the documented envelope
``{"error": {"code", "message", "details"?}}``.

Each dialect in use gets its own FastAPI application over the one shared state, so FastAPI enforces
(and ``/openapi.json`` publishes) the response models of the dialect in force; switching the dialect
while running sends the next request to the other application.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_msgflash.sandbox.admin import admin_router
from airflow_provider_msgflash.sandbox.config import SandboxConfig
from airflow_provider_msgflash.sandbox.dialects import DialectSet
from airflow_provider_msgflash.sandbox.errors import SandboxError
from airflow_provider_msgflash.sandbox.guard import INTERNAL_ERROR, Guard, Receive, Scope, Send
from airflow_provider_msgflash.sandbox.routes import api_router
from airflow_provider_msgflash.sandbox.state import SandboxState

log = logging.getLogger("airflow_provider_msgflash.sandbox")

_LOCATIONS = ("body", "query", "path", "header", "cookie")
_HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT"}


def error_response(exc: SandboxError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


async def _on_sandbox_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SandboxError)
    return error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(SandboxError(404, "NOT_FOUND", f"No route {request.method} {request.url.path}."))
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
        message = f"Method {request.method} is not allowed on {request.url.path}"
        message += f" (allowed: {allow})." if allow else "."
        headers = {"Allow": allow} if allow else None
        return error_response(SandboxError(405, "METHOD_NOT_ALLOWED", message, headers=headers))
    code = _HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "BAD_REQUEST")
    return error_response(SandboxError(exc.status_code, code, str(exc.detail)))


def _field_of(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str]:
    parts = [str(p) for p in loc]
    where = parts[0] if parts and parts[0] in _LOCATIONS else "body"
    rest = parts[1:] if parts and parts[0] in _LOCATIONS else parts
    return ".".join(rest) or where, where


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A bad request: ``400 BAD_REQUEST`` (not JSON) or ``400 VALIDATION_ERROR`` naming each bad field."""
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


async def _on_answer_outside_contract(request: Request, exc: Exception) -> JSONResponse:
    """The sandbox tried to answer outside its response model: a sandbox bug, refused with a 500."""
    assert isinstance(exc, ResponseValidationError)
    log.error(
        "sandbox: the answer to %s %s is outside its response model, refused: %s",
        request.method,
        request.url.path,
        "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5]),
    )
    return error_response(
        SandboxError(500, "INTERNAL_ERROR", "Internal server error (sandbox bug: answer outside its contract).")
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("sandbox: unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(INTERNAL_ERROR)


def build_app(state: SandboxState, dialect: tuple[str, ...] = ()) -> FastAPI:
    """One FastAPI application over ``state``, answering in ``dialect``: its routes' response models
    (enforced, and published in its ``/openapi.json``) are that dialect's."""
    kwargs: dict[str, Any] = {}
    if "strict_content_type" in inspect.signature(FastAPI.__init__).parameters:
        kwargs["strict_content_type"] = False  # a JSON body without Content-Type is still read as JSON
    app = FastAPI(
        title="MsgFlash API (local sandbox)",
        version="v1",
        description=(
            "A local stand-in for the MsgFlash public API (https://srv.msgflash.com/api/v1) as the "
            "airflow-provider-msgflash uses it. Authenticate with the `x-api-key` header. "
            "A valid number is on WhatsApp iff its last digit is even. "
            f"Dialect: {', '.join(dialect) or 'none (the canonical shapes)'}."
        ),
        docs_url="/docs",
        redoc_url=None,
        **kwargs,
    )
    app.router.redirect_slashes = False
    app.state.sandbox = state
    app.include_router(api_router(DialectSet(dialect)))
    app.include_router(admin_router())
    app.add_exception_handler(SandboxError, _on_sandbox_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ResponseValidationError, _on_answer_outside_contract)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(Guard, state=state, router=app.router)
    _add_security_scheme(app)
    return app


class SandboxApp:
    """The ASGI application a server runs: the sandbox's state, and one FastAPI application per dialect
    in use (built on first use), to which each request goes according to the dialect in force."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.state = SandboxState(config or SandboxConfig())
        self._apps: dict[tuple[str, ...], FastAPI] = {}
        self.app_for(self.state.dialect)

    def app_for(self, dialect: tuple[str, ...]) -> FastAPI:
        app = self._apps.get(dialect)
        if app is None:
            app = self._apps[dialect] = build_app(self.state, dialect)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.app_for(self.state.dialect)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.state.stop()  # background lookups end with the server
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """The sandbox as an ASGI app (serve it with uvicorn on a loopback address)."""
    return SandboxApp(config)


def _add_security_scheme(app: FastAPI) -> None:
    """Describe ``x-api-key`` (and ``X-Team-Id``) in the OpenAPI document."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            schema = base_openapi()
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "TeamId": {"type": "apiKey", "in": "header", "name": "X-Team-Id"},
            }
            schema["security"] = [{"ApiKey": []}, {"ApiKey": [], "TeamId": []}]
            schema["servers"] = [{"url": "/"}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

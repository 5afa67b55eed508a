"""The ASGI guard in front of the application: admin routes for loopback clients only; for ``/api/``
requests, in this order: the gateway's own answers (outage, unavailable routes, gateway 429), latency,
authentication, 429 storm, rate limit, quota, injected errors, the route itself, then a dropped
connection or a gateway error replacing a create's answer, then the request log."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.routing import Match

from airflow_provider_msgflash.sandbox.errors import SandboxError
from airflow_provider_msgflash.sandbox.gateway import send_gateway_page
from airflow_provider_msgflash.sandbox.routes import CALLER_SCOPE_KEY
from airflow_provider_msgflash.sandbox.state import SandboxState

log = logging.getLogger("airflow_provider_msgflash.sandbox")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ADMIN_CLIENTS = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})
INTERNAL_ERROR = SandboxError(500, "INTERNAL_ERROR", "Internal server error (sandbox bug).")


async def send_error(send: Send, exc: SandboxError) -> None:
    """Answer ``exc`` in the error envelope, straight on the ASGI channel."""
    body = json.dumps(exc.body(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


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
    """ASGI middleware around the FastAPI application (``router``: its routes, for the request log)."""

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
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/_sandbox", "/api/")):
            await self.app(scope, receive, send)
        elif path.startswith("/_sandbox"):
            client = scope.get("client")
            if client and client[0] not in _ADMIN_CLIENTS:
                await send_error(send, SandboxError(403, "FORBIDDEN", "The admin API answers loopback clients only."))
                return
            await self.app(scope, receive, send)
        else:
            await self._api(scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        traffic = self.state.traffic
        started = time.time()
        method: str = scope["method"]
        route = self._route_template(scope)
        key = _header(scope, b"x-api-key")

        def record(status: int, **kw: Any) -> None:
            traffic.record(method, scope["path"], route, status, key, started, **kw)

        gate = traffic.gateway_before(method, route)
        if gate is not None:
            await send_gateway_page(send, gate)
            record(gate.status)
            return
        delay = traffic.latency()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            caller = self.state.keys.authenticate(key, _header(scope, b"x-team-id"), _header(scope, b"authorization"))
            traffic.admit(caller)
            injected = traffic.injected_error()
            if injected is not None:
                raise injected
        except SandboxError as e:
            await send_error(send, e)
            record(e.status)
            return
        scope[CALLER_SCOPE_KEY] = caller
        dropped = traffic.should_drop()
        gate = None if dropped else traffic.gateway_after(method, route)
        status = await self._run_app(scope, receive, send, forward=not dropped and gate is None)
        if dropped:
            await _drop_connection(receive, send)
        elif gate is not None:
            await send_gateway_page(send, gate)
        record(gate.status if gate is not None else status, dropped=dropped, route_status=status)

    async def _run_app(self, scope: Scope, receive: Receive, send: Send, forward: bool) -> int:
        """Run the route (its answer forwarded, or swallowed for a dropped connection); its status."""
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            if forward:
                await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("sandbox: unexpected error on %s %s", scope["method"], scope["path"])
            if forward and not status:
                status = 500
                await send_error(send, INTERNAL_ERROR)
        return status

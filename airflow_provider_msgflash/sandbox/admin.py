"""The admin routes under ``/_sandbox/`` (loopback clients only, no key, not in ``/openapi.json``):
what :class:`~airflow_provider_msgflash.sandbox.handle.SandboxHandle` calls to reset the sandbox, flip
switches and read what it saw. Answers are ``{"data": ...}``; failures the API's error envelope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.config import FAULT_FIELDS
from airflow_provider_msgflash.sandbox.errors import validation_error
from airflow_provider_msgflash.sandbox.routes import state_of
from airflow_provider_msgflash.sandbox.schemas import HealthBody, KeyBody, OtherLookupBody, StatusBody
from airflow_provider_msgflash.sandbox.state import SandboxState


def ok(data: Any) -> JSONResponse:
    """``{"data": data}`` as is: admin answers are the sandbox's own, not the MsgFlash contract (and the
    request log can be large: no per-item encoding)."""
    return JSONResponse({"data": data})


def _config(st: SandboxState) -> dict[str, Any]:
    """The configuration in force: the start configuration (keys as fingerprints), the current dialect."""
    cfg = st.config.to_dict()
    cfg["api_keys"] = [rules.key_fingerprint(k) for k in cfg["api_keys"]]
    cfg["team_keys"] = [rules.key_fingerprint(k) for k in cfg["team_keys"]]
    cfg["dialect"] = list(st.dialect)
    return cfg


def admin_router() -> APIRouter:
    admin = APIRouter(prefix="/_sandbox", include_in_schema=False, redirect_slashes=False)
    _switches(admin)
    _reads(admin)
    return admin


def _switches(admin: APIRouter) -> None:
    @admin.post("/reset")
    async def reset(request: Request, faults: bool = False) -> JSONResponse:
        st = state_of(request)
        await st.reset(faults=faults)
        return ok({"reset": True, "faults": st.faults.to_dict()})

    @admin.post("/faults")
    async def set_faults(request: Request, body: dict[str, Any]) -> JSONResponse:
        unknown = sorted(set(body) - set(FAULT_FIELDS))
        if unknown:
            raise validation_error(unknown[0], f"unknown fault switch; known: {', '.join(FAULT_FIELDS)}")
        try:
            return ok(state_of(request).set_faults(body))
        except ValueError as e:
            first = str(e).split(" ", 1)[0].rstrip(":")
            raise validation_error(first if first in FAULT_FIELDS else "body", str(e)) from None

    @admin.post("/config")
    async def set_config(request: Request, body: dict[str, Any]) -> JSONResponse:
        st = state_of(request)
        other = sorted(set(body) - {"dialect"})
        if other:
            raise validation_error(other[0], "only 'dialect' changes while running; the rest is set at start")
        try:
            st.set_dialect(body.get("dialect"))
        except ValueError as e:
            raise validation_error("dialect", str(e).removeprefix("dialect: ")) from None
        return ok(_config(st))

    @admin.post("/instances/{ref}/status")
    async def set_instance_status(request: Request, ref: str, body: StatusBody) -> JSONResponse:
        return ok(state_of(request).instances.set_status(ref, body.status))

    @admin.post("/instances/{ref}/health")
    async def set_instance_health(request: Request, ref: str, body: HealthBody) -> JSONResponse:
        return ok(state_of(request).instances.set_health(ref, body.safetyScore, body.safetyState))

    @admin.post("/lookups")
    async def create_other_lookup(request: Request, body: OtherLookupBody) -> JSONResponse:
        return ok(state_of(request).create_other_lookup(body.instance, body.numbers))

    @admin.post("/keys")
    async def keys(request: Request, body: KeyBody) -> JSONResponse:
        ring = state_of(request).keys
        kind = ring.add(body.key, body.team_id) if body.action == "add" else ring.revoke(body.key)
        return ok({"action": body.action, "kind": kind, "key": rules.key_fingerprint(body.key)})


def _reads(admin: APIRouter) -> None:
    @admin.get("/faults")
    async def get_faults(request: Request) -> JSONResponse:
        return ok(state_of(request).faults.to_dict())

    @admin.get("/config")
    async def get_config(request: Request) -> JSONResponse:
        return ok(_config(state_of(request)))

    @admin.get("/state")
    async def state(request: Request) -> JSONResponse:
        return ok(state_of(request).summary())

    @admin.get("/requests")
    async def requests(request: Request, limit: Annotated[int, Query(ge=1)] = 1000) -> JSONResponse:
        return ok(list(state_of(request).traffic.request_log)[-limit:])

    @admin.get("/contacts")
    async def contacts(request: Request) -> JSONResponse:
        return ok(state_of(request).contacts.dump())

"""Instance readiness and health rules: is the WhatsApp instance connected, and healthy enough, to run a lookup?

Used by the lookup operator before each run, by the readiness sensor and by its trigger.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.api.shapes import keys_of, note_shape
from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashError, MsgFlashNotFoundError

if TYPE_CHECKING:
    from airflow_provider_msgflash.api.types import Instance, InstanceState
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook

HEALTH_POLICIES = ("ignore", "warn", "fail")
#: ``wait_ready(instance_id, timeout) -> (state, why not ready or None)``: waits for an instance.
WaitReady = Callable[[str, float], "tuple[Any, str | None]"]
#: What an instance id looks like (a UUID): such a reference is used as is, without listing instances.
INSTANCE_ID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def looks_like_instance_id(ref: Any) -> bool:
    """Whether ``ref`` has the form of an instance id, so no list request is needed to find it."""
    return isinstance(ref, str) and INSTANCE_ID_RE.match(ref.strip()) is not None


async def aresolve_instance_id(hook: MsgFlashAsyncHook, instance_ref: str) -> str:
    """The id of the instance named by ``instance_ref`` (an id is used as is: no request)."""
    ref = instance_ref.strip() if isinstance(instance_ref, str) else instance_ref
    if looks_like_instance_id(ref):
        return str(ref)
    return str((await hook.resolve_instance(ref))["id"])


def instance_state(hook: MsgFlashHook, instance_ref: str) -> tuple[Instance, InstanceState]:
    """``(instance, state)`` for an instance named by id, name or waNumber, in as few requests as
    possible: an id is asked for its state directly (one request; only if it is unknown is the list read,
    to name the instances that exist); a name or waNumber is resolved through the list first."""
    ref = instance_ref.strip() if isinstance(instance_ref, str) else instance_ref
    if looks_like_instance_id(ref):
        try:
            return {"id": str(ref)}, hook.get_instance_state(ref)
        except MsgFlashNotFoundError:
            hook.resolve_instance(ref)  # raises, naming the instances this key can see
            raise
    instance = hook.resolve_instance(ref)
    return instance, hook.get_instance_state(str(instance["id"]))


# -- the health answer's fields (shapes undocumented: docs/api-assumptions.md) -----------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def safety_score(health: Any) -> float | None:
    """``safetyScore`` on the 0-100 scale: a number, or an object ``{"value", "max"?}`` (also
    ``score``/``current``; scaled to 100 when ``max`` says otherwise). None when absent or unreadable."""
    raw = health.get("safetyScore") if isinstance(health, Mapping) else None
    if not isinstance(raw, Mapping):
        return _number(raw)
    value = next((v for v in (_number(raw.get(k)) for k in ("value", "score", "current")) if v is not None), None)
    top = _number(raw.get("max"))
    if value is not None and top is not None and top > 0 and top != 100:
        value = value * 100.0 / top
    if value is not None:
        note_shape("GET /instances/{id}/health", "safetyScore as an object")
    return value


def health_state(health: Any) -> str | None:
    """``safetyState``: a string, or an object holding it (``level``, ``state``, ``value``, ``name``)."""
    raw = health.get("safetyState") if isinstance(health, Mapping) else None
    if isinstance(raw, str) or raw is None:
        return raw
    if isinstance(raw, Mapping):
        found = next((v for v in (raw.get(k) for k in ("level", "state", "value", "name")) if isinstance(v, str)), None)
        if found is not None:
            note_shape("GET /instances/{id}/health", "safetyState as an object")
            return found
    return json.dumps(raw, default=str)[:80]


def health_recommendations(health: Any) -> list[str]:
    """``recommendations`` as text: strings, or objects ``{"code", "message"}`` (``"message (code)"``)."""
    raw = health.get("recommendations") if isinstance(health, Mapping) else None
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    out = []
    for item in items:
        if isinstance(item, Mapping):
            message, code = item.get("message") or item.get("text"), item.get("code")
            out.append(f"{message} ({code})" if message and code else str(message or code or dict(item)))
            note_shape("GET /instances/{id}/health", "recommendations as objects")
        else:
            out.append(str(item))
    return out


def check_health_policy(health_policy: str, min_safety_score: float | None) -> None:
    """Refuse a bad ``health_policy`` / ``min_safety_score`` at DAG parse time."""
    if health_policy not in HEALTH_POLICIES:
        raise MsgFlashConfigError(
            f"`health_policy` must be one of {', '.join(HEALTH_POLICIES)}, got {health_policy!r}.",
            code="BAD_ARGUMENT",
        )
    if min_safety_score is not None and not (
        isinstance(min_safety_score, int | float) and 0 <= min_safety_score <= 100
    ):
        raise MsgFlashConfigError(
            f"`min_safety_score` must be a number from 0 to 100, got {min_safety_score!r}.",
            code="BAD_ARGUMENT",
        )


def describe_health(health: Any) -> str:
    """``safetyState=healthy, safetyScore=92; recommendations: ...`` from whatever the API gave (each field
    as a scalar or an object, see :mod:`~airflow_provider_msgflash.api.shapes`)."""
    if not isinstance(health, dict):
        return f"unreadable health answer {health!r:.80}"
    score, state = safety_score(health), health_state(health)
    parts = [f"safetyState={state}"] if state is not None else []
    if score is not None:
        parts.append(f"safetyScore={score:g}")
    elif "safetyScore" in health:
        parts.append(f"safetyScore unreadable ({health['safetyScore']!r:.60})")
    text = ", ".join(parts) or f"no safety figures (keys: {keys_of(health)})"
    recs = health_recommendations(health)
    if recs:
        text += "; recommendations: " + "; ".join(recs[:5])
    return text


def small_health(health: Any) -> dict[str, Any] | None:
    """``{"safetyState", "safetyScore"}`` read from a health answer (for events and XCom), None without one."""
    if not isinstance(health, dict):
        return None
    return {"safetyState": health_state(health), "safetyScore": safety_score(health)}


def readiness_problem(instance_id: str, state: Any, health: Any, min_safety_score: float | None) -> str | None:
    """Why the instance cannot run a lookup now (None when it can)."""
    status = state.get("status") if isinstance(state, dict) else None
    if status != "connected":
        return (
            f"instance {instance_id} is {status or 'in an unknown state'}"
            f" (providerState: {state.get('providerState') if isinstance(state, dict) else None}); "
            "only a connected instance can look numbers up. Connect it in the MsgFlash dashboard "
            "(scan the QR code) or wait with MsgFlashInstanceReadySensor / readiness_timeout."
        )
    if min_safety_score is not None:
        score = safety_score(health)
        if score is None:
            return (
                f"instance {instance_id} safetyScore is unknown (min_safety_score {min_safety_score} cannot be "
                f"checked): {describe_health(health)}"
            )
        if score < min_safety_score:
            return (
                f"instance {instance_id} safetyScore is {score:g} (below min_safety_score "
                f"{min_safety_score}): {describe_health(health)}"
            )
    return None


def _connected(instance_id: str, label: str, state: Any, timeout: float, wait_ready: WaitReady | None, log: Any) -> Any:
    """The instance's state once ``connected`` (``state``: the one just read): at once, or after waiting up
    to ``timeout`` seconds with ``wait_ready``; raises ``INSTANCE_NOT_READY`` otherwise."""
    problem = readiness_problem(instance_id, state, None, None)
    if problem is not None and timeout > 0 and wait_ready is not None:
        log.info("Instance %s not ready yet (%s); waiting up to %.0f s.", label, state.get("status"), timeout)
        state, problem = wait_ready(instance_id, timeout)
    if problem is not None:
        waited = f" after waiting {timeout:.0f} s" if timeout > 0 else ""
        raise MsgFlashError(f"Instance {label} is not ready{waited}: {problem}", code="INSTANCE_NOT_READY")
    log.info("Instance %s is %s (providerState %s).", label, state.get("status"), state.get("providerState"))
    return state


def _judge_health(
    hook: MsgFlashHook, instance_id: str, label: str, state: Any, policy: str, floor: float | None, log: Any
) -> Any:
    """Read the health (unless ``policy`` is ``ignore``) and apply the policy; returns the health."""
    if policy == "ignore":
        return None
    try:
        health = hook.get_instance_health(instance_id)
    except MsgFlashError as e:
        if policy == "fail":
            raise
        log.warning("Could not read the health of instance %s (%s); going on.", label, e)
        return None
    log.info("Instance %s health: %s", label, describe_health(health))
    problem = readiness_problem(instance_id, state, health, floor) if floor is not None else None
    if problem and policy == "fail":
        raise MsgFlashError(
            f"Instance {label} is not healthy enough (health_policy='fail'): {problem}", code="INSTANCE_UNHEALTHY"
        )
    if problem:
        log.warning("Instance %s: %s (health_policy='warn', going on).", label, problem)
    return health


def gate_instance(
    hook: MsgFlashHook,
    instance_ref: str,
    *,
    health_policy: str = "warn",
    min_safety_score: float | None = None,
    readiness_timeout: float = 0,
    wait_ready: WaitReady | None = None,
    log: logging.Logger | Any,
) -> dict[str, Any]:
    """Resolve ``instance_ref`` (id, name or waNumber), check its live state and health.

    Waits up to ``readiness_timeout`` seconds for ``connected`` with ``wait_ready`` (the lookup operator runs
    the readiness trigger inline: the one polling loop for instance state); applies ``health_policy``
    (``ignore``: don't read health; ``warn``: log when below ``min_safety_score``; ``fail``: raise).
    Returns ``{"instance", "state", "health"}``; raises :class:`MsgFlashError` with the reason.
    """
    instance, state = instance_state(hook, instance_ref)
    instance_id = str(instance["id"])
    label = (
        f"{instance.get('name')!r} ({instance_id}, {instance.get('waNumber')})" if "name" in instance else instance_id
    )
    state = _connected(instance_id, label, state, readiness_timeout, wait_ready, log)
    health = _judge_health(hook, instance_id, label, state, health_policy, min_safety_score, log)
    return {"instance": instance, "state": state, "health": health}

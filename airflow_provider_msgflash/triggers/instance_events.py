"""Event-driven readiness: an event trigger for Airflow 3's event-driven scheduling that fires when a WhatsApp
instance's state changes (connected -> disconnected and back) or its ``safetyScore`` crosses a threshold.

Use it in an ``AssetWatcher``; a DAG scheduled on that asset runs on each change instead of polling on a clock::

    from airflow.sdk import DAG, Asset, AssetWatcher

    trigger = MsgFlashInstanceEventTrigger(instance_id="boutique-principale", min_safety_score=50)
    instance = Asset("msgflash_instance_boutique", watchers=[AssetWatcher(name="boutique", trigger=trigger)])
    with DAG("on_instance_change", schedule=[instance]): ...

Frugal: one ``GET /instances/{id}/state`` per poll (every ``poll_interval`` s, 60 by default), plus one
``GET /instances/{id}/health`` per poll only when ``min_safety_score`` is set and the instance is connected:
60 or at most 120 requests an hour per instance. Requests share the key's rate limiter with every task and
trigger using the key. The first poll only records where things stand (no event); on Airflow 3.3+ that
record is kept in the asset's state store, so a change that happened while the triggerer was down still fires.

Needs Airflow 3.0+: importing this module on Airflow 2 raises ImportError naming the version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow_provider_msgflash.version_compat import (
    AIRFLOW_HAS_EVENT_TRIGGERS,
    EVENT_DRIVEN_SCHEDULING_MIN_VERSION,
)

if not AIRFLOW_HAS_EVENT_TRIGGERS:
    from airflow import __version__ as _found

    raise ImportError(
        "airflow_provider_msgflash.triggers.instance_events needs Apache Airflow "
        f"{EVENT_DRIVEN_SCHEDULING_MIN_VERSION} or later (event-driven scheduling: AssetWatcher with an event "
        f"trigger); this is Airflow {_found}. On Airflow 2, wait for an instance with "
        "MsgFlashInstanceReadySensor on a schedule instead."
    )

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL
from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashError
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashAsyncHook
from airflow_provider_msgflash.polling import EVENT_POLL_INTERVAL, Poller
from airflow_provider_msgflash.readiness import aresolve_instance_id, health_state, safety_score
from airflow_provider_msgflash.version_compat import BaseEventTrigger, TriggerEvent

DEFAULT_POLL_INTERVAL = EVENT_POLL_INTERVAL
#: ``status`` of an instance that cannot be read (refused key, deleted instance, service down, or
#: :data:`~airflow_provider_msgflash.polling.MAX_CONSECUTIVE_ERRORS` failed reads in a row).
UNREACHABLE = "unreachable"
CHANGES = ("state", "safety")


def snapshot(state: Any, health: Any, min_safety_score: float | None) -> dict[str, Any]:
    """What the trigger compares between polls: status, provider state, and (with a threshold) the score and
    which side of the threshold it is on (``healthy`` None when unknown, e.g. while disconnected)."""
    snap: dict[str, Any] = {
        "status": state.get("status") if isinstance(state, dict) else None,
        "providerState": state.get("providerState") if isinstance(state, dict) else None,
    }
    if min_safety_score is not None:
        score = safety_score(health)
        snap["safetyScore"] = score
        snap["safetyState"] = health_state(health)
        snap["healthy"] = None if score is None else score >= min_safety_score
    return snap


def changes(previous: dict[str, Any] | None, current: dict[str, Any], watch: tuple[str, ...]) -> list[str]:
    """Which watched changes happened between two snapshots: ``state`` (the status differs) and/or ``safety``
    (the score is on the other side of the threshold than the last time it was known)."""
    if previous is None:
        return []
    found = []
    if "state" in watch and current.get("status") != previous.get("status"):
        found.append("state")
    was, now = previous.get("healthy"), current.get("healthy")
    if "safety" in watch and was is not None and now is not None and was != now:
        found.append("safety")
    return found


def carry_forward(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """``current``, keeping the last known score side while the score cannot be read (instance not connected)."""
    if previous and current.get("healthy") is None and previous.get("healthy") is not None:
        return {**current, "healthy": previous["healthy"], "safetyScore": previous.get("safetyScore")}
    return current


class MsgFlashInstanceEventTrigger(BaseEventTrigger):
    """Fire one event per change of an instance's state or safety side, forever (an ``AssetWatcher`` trigger).

    Each event's payload: ``{"instance_id", "change": "state"|"safety", "previous", "current",
    "min_safety_score", "message", "observed_at"}`` where ``previous``/``current`` hold ``status``,
    ``providerState`` and, with a threshold, ``safetyScore``, ``safetyState`` and ``healthy``. ``status`` is
    ``connected``, ``connecting``, ``disconnected`` or ``unreachable`` (the instance could not be read
    ``MAX_CONSECUTIVE_ERRORS`` polls in a row, or the key was refused / the instance is gone).

    :param instance_id: the instance's id, or its ``name`` or ``waNumber`` (resolved once, with one list request).
    :param msgflash_conn_id: the Airflow connection id (the key is read from it, never passed in).
    :param poll_interval: seconds between polls (default 60, at least 2).
    :param min_safety_score: when set (0-100), also read the health and fire when ``safetyScore`` crosses it.
    :param watch: which changes fire: ``("state", "safety")`` by default.
    """

    def __init__(
        self,
        instance_id: str,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        min_safety_score: float | None = None,
        watch: list[str] | tuple[str, ...] = CHANGES,
    ) -> None:
        super().__init__()
        from airflow_provider_msgflash.readiness import check_health_policy

        if not isinstance(instance_id, str) or not instance_id.strip():
            raise MsgFlashConfigError(
                f"`instance_id` must be an instance id, name or waNumber, got {instance_id!r}.", code="BAD_ARGUMENT"
            )
        check_health_policy("warn", min_safety_score)
        unknown = [w for w in watch if w not in CHANGES]
        if unknown or not watch:
            raise MsgFlashConfigError(
                f"`watch` must list some of {', '.join(CHANGES)}, got {list(watch)!r}.", code="BAD_ARGUMENT"
            )
        self.instance_id = instance_id.strip()
        self.msgflash_conn_id = msgflash_conn_id
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval))
        self.min_safety_score = min_safety_score
        self.watch = tuple(w for w in CHANGES if w in watch)
        self._resolved: str | None = None
        self.polls = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "instance_id": self.instance_id,
                "msgflash_conn_id": self.msgflash_conn_id,
                "poll_interval": self.poll_interval,
                "min_safety_score": self.min_safety_score,
                "watch": list(self.watch),
            },
        )

    # -- the record kept across triggerer restarts (Airflow 3.3+ asset state store) -------------------------
    @property
    def _record_key(self) -> str:
        return f"msgflash_instance_{self.instance_id}"

    async def _load_record(self) -> dict[str, Any] | None:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return None
        try:
            value = await store.aget(self._record_key)
        except Exception as e:  # several watched assets, or no store access: keep the record in memory only
            self.log.debug("No asset state store record for %s: %s", self.instance_id, e)
            return None
        return value if isinstance(value, dict) else None

    async def _save_record(self, record: dict[str, Any]) -> None:
        store = getattr(self, "asset_state_store", None)
        if store is not None:
            try:
                await store.aset(self._record_key, record)
            except Exception as e:
                self.log.debug("Could not keep the record of %s in the asset state store: %s", self.instance_id, e)

    # -- polling ------------------------------------------------------------------------------------------
    async def _instance_id(self, hook: MsgFlashAsyncHook) -> str:
        """The id to poll: ``instance_id`` itself, or the instance whose name/waNumber it is (resolved through
        the hook, with its ambiguity check, once)."""
        if self._resolved is None:
            self._resolved = await aresolve_instance_id(hook, self.instance_id)
        return self._resolved

    async def _observe(self, hook: MsgFlashAsyncHook) -> dict[str, Any]:
        instance_id = await self._instance_id(hook)
        state = await hook.get_instance_state(instance_id)
        health = None
        if self.min_safety_score is not None and isinstance(state, dict) and state.get("status") == "connected":
            health = await hook.get_instance_health(instance_id)
        return snapshot(state, health, self.min_safety_score)

    def _event(self, change: str, previous: dict[str, Any], current: dict[str, Any]) -> TriggerEvent:
        if change == "state":
            message = f"instance {self.instance_id} is {current['status']} (was {previous.get('status')})"
        else:
            side = "reached" if current.get("healthy") else "fell below"
            message = (
                f"instance {self.instance_id} safetyScore {current.get('safetyScore')} {side} "
                f"min_safety_score {self.min_safety_score} (was {previous.get('safetyScore')})"
            )
        return TriggerEvent(
            {
                "instance_id": self.instance_id,
                "change": change,
                "previous": previous,
                "current": current,
                "min_safety_score": self.min_safety_score,
                "message": message,
                "observed_at": datetime.now(timezone.utc).isoformat(),
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = MsgFlashAsyncHook(self.msgflash_conn_id)
        poller = Poller(min_pause=self.poll_interval, max_pause=self.poll_interval)
        last = await self._load_record()
        while True:
            started = time.monotonic()
            self.polls += 1
            try:
                current = await self._observe(hook)
                poller.succeeded()
            except MsgFlashError as e:
                self.log.warning(
                    "Could not read instance %s (%s); failure %d in a row.", self.instance_id, e, poller.errors + 1
                )
                current = {"status": UNREACHABLE, "providerState": None, "error": f"{e}"[:300]}
                try:
                    poller.failed(e)
                except MsgFlashError:
                    pass  # final, or too many in a row: the instance counts as unreachable
                else:
                    await asyncio.sleep(self.poll_interval)
                    continue
            if last is None:
                self.log.info("Watching instance %s: %s.", self.instance_id, current)
            for change in changes(last, current, self.watch):
                event = self._event(change, last or {}, current)
                self.log.info("Instance %s changed: %s", self.instance_id, event.payload["message"])
                yield event
            record = carry_forward(last, current)
            if record != last:
                await self._save_record(record)
            last = record
            await asyncio.sleep(max(0.0, self.poll_interval - (time.monotonic() - started)))

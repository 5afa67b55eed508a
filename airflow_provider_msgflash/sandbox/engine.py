"""The lookup engine: creates number lookups (answered at once under 100 numbers, else in the
background), advances async lookups one provider batch per ``pace`` interval, fails or stalls them when
the fault switches say so, lists and cancels them."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.config import Faults
from airflow_provider_msgflash.sandbox.errors import SandboxError, not_found
from airflow_provider_msgflash.sandbox.models import ACTIVE, Instance, Lookup, iso
from airflow_provider_msgflash.sandbox.paging import page, paged


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


class LookupEngine:
    """All number lookups of the sandbox. Runs on the server's event loop thread only."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.lookups: dict[str, Lookup] = {}
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sleepers: set[asyncio.Future[None]] = set()

    async def stop(self) -> None:
        """Stop every background lookup (on shutdown and reset)."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def create(self, instance: Instance, numbers: list[str]) -> tuple[int, dict[str, Any]]:
        """``(200, sync answer)`` under 100 numbers, else ``(202, async answer)``; 409 if not connected."""
        if instance.status != "connected":
            raise SandboxError(
                409,
                "CONFLICT",
                f"Instance {instance.id} is not connected (status: {instance.status}); connect it first.",
            )
        now = time.time()
        mode = "sync" if len(numbers) < rules.ASYNC_THRESHOLD else "async"
        lk = Lookup(str(uuid.uuid4()), next(self._seq), mode, instance.id, list(numbers), "pending", now, now)
        self.lookups[lk.id] = lk
        if mode == "sync":
            lk.check_next(len(lk.valid))
            lk.status = "done"
            lk.completed_at = now
            return 200, lk.sync_answer()
        self._arm_faults(lk)
        answer = lk.async_answer()
        if self.faults.batch_interval <= 0:
            self._advance(lk, None)  # pace 0: finished before the answer leaves
        if lk.status in ACTIVE:
            task = asyncio.get_running_loop().create_task(self._run(lk), name=f"msgflash-sandbox-lookup-{lk.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 202, answer

    def _arm_faults(self, lk: Lookup) -> None:
        """Use up one ``stall_lookups`` (stall after at most one batch) or ``fail_lookups`` (fail halfway)."""
        if self.faults.stall_lookups > 0:
            self.faults.stall_lookups -= 1
            lk.stall_at = min(rules.BATCH_SIZE, max(0, len(lk.valid) - 1))
        elif self.faults.fail_lookups > 0:
            self.faults.fail_lookups -= 1
            lk.fail_at = (len(lk.valid) // 2) // rules.BATCH_SIZE * rules.BATCH_SIZE

    async def _run(self, lk: Lookup) -> None:
        """Advance ``lk`` one step per ``pace`` seconds until it is finished, cancelled or stalled. The
        pace is read again whenever it changes: the next step is due one (new) pace after the last one,
        so a running lookup follows a new pace at once (pace 0: it finishes at once)."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while lk.status in ACTIVE and not lk.stalled:
            interval = self.faults.batch_interval
            wait = last + interval - loop.time()
            if wait > 0:
                await self._sleep(wait)
                continue
            self._advance(lk, 1 if interval > 0 else None)
            last = loop.time()

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the pace changes meanwhile (:meth:`pace_changed`)."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, woken)
        self._sleepers.add(woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._sleepers.discard(woken)

    def pace_changed(self) -> None:
        """Wake every running lookup to read the new pace (called on the event loop's thread)."""
        for woken in list(self._sleepers):
            _wake(woken)

    def _advance(self, lk: Lookup, steps: int | None) -> None:
        """One step (pending → processing, then one batch of 20 per step); ``None``: as many as it takes."""
        budget = steps if steps is not None else 2 + len(lk.valid) // rules.BATCH_SIZE + 1
        now = time.time()
        while budget > 0 and lk.status in ACTIVE and not lk.stalled:
            budget -= 1
            if lk.status == "pending":
                lk.status = "processing"
            elif lk.fail_at is not None and lk.checked >= lk.fail_at:
                lk.status = "failed"
                lk.error = (
                    f"The WhatsApp provider stopped answering after {lk.checked} of {len(lk.valid)} numbers "
                    "(sandbox fault: fail_lookups)."
                )
                lk.completed_at = now
            else:
                lk.check_next(rules.BATCH_SIZE)
                if lk.checked >= len(lk.valid):
                    lk.status = "done"
                    lk.completed_at = now
        lk.updated_at = now

    def get(self, lookup_id: str) -> Lookup:
        lk = self.lookups.get(lookup_id)
        if lk is None:
            raise not_found("Number lookup", lookup_id, "LOOKUP_NOT_FOUND")
        return lk

    def list_page(self, limit: int, cursor: str | None) -> dict[str, Any]:
        """Newest first: ``{lookups, nextCursor, hasMore}``."""
        chosen, nxt = page("lookups", self.lookups.values(), lambda lk: ("", lk.seq), True, cursor, limit)
        return paged("lookups", [lk.list_view() for lk in chosen], nxt)

    def cancel(self, lookup_id: str) -> dict[str, Any]:
        lk = self.get(lookup_id)
        if lk.status not in ACTIVE:
            raise SandboxError(
                400,
                "LOOKUP_CANNOT_BE_CANCELLED",
                f"Number lookup {lk.id} is already {lk.status}; it cannot be cancelled.",
            )
        now = time.time()
        lk.status = "cancelled"
        lk.completed_at = now
        lk.updated_at = now
        return {"id": lk.id, "status": "cancelled", "completedAt": iso(now)}

    def summary(self) -> list[dict[str, Any]]:
        """Every lookup, oldest first (admin ``state``)."""
        return [lk.list_view() for lk in sorted(self.lookups.values(), key=lambda x: x.seq)]

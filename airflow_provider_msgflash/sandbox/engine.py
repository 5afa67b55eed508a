"""The lookup engine: creates number lookups (answered at once under 100 numbers, else in the
background), advances async lookups one provider batch per ``pace`` interval, fails, stalls or
disconnects them when the fault switches say so, adds other clients' lookups (``busy_account``), lists
and cancels them."""

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
from airflow_provider_msgflash.sandbox.paging import numbered, page, paged

#: The numbers of other clients' lookups: ``+4177`` and a counter (never one of the client's numbers).
OTHER_NUMBERS_PREFIX = "+4177"


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


class LookupEngine:
    """All number lookups of the sandbox. Runs on the server's event loop thread only."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.lookups: dict[str, Lookup] = {}
        self._seq = itertools.count(1)
        self._other_numbers = itertools.count()
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

    def create(self, instance: Instance, numbers: list[str], *, origin: str = "api") -> tuple[int, dict[str, Any]]:
        """``(200, sync answer)`` under 100 numbers, else ``(202, async answer)``; 409 if not connected.
        A lookup of ``origin`` ``api`` (a client's request) uses up the lookup fault switches and, with
        ``busy_account``, is followed by other clients' lookups; one of ``origin`` ``other`` is neither."""
        if instance.status != "connected":
            raise SandboxError(
                409,
                "CONFLICT",
                f"Instance {instance.id} is not connected (status: {instance.status}); connect it first.",
            )
        now = time.time()
        mode = "sync" if len(numbers) < rules.ASYNC_THRESHOLD else "async"
        lk = Lookup(str(uuid.uuid4()), next(self._seq), mode, instance.id, list(numbers), "pending", now, now, origin)
        self.lookups[lk.id] = lk
        if origin == "api" and mode == "async":
            self._arm_faults(lk, instance)
        answer = self._start(lk)
        if origin == "api" and self.faults.busy_account:
            self._busy(instance, lk)
        return answer

    def _start(self, lk: Lookup) -> tuple[int, dict[str, Any]]:
        """Finish a sync lookup at once; start an async one in the background (pace 0: finished now)."""
        if lk.mode == "sync":
            lk.check_next(len(lk.valid))
            lk.status = "done"
            lk.completed_at = lk.created_at
            return 200, lk.sync_answer()
        answer = lk.async_answer()
        if self.faults.batch_interval <= 0:
            self._advance(lk, None)  # pace 0: finished before the answer leaves
        if lk.status in ACTIVE:
            task = asyncio.get_running_loop().create_task(self._run(lk), name=f"msgflash-sandbox-lookup-{lk.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 202, answer

    def _busy(self, instance: Instance, own: Lookup) -> None:
        """``busy_account`` other clients' lookups right after ``own``, on its instance: one of one number
        more, N of the same size, one of one number fewer (sizes outside 1-10,000 left out), each of
        numbers ``own`` does not have. None at all if the instance is no longer connected (at pace 0
        ``own`` may have disconnected it already)."""
        if instance.status != "connected":
            return
        size = len(own.numbers)
        sizes = [size + 1] * (size < rules.MAX_NUMBERS) + [size] * self.faults.busy_account + [size - 1] * (size > 1)
        avoid = set(own.valid)
        for n in sizes:
            self.create(instance, self._numbers_of_others(n, avoid), origin="other")

    def _numbers_of_others(self, n: int, avoid: set[str]) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            number = f"{OTHER_NUMBERS_PREFIX}{next(self._other_numbers):07d}"
            if number not in avoid:
                out.append(number)
        return out

    def _arm_faults(self, lk: Lookup, instance: Instance) -> None:
        """Use up one ``stall_lookups`` (stall after at most one batch, for ``stall_seconds``), else one
        ``disconnect_during_lookup`` or ``fail_lookups`` (fail halfway)."""
        f = self.faults
        halfway = (len(lk.valid) // 2) // rules.BATCH_SIZE * rules.BATCH_SIZE
        if f.stall_lookups > 0:
            f.stall_lookups -= 1
            lk.stall_at = min(rules.BATCH_SIZE, max(0, len(lk.valid) - 1))
            lk.stall_for = f.stall_seconds
        elif f.disconnect_during_lookup > 0:
            f.disconnect_during_lookup -= 1
            lk.fail_at = halfway
            lk.fail_instance = instance
        elif f.fail_lookups > 0:
            f.fail_lookups -= 1
            lk.fail_at = halfway
            lk.fail_error = f.fail_error

    async def _run(self, lk: Lookup) -> None:
        """Advance ``lk`` one step per ``pace`` seconds until it is finished, cancelled or stalled for
        good. The pace is read again whenever it changes: the next step is due one (new) pace after the
        last one, so a running lookup follows a new pace at once (pace 0: it finishes at once). A stall
        with a duration holds it that long, then it goes on at the pace."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while lk.status in ACTIVE:
            if lk.stalled:
                if not await self._hold(lk):
                    return
                last = loop.time()
                continue
            interval = self.faults.batch_interval
            wait = last + interval - loop.time()
            if wait > 0:
                await self._sleep(wait)
                continue
            self._advance(lk, 1 if interval > 0 else None)
            last = loop.time()

    async def _hold(self, lk: Lookup) -> bool:
        """Keep a stalled lookup still: False for a stall without end; otherwise wait (until its time
        to resume, or a pace change) and True, the stall lifted once its time has come."""
        if lk.stall_for <= 0:
            return False
        now = asyncio.get_running_loop().time()
        if lk.resume_at is None:
            lk.resume_at = now + lk.stall_for
        if lk.resume_at > now:
            await self._sleep(lk.resume_at - now)
        else:
            lk.stall_at = lk.resume_at = None
        return True

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
                self._fail(lk, now)
            else:
                lk.check_next(rules.BATCH_SIZE)
                if lk.checked >= len(lk.valid):
                    lk.status = "done"
                    lk.completed_at = now
        lk.updated_at = now

    @staticmethod
    def _fail(lk: Lookup, now: float) -> None:
        """End ``lk`` ``failed`` with its planned error; ``fail_instance``: that instance disconnects."""
        inst = lk.fail_instance
        done = f"after {lk.checked} of {len(lk.valid)} numbers"
        if inst is not None:
            inst.status = "disconnected"
            inst.warm_at = None
            inst.updated_at = now
            lk.error = (
                f"INSTANCE_DISCONNECTED: Instance {inst.id} ({inst.seed.name}) disconnected during the lookup, "
                f"{done} (sandbox fault: disconnect_during_lookup)."
            )
        else:
            lk.error = lk.fail_error or (
                f"PROVIDER_TIMEOUT: The WhatsApp provider stopped answering {done} (sandbox fault: fail_lookups)."
            )
        lk.status = "failed"
        lk.completed_at = now

    def get(self, lookup_id: str) -> Lookup:
        lk = self.lookups.get(lookup_id)
        if lk is None:
            raise not_found("Number lookup", lookup_id, "LOOKUP_NOT_FOUND")
        return lk

    def list_page(self, limit: int, cursor: str | None) -> dict[str, Any]:
        """Newest first: ``{lookups, nextCursor, hasMore}``."""
        chosen, nxt = page("lookups", self.lookups.values(), lambda lk: ("", lk.seq), True, cursor, limit)
        return paged("lookups", [lk.list_view() for lk in chosen], nxt)

    def numbered_page(self, limit: int, page_no: int) -> dict[str, Any]:
        """Newest first, by page number (1-based): ``{lookups, page, totalPages, total}``."""
        newest_first = sorted(self.lookups.values(), key=lambda lk: lk.seq, reverse=True)
        chosen, meta = numbered(newest_first, page_no, limit)
        return {"lookups": [lk.list_view() for lk in chosen], **meta}

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
        """Every lookup, oldest first, with its ``origin`` (admin ``state``)."""
        return [{**lk.list_view(), "origin": lk.origin} for lk in sorted(self.lookups.values(), key=lambda x: x.seq)]

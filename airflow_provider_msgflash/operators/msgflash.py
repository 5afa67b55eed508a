"""Operators for MsgFlash: look numbers up, import the ones on WhatsApp as contacts, cancel, list.

Operators are thin: they check inputs, call :class:`~airflow_provider_msgflash.hooks.msgflash.MsgFlashHook`,
decide (instance gate, defer or wait), push small results to XCom, and clean up when killed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash._api import (
    ASYNC_LOOKUP_THRESHOLD,
    LOOKUP_TERMINAL_STATUSES,
    MAX_NUMBERS_PER_LOOKUP,
    MIN_POLL_INTERVAL,
    lookup_requested,
)
from airflow_provider_msgflash._polling import DEFAULT_MAX_INTERVAL, describe_progress, small_progress
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashError,
    MsgFlashLookupError,
)
from airflow_provider_msgflash.hooks.msgflash import DEFAULT_CONN_ID, MsgFlashHook
from airflow_provider_msgflash.readiness import check_health_policy, gate_instance
from airflow_provider_msgflash.version_compat import BaseOperator, default_deferrable

if TYPE_CHECKING:
    from airflow_provider_msgflash.operators._numbers import PreparedNumbers
    from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger
    from airflow_provider_msgflash.version_compat import Context

TAG_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
EVENT_STATUSES = ("success", "failed", "cancelled", "timeout", "error")


def check_tag(tag: Any, name: str = "tag") -> str:
    """A contact tag: 1 to 64 letters, digits, ``-``, ``_``, ``.`` or ``:``."""
    if not isinstance(tag, str) or not TAG_RE.match(tag.strip()):
        raise MsgFlashConfigError(
            f"`{name}` must be 1 to 64 letters, digits, '-', '_', '.' or ':' (e.g. 'verified-whatsapp'), got {tag!r}.",
            code="BAD_ARGUMENT",
        )
    return tag.strip()


def _check_positive(value: Any, name: str, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise MsgFlashConfigError(f"`{name}` must be a positive number of seconds, got {value!r}.", code="BAD_ARGUMENT")


def run_trigger_inline(trigger: MsgFlashLookupTrigger) -> dict[str, Any]:
    """Wait in the worker with the very trigger a deferrable task would defer to: same polling
    schedule, same events (one implementation of waiting, not two)."""
    from airflow_provider_msgflash.hooks.msgflash import close_shared_session

    async def first_event() -> dict[str, Any]:
        try:
            async for event in trigger.run():
                return dict(event.payload)
            raise MsgFlashLookupError("The lookup trigger ended without an event.", code="NO_EVENT")
        finally:
            await close_shared_session()

    return asyncio.run(first_event())


class _LookupFollower:
    """What the lookup and import operators share: the hook, deferring to or running the lookup
    trigger, and mapping its event to an outcome."""

    msgflash_conn_id: str
    deferrable: bool
    poll_interval: float
    max_poll_interval: float
    timeout: float | None
    cancel_on_kill: bool
    execution_timeout: Any
    log: Any

    @cached_property
    def hook(self) -> MsgFlashHook:
        """The sync hook for this task's connection."""
        return MsgFlashHook(self.msgflash_conn_id)

    def _deadline(self, start: float) -> float | None:
        limits = [t for t in (self.timeout,) if t]
        if self.execution_timeout is not None:
            limits.append(self.execution_timeout.total_seconds())
        return start + min(limits) if limits else None

    def _trigger(self, lookup_ids: list[str], requested: list[int], submitted_at: float) -> MsgFlashLookupTrigger:
        from airflow_provider_msgflash.triggers.msgflash import MsgFlashLookupTrigger

        return MsgFlashLookupTrigger(
            lookup_ids=lookup_ids,
            msgflash_conn_id=self.msgflash_conn_id,
            submitted_at=submitted_at,
            requested=requested,
            deadline=self._deadline(submitted_at),
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            cancel_on_kill=self.cancel_on_kill,
        )

    def _wait(self, lookup_ids: list[str], requested: list[int], submitted_at: float) -> dict[str, Any] | None:
        """Defer (deferrable) or wait in the worker; returns the trigger's event when not deferring."""
        trigger = self._trigger(lookup_ids, requested, submitted_at)
        if self.deferrable:
            self.log.info(
                "Deferring: the triggerer follows lookup(s) %s (deadline: %s).",
                ", ".join(lookup_ids),
                "none" if trigger.deadline is None else f"{trigger.deadline - time.time():.0f} s from now",
            )
            # timeout=None: the trigger enforces the deadline itself, so that a timeout reaches
            # execute_complete and the lookups get cancelled instead of leaking.
            self.defer(trigger=trigger, method_name="execute_complete", timeout=None)  # type: ignore[attr-defined]
        self.log.info("Waiting in the worker for lookup(s) %s.", ", ".join(lookup_ids))
        return run_trigger_inline(trigger)

    def _cancel(self, lookup_ids: Sequence[str], why: str) -> list[str]:
        cancelled = []
        for lid in lookup_ids:
            try:
                if self.hook.cancel_number_lookup(lid) is not None:
                    cancelled.append(lid)
            except MsgFlashError as e:
                self.log.warning("Could not cancel lookup %s (%s): %s", lid, why, e)
        if cancelled:
            self.log.info("Cancelled lookup(s) %s (%s).", ", ".join(cancelled), why)
        return cancelled

    def _check_event(self, event: dict[str, Any] | None) -> dict[str, Any]:
        """Raise unless the event says every lookup is done; cancel what is left on timeout/failure."""
        if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
            raise MsgFlashLookupError(f"Unexpected event from the lookup trigger: {event!r:.300}", code="BAD_EVENT")
        status = event["status"]
        if status == "success":
            return event
        ids = [str(x) for x in event.get("lookup_ids") or []]
        unfinished = [
            str(x.get("id"))
            for x in event.get("lookups") or []
            if isinstance(x, dict) and x.get("status") not in LOOKUP_TERMINAL_STATUSES
        ]
        message = event.get("message") or ""
        if status == "timeout":
            cancelled = self._cancel(unfinished or ids, "timeout")
            raise MsgFlashLookupError(
                f"Lookup(s) {', '.join(ids)} did not finish in time ({message}); cancelled: "
                f"{', '.join(cancelled) or 'none (already finished)'}. Raise `timeout`/`execution_timeout` "
                "for lookups of this size.",
                code="LOOKUP_TIMEOUT",
            )
        cancelled = self._cancel(unfinished, status) if self.cancel_on_kill and unfinished else []
        extra = f" Cancelled the other lookup(s): {', '.join(cancelled)}." if cancelled else ""
        if status in ("failed", "cancelled"):
            raise MsgFlashLookupError(f"Lookup {status}: {message}.{extra}", code=f"LOOKUP_{status.upper()}")
        raise MsgFlashLookupError(
            f"Could not follow lookup(s) {', '.join(ids)}: {message}.{extra}", code="LOOKUP_ERROR"
        )


class MsgFlashNumberLookupOperator(_LookupFollower, BaseOperator):
    """Check which phone numbers are on WhatsApp with a MsgFlash number lookup.

    Before each run the instance is checked: its live state must be ``connected`` (or become so within
    ``readiness_timeout``) and its health is read and logged, then judged by ``health_policy``.

    Fewer than 100 numbers are looked up in one synchronous call. From 100 on, the lookup is submitted,
    its id pushed to XCom (``lookup_id``, ``lookup_ids``) at once, polled once, and then followed by
    :class:`~airflow_provider_msgflash.triggers.msgflash.MsgFlashLookupTrigger` (``deferrable=True``) or
    in the worker. More than 10,000 numbers are split into several lookups, merged in order.

    On a retry (or a cleared task) in the same DAG run, a lookup already submitted for the same
    request (same instance and count, created since the DAG run started, and, when finished, with the
    same numbers) is reused rather than submitted again.

    Returns (XCom ``return_value``) a small summary: ``lookup_id``, ``lookup_ids``, ``instance_id``,
    ``status``, ``counts`` (``requested``, ``on_whatsapp``, ``not_on_whatsapp``, ``invalid``, ...),
    ``accounting`` (inputs, sent, invalid before sending, duplicates removed), ``on_whatsapp`` (the
    list, when at most ``xcom_numbers_limit``), ``result_path`` and ``import`` (when ``import_tag``).

    :param instance_id: the instance to use: its id, or its ``name`` or ``waNumber`` (resolved to the
        id). Templated.
    :param numbers: phone numbers in international format (a list; templated, or an XComArg).
    :param numbers_file: a file of numbers (``.txt`` one per line, ``.csv`` with a ``phone``/``number``
        column, or ``.json`` list); added to ``numbers``. Templated.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer rather than in a worker slot. Default:
        ``[operators] default_deferrable``.
    :param wait_for_completion: wait until the lookups finish (default). When False, return right after
        submitting, with the ids.
    :param poll_interval: shortest pause between progress checks (never below the docs' 2 s). The
        pause adapts to the lookup's measured pace.
    :param max_poll_interval: longest pause between progress checks.
    :param timeout: seconds to wait for completion after submitting; past it the lookups are
        cancelled and the task fails. ``execution_timeout`` also applies, whichever is shorter.
    :param cancel_on_kill: cancel submitted lookups when the task is killed, marked failed or cleared
        (and when another lookup of the same run fails).
    :param normalize: parse numbers with ``phonenumbers`` into E.164 before sending, drop duplicates
        and report unparseable ones as invalid locally (every input stays accounted for).
    :param default_region: two-letter region for numbers written without a country code (with
        ``normalize``), e.g. ``"CH"``.
    :param result_path: write every number's result to this JSON Lines file (recommended for big
        lookups; XCom only gets counts). Templated.
    :param import_tag: when set, import the numbers found on WhatsApp as contacts with this tag once
        the lookups are done. Templated.
    :param health_policy: ``"ignore"`` (don't read health), ``"warn"`` (log when the instance's
        ``safetyScore`` is below ``min_safety_score``; default) or ``"fail"`` (fail instead).
    :param min_safety_score: the lowest acceptable ``safetyScore`` (0-100), default 50.
    :param readiness_timeout: seconds to wait for a not-yet-connected instance before failing
        (default 0: fail at once).
    :param split_large: split more than 10,000 numbers into several lookups (default). When False,
        such input is refused.
    :param reuse_existing: on a retry, reuse a matching lookup from this DAG run (default True).
    :param xcom_numbers_limit: push the ``on_whatsapp`` list to XCom only up to this many numbers.
    """

    template_fields: Sequence[str] = (
        "instance_id",
        "numbers",
        "numbers_file",
        "msgflash_conn_id",
        "result_path",
        "import_tag",
    )
    template_fields_renderers = {"numbers": "json"}
    ui_color = "#25D366"
    ui_fgcolor = "#FFFFFF"

    def __init__(
        self,
        *,
        instance_id: str,
        numbers: Any = None,
        numbers_file: str | None = None,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = MIN_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_INTERVAL,
        timeout: float | None = None,
        cancel_on_kill: bool = True,
        normalize: bool = False,
        default_region: str | None = None,
        result_path: str | None = None,
        import_tag: str | None = None,
        health_policy: str = "warn",
        min_safety_score: float | None = 50,
        readiness_timeout: float = 0,
        split_large: bool = True,
        reuse_existing: bool = True,
        xcom_numbers_limit: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_health_policy(health_policy, min_safety_score)
        _check_positive(timeout, "timeout")
        _check_positive(poll_interval, "poll_interval", allow_none=False)
        if readiness_timeout is None or not isinstance(readiness_timeout, int | float) or readiness_timeout < 0:
            raise MsgFlashConfigError(
                f"`readiness_timeout` must be 0 or more seconds, got {readiness_timeout!r}.",
                code="BAD_ARGUMENT",
            )
        if import_tag is not None and "{{" not in str(import_tag):
            check_tag(import_tag, "import_tag")
        self.instance_id = instance_id
        self.numbers = numbers
        self.numbers_file = numbers_file
        self.msgflash_conn_id = msgflash_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.wait_for_completion = wait_for_completion
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval))
        self.max_poll_interval = max(self.poll_interval, float(max_poll_interval))
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.normalize = normalize
        self.default_region = default_region
        self.result_path = result_path
        self.import_tag = import_tag
        self.health_policy = health_policy
        self.min_safety_score = min_safety_score
        self.readiness_timeout = readiness_timeout
        self.split_large = split_large
        self.reuse_existing = reuse_existing
        self.xcom_numbers_limit = xcom_numbers_limit
        self._submitted: list[str] = []

    # ---------------------------------------------------------------------------------------------
    def _prepare(self) -> PreparedNumbers:
        from airflow_provider_msgflash.operators._numbers import load_numbers, prepare

        raw = load_numbers(self.numbers, self.numbers_file)
        prepared = prepare(raw, normalize=self.normalize, default_region=self.default_region)
        if not prepared.to_send:
            raise MsgFlashConfigError(
                f"None of the {prepared.inputs} input(s) is a usable phone number "
                f"(first problems: {prepared.local_invalid[:3]}).",
                code="BAD_ARGUMENT",
            )
        if len(prepared.to_send) > MAX_NUMBERS_PER_LOOKUP and not self.split_large:
            raise MsgFlashConfigError(
                f"{len(prepared.to_send)} numbers exceed the {MAX_NUMBERS_PER_LOOKUP:,} a lookup takes, and "
                "split_large=False. Set split_large=True (the default) to split them into several lookups.",
                code="BAD_ARGUMENT",
            )
        return prepared

    def execute(self, context: Context) -> Any:
        prepared = self._prepare()
        if self.import_tag is not None:
            check_tag(self.import_tag, "import_tag")
        acc = prepared.accounting()
        self.log.info(
            "Looking up %d number(s) (%d input(s); %d invalid before sending, %d duplicate(s) removed).",
            acc["sent"],
            acc["inputs"],
            acc["invalid_before_sending"],
            acc["duplicates_removed"],
        )
        gate = gate_instance(
            self.hook,
            self.instance_id,
            health_policy=self.health_policy,
            min_safety_score=self.min_safety_score,
            readiness_timeout=self.readiness_timeout,
            log=self.log,
        )
        instance_id = str(gate["instance"]["id"])
        chunks = prepared.chunks()
        submitted_at = time.time()
        answers = self._submit(instance_id, chunks, context)
        lookup_ids = [str(a["lookupId"]) for a in answers]
        self._submitted = lookup_ids
        ti = context["ti"]
        ti.xcom_push(key="lookup_id", value=lookup_ids[0])
        ti.xcom_push(key="lookup_ids", value=lookup_ids)

        known = {str(a["lookupId"]): a for a in answers if a.get("status") == "done" and "result" in a}
        requested = [len(c) for c in chunks]
        if not self.wait_for_completion:
            self.log.info("wait_for_completion=False: returning right after submitting.")
            return {
                "lookup_id": lookup_ids[0],
                "lookup_ids": lookup_ids,
                "instance_id": instance_id,
                "status": "submitted",
                "requested": sum(requested),
                "accounting": acc,
            }
        # Poll once before deferring: a lookup may already be finished.
        pending = []
        for lid in lookup_ids:
            if lid in known:
                continue
            progress = self.hook.get_number_lookup_progress(lid)
            self.log.info("Lookup %s: %s.", lid, describe_progress(progress))
            if progress.get("status") in ("failed", "cancelled"):
                self._check_event(
                    {
                        "status": progress["status"],
                        "lookup_ids": lookup_ids,
                        "lookups": [small_progress(progress)],
                        "message": f"lookup {lid} {progress['status']}: {progress.get('error') or ''}",
                    }
                )
            if progress.get("status") != "done":
                pending.append(lid)
        if pending:
            event = self._wait(lookup_ids, requested, submitted_at)
            self._check_event(event)
        return self._finish(lookup_ids, known, instance_id, prepared)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: fetch the results (or cancel and fail)."""
        event = self._check_event(event)
        self._submitted = [str(x) for x in event["lookup_ids"]]
        prepared = self._prepare()
        return self._finish(self._submitted, {}, None, prepared)

    def on_kill(self) -> None:
        """Cancel this try's lookups when the task is killed while running in a worker."""
        if self.cancel_on_kill and self._submitted:
            self._cancel(self._submitted, "task killed")

    # ---------------------------------------------------------------------------------------------
    def _submit(self, instance_id: str, chunks: list[list[str]], context: Context) -> list[dict[str, Any]]:
        ti = context["ti"]
        try_number = int(getattr(ti, "try_number", 1) or 1)
        dag_run = context.get("dag_run")
        run_start = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
        reuse = self.reuse_existing and try_number > 1 and isinstance(run_start, datetime)
        used: set[str] = set()
        answers = []
        for i, chunk in enumerate(chunks, 1):
            label = f"lookup {i} of {len(chunks)}" if len(chunks) > 1 else "lookup"
            answer = self._reusable(instance_id, chunk, run_start, used) if reuse else None
            if answer is None:
                answer = self.hook.create_number_lookup(instance_id, chunk)
                self.log.info(
                    "Submitted %s %s: %d number(s), mode %s, status %s%s.",
                    label,
                    answer.get("lookupId"),
                    len(chunk),
                    answer.get("mode"),
                    answer.get("status"),
                    " (recovered after a lost answer)" if answer.get("recovered") else "",
                )
            used.add(str(answer["lookupId"]))
            answers.append(answer)
        return answers

    def _reusable(self, instance_id: str, chunk: list[str], run_start: Any, used: set[str]) -> dict[str, Any] | None:
        """A lookup from an earlier try of this DAG run for the same request, if there is one."""
        from airflow_provider_msgflash.hooks.msgflash import recovered_submission

        for item in self.hook.find_lookups(instance_id, len(chunk), created_after=run_start):
            lid = str(item.get("id"))
            if lid in used or item.get("status") == "failed":
                continue
            if item.get("status") == "done":
                full = self.hook.get_number_lookup(lid)
                if not _same_numbers(full.get("result"), chunk):
                    continue
            self.log.info(
                "Retry: reusing lookup %s (status %s) submitted by an earlier try of this DAG run instead "
                "of submitting the same numbers again.",
                lid,
                item.get("status"),
            )
            return recovered_submission(item)
        return None

    def _finish(
        self,
        lookup_ids: list[str],
        known: dict[str, dict[str, Any]],
        instance_id: str | None,
        prepared: PreparedNumbers,
    ) -> dict[str, Any]:
        """Fetch each lookup's result (in order), stream it to ``result_path``, import, summarise."""
        from airflow_provider_msgflash.operators._numbers import ResultWriter, iter_result

        writer = ResultWriter(self.result_path) if self.result_path else None
        counts = {
            "requested": 0,
            "normalized": 0,
            "checked": 0,
            "on_whatsapp": 0,
            "not_on_whatsapp": 0,
            "invalid": 0,
        }
        on_whatsapp: list[str] | None = []
        try:
            for lid in lookup_ids:
                data = known.get(lid) or self.hook.get_number_lookup(lid)
                if data.get("status") != "done":
                    raise MsgFlashLookupError(
                        f"Lookup {lid} is {data.get('status')}, not done; cannot read its result.",
                        code="LOOKUP_NOT_DONE",
                    )
                instance_id = instance_id or data.get("instanceId")
                counts["requested"] += lookup_requested(data) or 0
                for key, names in (
                    ("normalized", ("normalizedCount", "normalized")),
                    ("checked", ("checkedCount", "checked")),
                    ("on_whatsapp", ("onWhatsAppCount",)),
                    ("not_on_whatsapp", ("notOnWhatsAppCount",)),
                    ("invalid", ("invalidCount",)),
                ):
                    counts[key] += next((data[n] for n in names if isinstance(data.get(n), int)), 0)
                for status, nums in iter_result(data.get("result")):
                    if writer:
                        writer.write(nums, status, lid)
                    if status == "on_whatsapp" and on_whatsapp is not None:
                        on_whatsapp.extend(nums)
                        if len(on_whatsapp) > self.xcom_numbers_limit:
                            on_whatsapp = None
            if writer:
                for number, reason in prepared.local_invalid:
                    writer.write([number], "invalid", None, reason)
                writer.close()
        except BaseException:
            if writer:
                writer.abort()
            raise
        acc = prepared.accounting()
        counts["invalid_before_sending"] = acc["invalid_before_sending"]
        counts["duplicates_removed"] = acc["duplicates_removed"]
        accounted = counts["on_whatsapp"] + counts["not_on_whatsapp"] + counts["invalid"]
        self.log.info(
            "Lookup finished: %d on WhatsApp, %d not on WhatsApp, %d invalid (server) + %d invalid before "
            "sending + %d duplicate(s) = %d of %d input(s).",
            counts["on_whatsapp"],
            counts["not_on_whatsapp"],
            counts["invalid"],
            acc["invalid_before_sending"],
            acc["duplicates_removed"],
            accounted + acc["invalid_before_sending"] + acc["duplicates_removed"],
            acc["inputs"],
        )
        if accounted != counts["requested"] or counts["requested"] != acc["sent"]:
            self.log.warning(
                "Counts do not add up: sent %d, MsgFlash requested %d, results %d.",
                acc["sent"],
                counts["requested"],
                accounted,
            )
        summary: dict[str, Any] = {
            "lookup_id": lookup_ids[0],
            "lookup_ids": lookup_ids,
            "instance_id": instance_id,
            "status": "done",
            "counts": counts,
            "accounting": acc,
            "on_whatsapp": on_whatsapp,
            "result_path": self.result_path,
        }
        if writer:
            self.log.info("Wrote %d result line(s) to %s.", writer.lines, self.result_path)
        if self.import_tag:
            summary["import"] = import_lookups(
                self.hook, lookup_ids, check_tag(self.import_tag, "import_tag"), self.log
            )
        return summary


def _digits(number: str) -> str:
    d = "".join(ch for ch in number if ch.isdigit())
    return d[2:] if d.startswith("00") else d


def _same_numbers(result: Any, chunk: list[str]) -> bool:
    """Whether a finished lookup's result holds the same numbers as ``chunk`` (compared by digits)."""
    from airflow_provider_msgflash.operators._numbers import iter_result

    seen = sorted(_digits(n) for _, nums in iter_result(result) for n in nums)
    return seen == sorted(_digits(n) for n in chunk)


def import_lookups(hook: MsgFlashHook, lookup_ids: list[str], tag: str, log: Any) -> dict[str, Any]:
    """Import every lookup's on-WhatsApp numbers with ``tag``; summed counts."""
    totals = {"imported": 0, "alreadyExisting": 0, "skipped": 0}
    for lid in lookup_ids:
        answer = hook.import_contacts(lid, tag)
        for k in totals:
            v = answer.get(k) if isinstance(answer, dict) else None
            totals[k] += v if isinstance(v, int) else 0
        log.info(
            "Imported contacts from lookup %s with tag %r: %s new, %s already existing, %s skipped.",
            lid,
            tag,
            answer.get("imported"),
            answer.get("alreadyExisting"),
            answer.get("skipped"),
        )
    return {"lookup_ids": lookup_ids, "tag": tag, **totals}


def _lookup_ids_from(value: Any) -> list[str]:
    """Lookup ids from a string, a list, or a lookup operator's summary dict (its XCom)."""
    if isinstance(value, dict):
        value = value.get("lookup_ids") or value.get("lookup_id")
    if isinstance(value, str) and value.strip().startswith("["):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise MsgFlashConfigError(
            f"`lookup_id` must be a lookup id, a list of ids, or a lookup task's XCom summary; got {value!r:.100}.",
            code="BAD_ARGUMENT",
        )
    return [v.strip() for v in value]


class MsgFlashImportContactsOperator(_LookupFollower, BaseOperator):
    """Import the numbers a lookup found on WhatsApp as contacts with a tag.

    Waits for the lookup(s) first when they are not done yet. Importing twice creates no duplicate
    contacts (existing ones count as ``alreadyExisting``). Returns ``{"lookup_ids", "tag", "imported",
    "alreadyExisting", "skipped"}``.

    :param lookup_id: the lookup id, a list of ids (a split lookup), or the lookup operator's summary
        (e.g. ``"{{ ti.xcom_pull(task_ids='lookup', key='lookup_ids') }}"`` or the task's XComArg).
        Templated.
    :param tag: the tag given to the imported contacts (1-64 of ``A-Z a-z 0-9 - _ . :``). Templated.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param wait_for_completion: wait for unfinished lookups (default); when False, fail if not done.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param poll_interval: shortest pause between progress checks (at least 2 s).
    :param max_poll_interval: longest pause between progress checks.
    :param timeout: seconds to wait for the lookups; the task fails past it (the lookups are cancelled
        only when ``cancel_on_kill``).
    :param cancel_on_kill: cancel the lookups if the wait times out or the task is killed (default
        False: the lookups belong to another task).
    """

    template_fields: Sequence[str] = ("lookup_id", "tag", "msgflash_conn_id")
    ui_color = "#25D366"
    ui_fgcolor = "#FFFFFF"

    def __init__(
        self,
        *,
        lookup_id: Any,
        tag: str,
        msgflash_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = MIN_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_INTERVAL,
        timeout: float | None = None,
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (isinstance(tag, str) and "{{" in tag):
            check_tag(tag)
        _check_positive(timeout, "timeout")
        self.lookup_id = lookup_id
        self.tag = tag
        self.msgflash_conn_id = msgflash_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = max(MIN_POLL_INTERVAL, float(poll_interval))
        self.max_poll_interval = max(self.poll_interval, float(max_poll_interval))
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill

    def execute(self, context: Context) -> Any:
        tag = check_tag(self.tag)
        ids = _lookup_ids_from(self.lookup_id)
        pending, requested = [], []
        for lid in ids:
            progress = self.hook.get_number_lookup_progress(lid)
            status = progress.get("status")
            if status in ("failed", "cancelled"):
                raise MsgFlashLookupError(
                    f"Lookup {lid} is {status}{': ' + str(progress.get('error')) if progress.get('error') else ''}; "
                    "there is nothing to import.",
                    code=f"LOOKUP_{str(status).upper()}",
                )
            if status != "done":
                pending.append(lid)
                requested.append(int(progress.get("requestedCount") or 0))
        if pending:
            if not self.wait_for_completion:
                raise MsgFlashLookupError(
                    f"Lookup(s) {', '.join(pending)} not done yet and wait_for_completion=False.",
                    code="LOOKUP_NOT_DONE",
                )
            self.log.info("Lookup(s) %s not done yet; waiting before importing.", ", ".join(pending))
            self._check_event(self._wait(pending, requested, time.time()))
        return import_lookups(self.hook, ids, tag, self.log)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the lookups finished: import."""
        self._check_event(event)
        return import_lookups(self.hook, _lookup_ids_from(self.lookup_id), check_tag(self.tag), self.log)


class MsgFlashCancelLookupOperator(BaseOperator):
    """Cancel a pending or processing lookup. A lookup that already finished is not an error.

    Returns ``{"lookup_id", "cancelled": bool, "status"}``.

    :param lookup_id: the lookup id (templated).
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    """

    template_fields: Sequence[str] = ("lookup_id", "msgflash_conn_id")

    def __init__(self, *, lookup_id: str, msgflash_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookup_id = lookup_id
        self.msgflash_conn_id = msgflash_conn_id

    def execute(self, context: Context) -> Any:
        hook = MsgFlashHook(self.msgflash_conn_id)
        answer = hook.cancel_number_lookup(self.lookup_id)
        if answer is not None:
            self.log.info("Cancelled lookup %s.", self.lookup_id)
            return {"lookup_id": self.lookup_id, "cancelled": True, "status": answer.get("status")}
        status = hook.get_number_lookup_progress(self.lookup_id).get("status")
        self.log.info("Lookup %s had already finished (%s); nothing to cancel.", self.lookup_id, status)
        return {"lookup_id": self.lookup_id, "cancelled": False, "status": status}


class MsgFlashListInstancesOperator(BaseOperator):
    """List the account's WhatsApp instances (optionally only those with a given status).

    Returns a list of ``{id, name, waNumber, status}``.

    :param status: keep only instances with this status (``connected``, ``connecting``,
        ``disconnected``). Templated.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    """

    template_fields: Sequence[str] = ("status", "msgflash_conn_id")

    def __init__(self, *, status: str | None = None, msgflash_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = status
        self.msgflash_conn_id = msgflash_conn_id

    def execute(self, context: Context) -> Any:
        from airflow_provider_msgflash._api import INSTANCE_STATUSES

        if self.status is not None and self.status not in INSTANCE_STATUSES:
            raise MsgFlashConfigError(
                f"`status` must be one of {', '.join(sorted(INSTANCE_STATUSES))}, got {self.status!r}.",
                code="BAD_ARGUMENT",
            )
        instances = MsgFlashHook(self.msgflash_conn_id).list_instances() or []
        out = [
            {k: i.get(k) for k in ("id", "name", "waNumber", "status")}
            for i in instances
            if not i.get("deletedAt") and (self.status is None or i.get("status") == self.status)
        ]
        for i in out:
            self.log.info("Instance %s %r (%s): %s", i["id"], i["name"], i["waNumber"], i["status"])
        return out


class MsgFlashGetInstanceOperator(BaseOperator):
    """Read one instance (by id, name or waNumber) with its live state and health.

    Returns ``{"instance", "state", "health"}``.

    :param instance_id: the instance's id, name or waNumber. Templated.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    """

    template_fields: Sequence[str] = ("instance_id", "msgflash_conn_id")

    def __init__(self, *, instance_id: str, msgflash_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.msgflash_conn_id = msgflash_conn_id

    def execute(self, context: Context) -> Any:
        hook = MsgFlashHook(self.msgflash_conn_id)
        instance = hook.resolve_instance(self.instance_id)
        iid = str(instance["id"])
        return {
            "instance": instance,
            "state": hook.get_instance_state(iid),
            "health": hook.get_instance_health(iid),
        }


__all__ = [
    "ASYNC_LOOKUP_THRESHOLD",
    "MsgFlashCancelLookupOperator",
    "MsgFlashGetInstanceOperator",
    "MsgFlashImportContactsOperator",
    "MsgFlashListInstancesOperator",
    "MsgFlashNumberLookupOperator",
]

""":class:`MsgFlashNumberLookupOperator`: check which phone numbers are on WhatsApp."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.api.defaults import MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.api.shapes import lookup_error, lookup_error_code
from airflow_provider_msgflash.arguments import check_seconds, check_tag, is_template
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashError,
    MsgFlashLookupError,
    MsgFlashLookupFinalError,
    MsgFlashNotFoundError,
)
from airflow_provider_msgflash.hooks.lookups import find_reusable_lookup, submitted
from airflow_provider_msgflash.operators.contacts import import_lookups
from airflow_provider_msgflash.operators.follow import MsgFlashLookupFollowerOperator, run_trigger_inline
from airflow_provider_msgflash.polling import PollSchedule, describe_progress, small_progress
from airflow_provider_msgflash.readiness import check_health_policy, gate_instance
from airflow_provider_msgflash.results import LookupResults
from airflow_provider_msgflash.statuses import LOOKUP_ACTIVE, EventStatus, LookupStatus
from airflow_provider_msgflash.storage import JsonLinesWriter, check_location
from airflow_provider_msgflash.version_compat import AirflowSkipException, task_state_store

if TYPE_CHECKING:
    from airflow_provider_msgflash.api.types import LookupSubmission
    from airflow_provider_msgflash.phone_numbers import PreparedNumbers
    from airflow_provider_msgflash.version_compat import Context

#: XCom key of what ``execute_complete`` needs after a deferral (pushed before deferring, so a task resumed
#: on another worker never re-reads the user's inputs).
RESUME_XCOM_KEY = "msgflash_resume"
#: Task state key (Airflow 3.3+) of the lookups this task instance submitted.
STATE_KEY = "msgflash_lookups"
#: What an empty input, or a missing ``numbers_file``, may do.
IF_EMPTY = ("fail", "skip")


def numbers_digest(numbers: list[str]) -> str:
    """A short fingerprint of the numbers one lookup was submitted for (what a retry compares)."""
    return hashlib.sha256("\n".join(numbers).encode()).hexdigest()[:20]


class DurableLookups:
    """The lookups a task instance submitted, kept in its task state (Airflow 3.3+), written right after each
    submission: a retry, a cleared task or a crashed worker resumes exactly these (no list request, no guess),
    while the numbers and the instance are the same. Where there is no task state, nothing is kept.

    Stored as ``{"instance_id", "parts": {numbers digest: lookup id}, "failed": {lookup_id, code, error}}``.
    """

    def __init__(self, context: Context, log: Any) -> None:
        self.store, self.log = task_state_store(context), log
        record: Any = None
        if self.store is not None:
            try:
                record = self.store.get(STATE_KEY)
            except Exception as e:  # the store is a convenience: never a reason to fail the task
                log.warning("Could not read this task's state (%s): earlier lookups are looked for by numbers.", e)
                self.store = None
        self.record: dict[str, Any] = record if isinstance(record, dict) else {}
        #: The lookup an earlier try saw fail (``retry_failed_lookups``), whatever the instance.
        self.failed: dict[str, Any] | None = self.record.get("failed")
        self.instance_id: str | None = None
        self.parts: dict[str, str] = {}

    def bind(self, instance_id: str) -> None:
        """Resume only what was submitted on this very instance."""
        self.instance_id = instance_id
        if self.record.get("instance_id") == instance_id:
            self.parts = dict(self.record.get("parts") or {})

    def save(self) -> None:
        if self.store is None:
            return
        try:
            self.store.set(STATE_KEY, {"instance_id": self.instance_id, "parts": self.parts, "failed": self.failed})
        except Exception as e:
            self.log.warning("Could not keep the lookup ids in this task's state (%s): a retry looks for them.", e)


class MsgFlashNumberLookupOperator(MsgFlashLookupFollowerOperator):
    """Check which phone numbers are on WhatsApp with a MsgFlash number lookup.

    Before each run the instance is checked: its live state must be ``connected`` (or become so within
    ``readiness_timeout``) and its health is read and logged, then judged by ``health_policy``.

    Fewer than 100 numbers are looked up in one synchronous call. From 100 on, the lookup is submitted, its
    id pushed to XCom (``lookup_id``, ``lookup_ids``) at once, and followed by
    :class:`~airflow_provider_msgflash.triggers.msgflash.MsgFlashLookupTrigger` (``deferrable=True``) or in
    the worker. More than 10,000 numbers are split into several lookups, merged in order.

    **Retries resume their own lookups.** On Airflow 3.3+ the lookup ids are kept in the task instance's state
    right after submitting: a retry, a cleared task or a crashed worker resumes exactly those lookups (same
    numbers and instance), with no list request, and submits anew what its state does not hold (never a lookup
    found in the list: another run's lookup of the same numbers would look the same). Elsewhere, with
    ``reuse_existing``, a lookup an earlier try submitted is looked for in the lookup list
    and reused only when it holds exactly these numbers (compared once it is done). A try that fails and will
    be retried leaves its lookups running for the retry.

    Returns (XCom ``return_value``) a small summary: ``lookup_id``, ``lookup_ids``, ``instance_id``,
    ``status``, ``counts`` (``requested``, ``on_whatsapp``, ``not_on_whatsapp``, ``invalid``, ...),
    ``accounting`` (inputs, sent, invalid before sending, duplicates removed), ``on_whatsapp`` (the list, when
    at most ``xcom_numbers_limit``), ``result_path`` and ``import`` (when ``import_tag``). With
    ``outlets=[Asset(...)]``, the asset event carries the ids, counts, result path and import.

    :param instance_id: the instance to use: its id, or its ``name`` or ``waNumber`` (resolved to the id).
        Templated.
    :param numbers: phone numbers in international format (a list of strings; templated, or an XComArg).
    :param numbers_file: a file of numbers (``.txt`` one per line, ``.csv`` with a ``phone``/``number`` column,
        or ``.json`` list), added to ``numbers``: a local path, or any URL Airflow's ``ObjectStoragePath``
        understands (``s3://bucket/leads.csv``, ``gs://...``, ``file://...``). Read as a stream. Templated.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer rather than in a worker slot. Default:
        ``[operators] default_deferrable``.
    :param wait_for_completion: wait until the lookups finish (default). When False, return right after
        submitting, with the ids.
    :param poll_interval: shortest pause between progress checks (never below the docs' 2 s). The pause
        adapts to the lookup's measured pace, and backs off while a lookup stands still.
    :param max_poll_interval: longest pause between progress checks.
    :param timeout: seconds to wait for completion after submitting; past it the lookups are cancelled (with
        ``cancel_on_kill``) and the task fails. ``execution_timeout`` also applies, whichever is shorter.
    :param cancel_on_kill: cancel the lookups this task submitted when it is killed, marked failed or cleared,
        when its wait times out, and when it fails with no retry to resume them (default True).
    :param normalize: parse numbers with ``phonenumbers`` into E.164 before sending, drop duplicates and
        report unparseable ones as invalid locally (every input stays accounted for). Needs the
        ``phonenumbers`` extra.
    :param default_region: two-letter region for numbers written without a country code (with
        ``normalize``), e.g. ``"CH"``.
    :param result_path: write every number's result to this JSON Lines file (recommended for big lookups;
        XCom only gets counts): a local path or an object storage URL, like ``numbers_file``. Written
        atomically (a reader never sees half a file). Templated.
    :param storage_conn_id: the Airflow connection for ``numbers_file`` / ``result_path`` URLs (e.g. an ``aws``
        connection for ``s3://``); or name it in the URL (``s3://my_aws@bucket/key``). Without either, the
        filesystem's default credentials apply. Templated.
    :param import_tag: when set, import the numbers found on WhatsApp as contacts with this tag once the
        lookups are done. Templated.
    :param health_policy: ``"ignore"`` (don't read health), ``"warn"`` (log when the instance's
        ``safetyScore`` is below ``min_safety_score``; default) or ``"fail"`` (fail instead).
    :param min_safety_score: the lowest acceptable ``safetyScore`` (0-100), default 50.
    :param readiness_timeout: seconds to wait for a not-yet-connected instance before failing (default 0:
        fail at once).
    :param split_large: split more than 10,000 numbers into several lookups (default). When False, such
        input is refused.
    :param reuse_existing: on a retry without task state, reuse an earlier try's lookup found in the list
        when it holds exactly these numbers (default True).
    :param retry_failed_lookups: a lookup that ends ``failed`` (MsgFlash refused it: the account, the
        instance) fails the task at once by default, naming the lookup and the reason; True lets the task's
        retries submit it again, except after a second failure for the same reason.
    :param xcom_numbers_limit: push the ``on_whatsapp`` list to XCom only up to this many numbers.
    :param if_empty: what an empty input (``numbers=[]``, an empty file) does: ``"fail"`` (default) or
        ``"skip"`` (the task is skipped and nothing is sent: a day without new numbers is normal in a daily
        DAG).
    :param if_missing: what a ``numbers_file`` that does not exist does: ``"fail"`` (default:
        ``STORAGE_NOT_FOUND``) or ``"skip"`` (the task is skipped, saying which file was missing: a daily
        export that was not written today).
    """

    template_fields: Sequence[str] = (
        "instance_id",
        "numbers",
        "numbers_file",
        "msgflash_conn_id",
        "result_path",
        "import_tag",
        "storage_conn_id",
    )
    template_fields_renderers = {"numbers": "json"}

    def __init__(
        self,
        *,
        instance_id: str,
        numbers: Any = None,
        numbers_file: str | None = None,
        wait_for_completion: bool = True,
        normalize: bool = False,
        default_region: str | None = None,
        result_path: str | None = None,
        import_tag: str | None = None,
        health_policy: str = "warn",
        min_safety_score: float | None = 50,
        readiness_timeout: float = 0,
        split_large: bool = True,
        reuse_existing: bool = True,
        retry_failed_lookups: bool = False,
        xcom_numbers_limit: int = 1000,
        if_empty: str = "fail",
        if_missing: str = "fail",
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (("if_empty", if_empty), ("if_missing", if_missing)):
            if value not in IF_EMPTY:
                raise MsgFlashConfigError(
                    f"`{name}` must be one of {', '.join(IF_EMPTY)}, got {value!r}.", code="BAD_ARGUMENT"
                )
        check_health_policy(health_policy, min_safety_score)
        check_seconds(readiness_timeout, "readiness_timeout", allow_none=False, allow_zero=True)
        if import_tag is not None and not is_template(import_tag):
            check_tag(import_tag, "import_tag")
        self.instance_id = instance_id
        self.numbers = numbers
        self.numbers_file = numbers_file
        self.wait_for_completion = wait_for_completion
        self.normalize = normalize
        self.default_region = default_region
        self.result_path = result_path
        self.import_tag = import_tag
        self.health_policy = health_policy
        self.min_safety_score = min_safety_score
        self.readiness_timeout = readiness_timeout
        self.split_large = split_large
        self.reuse_existing = reuse_existing
        self.retry_failed_lookups = retry_failed_lookups
        self.xcom_numbers_limit = xcom_numbers_limit
        self.if_empty = if_empty
        self.if_missing = if_missing
        self.storage_conn_id = storage_conn_id
        self._summary: dict[str, Any] | None = None
        self._result_lines: int | None = None
        self._durable: DurableLookups | None = None

    # Input ---------------------------------------------------------------------------------------------
    def prepare_numbers(self) -> PreparedNumbers:
        """Read, check and (with ``normalize``) normalise the input; refuse what cannot be sent."""
        from airflow_provider_msgflash.phone_numbers import NO_NUMBERS, load_numbers, prepare

        try:
            raw = load_numbers(self.numbers, self.numbers_file, self.storage_conn_id)
        except MsgFlashConfigError as e:
            if e.code == NO_NUMBERS and self.if_empty == "skip":
                raise AirflowSkipException("No numbers to look up today (if_empty='skip'): nothing sent.") from None
            if e.code == "STORAGE_NOT_FOUND" and self.if_missing == "skip":
                self.log.warning("numbers_file %s does not exist (if_missing='skip'): nothing sent.", self.numbers_file)
                raise AirflowSkipException(
                    f"numbers_file {self.numbers_file} does not exist (if_missing='skip')."
                ) from None
            raise
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
        acc = prepared.accounting()
        self.log.info(
            "Looking up %d number(s) (%d input(s); %d invalid before sending, %d duplicate(s) removed).",
            acc["sent"],
            acc["inputs"],
            acc["invalid_before_sending"],
            acc["duplicates_removed"],
        )
        return prepared

    # Run -------------------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        prepared = self.prepare_numbers()
        if self.import_tag is not None:
            check_tag(self.import_tag, "import_tag")
        if self.result_path:  # before any quota is spent: the results will have a place to go
            check_location(self.result_path, self.storage_conn_id, field="result_path", write=True)
        durable = self._durable = DurableLookups(context, self.log)
        instance_id = self._ready_instance(durable)
        durable.bind(instance_id)
        chunks = prepared.chunks()
        submitted_at = time.time()
        answers, fresh = self.submit(instance_id, chunks, context)
        lookup_ids = [str(a["lookupId"]) for a in answers]
        resume: dict[str, Any] = {"instance_id": instance_id, "accounting": prepared.accounting()}
        resume["owned"] = list(self.owned_lookups)
        resume["local_invalid"] = [list(x) for x in prepared.local_invalid] if self.result_path else []
        ti = context["ti"]
        ti.xcom_push(key="lookup_id", value=lookup_ids[0])
        ti.xcom_push(key="lookup_ids", value=lookup_ids)
        requested = [len(c) for c in chunks]
        if not self.wait_for_completion:
            self.log.info("wait_for_completion=False: returning right after submitting.")
            return {
                "lookup_id": lookup_ids[0],
                "lookup_ids": lookup_ids,
                "instance_id": instance_id,
                "status": "submitted",
                "requested": sum(requested),
                "accounting": resume["accounting"],
            }
        known = {str(a["lookupId"]): a for a in answers if a.get("status") == "done" and "result" in a}
        unknown = [lid for lid in lookup_ids if lid not in known]
        pending = (
            self.poll_once(lookup_ids, known, fresh, context) if self._could_be_done(answers, submitted_at) else unknown
        )
        if pending:
            ti.xcom_push(key=RESUME_XCOM_KEY, value=resume)
            self.check_event(self.wait_for(lookup_ids, requested, submitted_at), context)
        return self._announce(context, self.finish(lookup_ids, known, resume))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: fetch the results (or cancel what this task owns, and fail)."""
        ti = context["ti"]
        resume = ti.xcom_pull(task_ids=ti.task_id, key=RESUME_XCOM_KEY, map_indexes=getattr(ti, "map_index", -1))
        ids = [str(x) for x in (event or {}).get("lookup_ids") or []]
        if isinstance(resume, dict):
            self.owned_lookups = [str(x) for x in resume.get("owned", ids)]
            self._durable = DurableLookups(context, self.log)
            self._durable.bind(str(resume.get("instance_id")))
        else:
            self.owned_lookups = ids
        event = self.check_event(event, context)
        if not isinstance(resume, dict):
            raise MsgFlashError(
                f"XCom {RESUME_XCOM_KEY!r} pushed before deferring is missing ({resume!r:.80}); the lookups "
                f"{', '.join(ids)} are done: clear the task to read their results.",
                code="RESUME_STATE_MISSING",
            )
        return self._announce(context, self.finish(self.owned_lookups, {}, resume))

    def on_kill(self) -> None:
        """Cancel this try's lookups when the task is killed while running in a worker."""
        self.cancel_owned(self.owned_lookups, "task killed")

    # Steps -----------------------------------------------------------------------------------------------
    def _ready_instance(self, durable: DurableLookups) -> str:
        """The instance's id, once it is connected (and healthy enough, per ``health_policy``). When it is not
        and an earlier try's lookup failed, the message names that lookup and its reason too."""
        try:
            gate = gate_instance(
                self.hook,
                self.instance_id,
                health_policy=self.health_policy,
                min_safety_score=self.min_safety_score,
                readiness_timeout=self.readiness_timeout,
                wait_ready=self._wait_ready,
                log=self.log,
            )
        except MsgFlashError as e:
            if e.code != "INSTANCE_NOT_READY" or not durable.failed:
                raise
            failed = durable.failed
            why = f" An earlier try's lookup {failed.get('lookup_id')} failed: {failed.get('error')}."
            raise MsgFlashError(e.message + why, code=e.code) from None
        return str(gate["instance"]["id"])

    def _wait_ready(self, instance_id: str, timeout: float) -> tuple[Any, str | None]:
        """Wait up to ``timeout`` s for the instance with the readiness trigger, inline: ``(state, problem)``."""
        from airflow_provider_msgflash.triggers.instance import MsgFlashInstanceReadyTrigger

        trigger = MsgFlashInstanceReadyTrigger(
            instance_id, self.msgflash_conn_id, poll_interval=5.0, deadline=time.time() + timeout
        )
        event = run_trigger_inline(trigger)
        if event.get("status") == EventStatus.ERROR:
            raise MsgFlashError(
                f"Could not check instance {instance_id}: {event.get('message')}", code="INSTANCE_NOT_READY"
            )
        return event.get("state") or {}, None if event.get("status") == EventStatus.SUCCESS else event.get("message")

    def submit(
        self, instance_id: str, chunks: list[list[str]], context: Context
    ) -> tuple[list[LookupSubmission], dict[str, str]]:
        """One lookup per chunk: resumed from this task's state, reused from an earlier try, or submitted
        (and kept in the task state at once). If one fails, the others this try owns are cancelled.
        Returns the answers and the statuses just read (resumed lookups)."""
        durable = self._durable or DurableLookups(context, self.log)
        if durable.instance_id != instance_id:
            durable.bind(instance_id)
        # With a task state (3.3+) it alone says what an earlier try submitted: a retry never adopts a lookup from
        # the list, where another run's lookup of the same numbers looks exactly like its own (a killed worker).
        since = None if durable.store is not None else self._retry_window(context)
        answers: list[LookupSubmission] = []
        fresh: dict[str, str] = {}
        try:
            for i, chunk in enumerate(chunks, 1):
                label = f"lookup {i} of {len(chunks)}" if len(chunks) > 1 else "lookup"
                used = {str(a["lookupId"]) for a in answers}
                answer = self._resume(durable, chunk, label)
                if answer is not None:
                    fresh[str(answer["lookupId"])] = str(answer["status"])
                    self.owned_lookups.append(str(answer["lookupId"]))
                elif since is not None and (answer := find_reusable_lookup(self.hook, instance_id, chunk, since, used)):
                    pass  # proven by its numbers; another run could hold the same numbers: not ours to cancel
                else:
                    answer = self.hook.create_number_lookup(instance_id, chunk, exclude=used)
                    self.owned_lookups.append(str(answer["lookupId"]))
                    durable.parts[numbers_digest(chunk)] = str(answer["lookupId"])
                    durable.save()  # at once: a worker that dies from here on leaves a retry something to resume
                    self.log.info(
                        "Submitted %s %s: %d number(s), mode %s, status %s%s.",
                        label, answer.get("lookupId"), len(chunk), answer.get("mode"), answer.get("status"),
                        " (found again after an unclear answer)" if answer.get("recovered") else "",
                    )  # fmt: skip
                answers.append(answer)
        except MsgFlashError as e:
            if self.owned_lookups:
                self.cancel_owned(self.owned_lookups, f"submitting the next part failed: {e.code}")
            raise
        return answers, fresh

    def _resume(self, durable: DurableLookups, chunk: list[str], label: str) -> LookupSubmission | None:
        """The lookup this task's state holds for ``chunk``, when it can go on; None: submit (anew)."""
        lookup_id = durable.parts.get(numbers_digest(chunk))
        if lookup_id is None:
            return None
        try:
            progress = self.hook.get_number_lookup_progress(lookup_id)
        except MsgFlashNotFoundError:
            self.log.warning("Lookup %s kept in this task's state no longer exists; submitting anew.", lookup_id)
            return None
        status = str(progress.get("status"))
        if status in LOOKUP_ACTIVE or status == LookupStatus.DONE:
            self.log.info(
                "Resuming %s %s (status %s), submitted by an earlier try of this task (kept in its task state): "
                "not submitting the numbers again.",
                label,
                lookup_id,
                status,
            )
            return submitted({**progress, "id": lookup_id, "requestedCount": len(chunk)})
        if status == LookupStatus.FAILED:
            self._failed_before(durable, lookup_id, progress)
        self.log.info("Lookup %s kept in this task's state ended %s; submitting the numbers anew.", lookup_id, status)
        return None

    def _failed_before(self, durable: DurableLookups, lookup_id: str, progress: Any) -> None:
        """A lookup of an earlier try ended ``failed``: final, unless the user opted into retries."""
        reason = lookup_error(progress) or "no reason given"
        if not self.retry_failed_lookups:
            raise MsgFlashLookupFinalError(
                f"Lookup {lookup_id} (an earlier try of this task) failed: {reason}.", code="LOOKUP_FAILED"
            )
        durable.failed = {"lookup_id": lookup_id, "code": lookup_error_code(progress), "error": reason}

    def failure(
        self, status: str, ids: list[str], message: str, event: dict[str, Any]
    ) -> tuple[type[MsgFlashError], str, str]:
        """A failed lookup is final unless ``retry_failed_lookups``; then a retry submits it again, but the same
        reason twice in a row is final (the reason and the lookups named)."""
        if status != EventStatus.FAILED or not self.retry_failed_lookups:
            return super().failure(status, ids, message, event)
        failed: dict[str, Any] = next((x for x in event.get("lookups") or [] if x.get("status") == "failed"), {})
        code, previous = lookup_error_code(failed), (self._durable.failed if self._durable else None) or {}
        if self._durable is not None:
            self._durable.failed = {"lookup_id": failed.get("id"), "code": code, "error": failed.get("error")}
            self._durable.parts = {k: v for k, v in self._durable.parts.items() if v != failed.get("id")}
            self._durable.save()
        if code is not None and code == previous.get("code"):
            text = f"Lookup failed again for the same reason as lookup {previous.get('lookup_id')}: {message}."
            return MsgFlashLookupFinalError, "LOOKUP_FAILED", text
        return MsgFlashLookupError, "LOOKUP_FAILED", f"Lookup failed: {message} (retry_failed_lookups=True)."

    def _retry_window(self, context: Context) -> datetime | None:
        """When this DAG run started, on a retry with ``reuse_existing`` (lookups since then may be reused);
        None otherwise."""
        try_number = int(getattr(context["ti"], "try_number", 1) or 1)
        dag_run = context.get("dag_run")
        run_start = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
        if self.reuse_existing and try_number > 1 and isinstance(run_start, datetime):
            return run_start
        return None

    def _could_be_done(self, answers: list[LookupSubmission], submitted_at: float) -> bool:
        """Whether a check before deferring could find the lookups finished: for lookups found again (resumed,
        reused), yes; for new ones, only once the polling schedule's own first check is due (asking sooner
        spends a request on a lookup that cannot be done)."""
        fresh = [a for a in answers if not a.get("recovered") and a.get("status") != "done"]
        if len(fresh) < len(answers):
            return True
        first = min(
            PollSchedule(int(a.get("requested") or 0), submitted_at, self.poll_interval).next_delay(now=submitted_at)
            for a in fresh
        )
        return time.time() - submitted_at >= first

    def poll_once(
        self, lookup_ids: list[str], known: dict[str, Any], fresh: dict[str, str], context: Context
    ) -> list[str]:
        """Check each unfinished lookup once before waiting (``fresh``: statuses just read, not asked again);
        returns those still running. A lookup that already failed or was cancelled ends the task."""
        pending, seen = [], []
        for lid in lookup_ids:
            if lid in known:
                continue
            progress: dict[str, Any] = (
                {"id": lid, "status": fresh[lid]} if lid in fresh else dict(self.hook.get_number_lookup_progress(lid))
            )
            seen.append(small_progress(progress))
            if lid not in fresh:
                self.log.info("Lookup %s: %s.", lid, describe_progress(progress))
            status = progress.get("status")
            if status in (LookupStatus.FAILED, LookupStatus.CANCELLED):
                message = f"lookup {lid} {status}" + (f": {seen[-1]['error']}" if seen[-1].get("error") else "")
                event = {"status": status, "lookup_ids": lookup_ids, "lookups": seen, "message": message}
                self.check_event(event, context)
            if status != LookupStatus.DONE:
                pending.append(lid)
        return pending

    def finish(self, lookup_ids: list[str], known: dict[str, Any], resume: dict[str, Any]) -> dict[str, Any]:
        """Fetch each lookup's result (in order), stream it to ``result_path``, import, summarise."""
        accounting = resume["accounting"]
        writer = JsonLinesWriter(self.result_path, self.storage_conn_id) if self.result_path else None
        with LookupResults(writer, self.xcom_numbers_limit) as results:
            for lid in lookup_ids:
                data = known.get(lid) or self.hook.get_number_lookup(lid)
                if data.get("status") != LookupStatus.DONE:
                    raise MsgFlashLookupError(
                        f"Lookup {lid} is {data.get('status')}, not done; cannot read its result.",
                        code="LOOKUP_NOT_DONE",
                    )
                results.add(lid, dict(data))
            results.add_local_invalid((str(n), str(r)) for n, r in resume.get("local_invalid") or [])
        self._log_outcome(results, accounting, writer)
        summary = results.summary(lookup_ids, accounting, self.result_path)
        summary["instance_id"] = resume.get("instance_id") or summary["instance_id"]
        if self.import_tag:
            tag = check_tag(self.import_tag, "import_tag")
            summary["import"] = import_lookups(self.hook, lookup_ids, tag, self.log)
        self._summary, self._result_lines = summary, writer.lines if writer else None
        return summary

    def _announce(self, context: Context, summary: dict[str, Any]) -> dict[str, Any]:
        keys = ("lookup_ids", "instance_id", "status", "counts", "result_path", "import")
        self.annotate_outlets(context, {k: summary[k] for k in keys if summary.get(k) is not None})
        return summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage for a finished lookup: the numbers file in, the result file and the imported contacts
        (``msgflash://<host>``, ``contacts/<tag>``) out, and a ``msgflash`` run facet with the lookup ids and
        counts. Needs ``apache-airflow-providers-openlineage`` (the ``openlineage`` extra)."""
        from airflow_provider_msgflash.lineage import lookup_lineage

        return lookup_lineage(
            self._summary or {},
            numbers_file=self.numbers_file,
            result_path=self.result_path,
            result_lines=self._result_lines,
            base_url=self.hook.settings.base_url,
        )

    def _log_outcome(self, results: LookupResults, acc: dict[str, int], writer: JsonLinesWriter | None) -> None:
        line, warning = results.outcome(acc)
        self.log.info("%s", line)
        if warning:
            self.log.warning("%s", warning)
        if writer:
            self.log.info("Wrote %d result line(s) to %s.", writer.lines, self.result_path)

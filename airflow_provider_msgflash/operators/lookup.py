""":class:`MsgFlashNumberLookupOperator`: check which phone numbers are on WhatsApp."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.api.defaults import MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.arguments import check_seconds, check_tag, is_template
from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashError
from airflow_provider_msgflash.operators.contacts import import_lookups
from airflow_provider_msgflash.operators.follow import MsgFlashLookupFollowerOperator
from airflow_provider_msgflash.polling import PollSchedule, describe_progress, small_progress
from airflow_provider_msgflash.readiness import check_health_policy, gate_instance
from airflow_provider_msgflash.results import LookupResults
from airflow_provider_msgflash.statuses import LookupStatus
from airflow_provider_msgflash.storage import JsonLinesWriter, check_location
from airflow_provider_msgflash.version_compat import AirflowSkipException

if TYPE_CHECKING:
    from airflow_provider_msgflash.phone_numbers import PreparedNumbers
    from airflow_provider_msgflash.version_compat import Context

#: XCom key of what ``execute_complete`` needs after a deferral (pushed before deferring, so a task
#: resumed on another worker never re-reads the user's inputs).
RESUME_XCOM_KEY = "msgflash_resume"
#: What an empty input may do.
IF_EMPTY = ("fail", "skip")


class MsgFlashNumberLookupOperator(MsgFlashLookupFollowerOperator):
    """Check which phone numbers are on WhatsApp with a MsgFlash number lookup.

    Before each run the instance is checked: its live state must be ``connected`` (or become so within
    ``readiness_timeout``) and its health is read and logged, then judged by ``health_policy``.

    Fewer than 100 numbers are looked up in one synchronous call. From 100 on, the lookup is submitted,
    its id pushed to XCom (``lookup_id``, ``lookup_ids``) at once, and followed by
    :class:`~airflow_provider_msgflash.triggers.msgflash.MsgFlashLookupTrigger` (``deferrable=True``) or
    in the worker (a lookup that may already be finished, such as one reused on a retry, is checked once
    first). More than 10,000 numbers are split into several lookups, merged in order.

    On a retry (or a cleared task) in the same DAG run, a lookup already submitted for the same
    request (same instance and count, created since the DAG run started, and, when finished, with the
    same numbers) is reused rather than submitted again.

    Returns (XCom ``return_value``) a small summary: ``lookup_id``, ``lookup_ids``, ``instance_id``,
    ``status``, ``counts`` (``requested``, ``on_whatsapp``, ``not_on_whatsapp``, ``invalid``, ...),
    ``accounting`` (inputs, sent, invalid before sending, duplicates removed), ``on_whatsapp`` (the
    list, when at most ``xcom_numbers_limit``), ``result_path`` and ``import`` (when ``import_tag``).
    With ``outlets=[Asset(...)]``, the asset event carries the ids, counts, result path and import.

    :param instance_id: the instance to use: its id, or its ``name`` or ``waNumber`` (resolved to the
        id). Templated.
    :param numbers: phone numbers in international format (a list of strings; templated, or an XComArg).
    :param numbers_file: a file of numbers (``.txt`` one per line, ``.csv`` with a ``phone``/``number``
        column, or ``.json`` list), added to ``numbers``: a local path, or any URL Airflow's
        ``ObjectStoragePath`` understands (``s3://bucket/leads.csv``, ``gs://...``, ``file://...``).
        Read as a stream. Templated.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param deferrable: wait in the triggerer rather than in a worker slot. Default:
        ``[operators] default_deferrable``.
    :param wait_for_completion: wait until the lookups finish (default). When False, return right after
        submitting, with the ids.
    :param poll_interval: shortest pause between progress checks (never below the docs' 2 s). The
        pause adapts to the lookup's measured pace.
    :param max_poll_interval: longest pause between progress checks.
    :param timeout: seconds to wait for completion after submitting; past it the lookups are
        cancelled (with ``cancel_on_kill``) and the task fails. ``execution_timeout`` also applies,
        whichever is shorter.
    :param cancel_on_kill: cancel the lookups this task submitted when it is killed, marked failed or
        cleared, when its wait times out, and when another lookup of the same run fails (default True).
    :param normalize: parse numbers with ``phonenumbers`` into E.164 before sending, drop duplicates
        and report unparseable ones as invalid locally (every input stays accounted for).
    :param default_region: two-letter region for numbers written without a country code (with
        ``normalize``), e.g. ``"CH"``.
    :param result_path: write every number's result to this JSON Lines file (recommended for big
        lookups; XCom only gets counts): a local path or an object storage URL, like ``numbers_file``.
        Written atomically (a reader never sees half a file). Templated.
    :param storage_conn_id: the Airflow connection for ``numbers_file`` / ``result_path`` URLs (e.g. an
        ``aws`` connection for ``s3://``); or name it in the URL (``s3://my_aws@bucket/key``). Without
        either, the filesystem's default credentials apply. Templated.
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
    :param if_empty: what an empty input (``numbers=[]``, an empty file) does: ``"fail"`` (default: the
        task fails, saying so) or ``"skip"`` (the task is skipped and nothing is sent: a day without
        new numbers is normal in a daily DAG).
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
        xcom_numbers_limit: int = 1000,
        if_empty: str = "fail",
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_empty not in IF_EMPTY:
            raise MsgFlashConfigError(
                f"`if_empty` must be one of {', '.join(IF_EMPTY)}, got {if_empty!r}.", code="BAD_ARGUMENT"
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
        self.xcom_numbers_limit = xcom_numbers_limit
        self.if_empty = if_empty
        self.storage_conn_id = storage_conn_id
        self._summary: dict[str, Any] | None = None
        self._result_lines: int | None = None

    # Input ---------------------------------------------------------------------------------------
    def prepare_numbers(self) -> PreparedNumbers:
        """Read, check and (with ``normalize``) normalise the input; refuse what cannot be sent."""
        from airflow_provider_msgflash.phone_numbers import NO_NUMBERS, load_numbers, prepare

        try:
            raw = load_numbers(self.numbers, self.numbers_file, self.storage_conn_id)
        except MsgFlashConfigError as e:
            if e.code == NO_NUMBERS and self.if_empty == "skip":
                raise AirflowSkipException("No numbers to look up today (if_empty='skip'): nothing sent.") from None
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

    # Run -----------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        prepared = self.prepare_numbers()
        if self.import_tag is not None:
            check_tag(self.import_tag, "import_tag")
        if self.result_path:  # before any quota is spent: the results will have a place to go
            check_location(self.result_path, self.storage_conn_id, field="result_path", write=True)
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
        answers = self.submit(instance_id, chunks, context)
        lookup_ids = [str(a["lookupId"]) for a in answers]
        resume: dict[str, Any] = {"instance_id": instance_id, "accounting": prepared.accounting()}
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
        pending = self.poll_once(lookup_ids, known) if self._could_be_done(answers, submitted_at) else unknown
        if pending:
            ti.xcom_push(key=RESUME_XCOM_KEY, value=resume)
            self.check_event(self.wait_for(lookup_ids, requested, submitted_at))
        return self._announce(context, self.finish(lookup_ids, known, resume))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: fetch the results (or cancel and fail)."""
        self.owned_lookups = [str(x) for x in (event or {}).get("lookup_ids") or []]
        event = self.check_event(event)
        ti = context["ti"]
        resume = ti.xcom_pull(task_ids=ti.task_id, key=RESUME_XCOM_KEY, map_indexes=getattr(ti, "map_index", -1))
        if not isinstance(resume, dict):
            raise MsgFlashError(
                f"XCom {RESUME_XCOM_KEY!r} pushed before deferring is missing ({resume!r:.80}); the lookups "
                f"{', '.join(self.owned_lookups)} are done: clear the task to read their results.",
                code="RESUME_STATE_MISSING",
            )
        return self._announce(context, self.finish(self.owned_lookups, {}, resume))

    def on_kill(self) -> None:
        """Cancel this try's lookups when the task is killed while running in a worker."""
        self.cancel_owned(self.owned_lookups, "task killed")

    # Steps ---------------------------------------------------------------------------------------
    def submit(self, instance_id: str, chunks: list[list[str]], context: Context) -> list[dict[str, Any]]:
        """Submit one lookup per chunk (or reuse an earlier try's); if one fails, cancel the others."""
        since = self._retry_window(context)
        answers: list[dict[str, Any]] = []
        try:
            for i, chunk in enumerate(chunks, 1):
                label = f"lookup {i} of {len(chunks)}" if len(chunks) > 1 else "lookup"
                used = {str(a["lookupId"]) for a in answers}
                answer = self.hook.find_reusable_lookup(instance_id, chunk, since, used) if since else None
                if answer is None:
                    answer = self.hook.create_number_lookup(instance_id, chunk, exclude=used)
                    self.log.info(
                        "Submitted %s %s: %d number(s), mode %s, status %s%s.",
                        label,
                        answer.get("lookupId"),
                        len(chunk),
                        answer.get("mode"),
                        answer.get("status"),
                        " (recovered after a lost answer)" if answer.get("recovered") else "",
                    )
                answers.append(answer)
                self.owned_lookups.append(str(answer["lookupId"]))
        except MsgFlashError as e:
            if self.owned_lookups:
                self.cancel_owned(self.owned_lookups, f"submitting the next part failed: {e.code}")
            raise
        return answers

    def _retry_window(self, context: Context) -> datetime | None:
        """When this DAG run started, on a retry with ``reuse_existing`` (lookups since then may be
        reused); None otherwise."""
        try_number = int(getattr(context["ti"], "try_number", 1) or 1)
        dag_run = context.get("dag_run")
        run_start = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
        if self.reuse_existing and try_number > 1 and isinstance(run_start, datetime):
            return run_start
        return None

    def _could_be_done(self, answers: list[dict[str, Any]], submitted_at: float) -> bool:
        """Whether a check before deferring could find the lookups finished: for lookups reused from an
        earlier try, yes; for new ones, only once the polling schedule's own first check is due (the
        trigger makes that check; asking sooner spends a request on a lookup that cannot be done)."""
        fresh = [a for a in answers if not a.get("recovered") and a.get("status") != "done"]
        if len(fresh) < len(answers):
            return True
        first = min(
            PollSchedule(int(a.get("requested") or 0), submitted_at, self.poll_interval).next_delay(now=submitted_at)
            for a in fresh
        )
        return time.time() - submitted_at >= first

    def poll_once(self, lookup_ids: list[str], known: dict[str, Any]) -> list[str]:
        """Check each unfinished lookup once before waiting; returns those still running. A lookup
        that already failed or was cancelled ends the task (its siblings cancelled when allowed)."""
        pending, seen = [], []
        for lid in lookup_ids:
            if lid in known:
                continue
            progress = self.hook.get_number_lookup_progress(lid)
            seen.append(small_progress(progress))
            self.log.info("Lookup %s: %s.", lid, describe_progress(progress))
            status = progress.get("status")
            if status in (LookupStatus.FAILED, LookupStatus.CANCELLED):
                message = f"lookup {lid} {status}: {progress.get('error') or ''}"
                self.check_event({"status": status, "lookup_ids": lookup_ids, "lookups": seen, "message": message})
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
                    raise MsgFlashError(
                        f"Lookup {lid} is {data.get('status')}, not done; cannot read its result.",
                        code="LOOKUP_NOT_DONE",
                    )
                results.add(lid, data)
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
        """OpenLineage for a finished lookup: the numbers file in, the result file and the imported
        contacts (``msgflash://<host>``, ``contacts/<tag>``) out, and a ``msgflash`` run facet with the
        lookup ids and counts. Needs ``apache-airflow-providers-openlineage`` (the ``openlineage`` extra)."""
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

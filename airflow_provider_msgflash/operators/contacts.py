"""Operators that act on lookups another task submitted: import the numbers found as contacts, cancel."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_msgflash.api.shapes import as_int, keys_of, lookup_error, note_shape, plus, small_answer
from airflow_provider_msgflash.arguments import check_tag, is_template, lookup_ids_from, summary_says_done
from airflow_provider_msgflash.base_operator import MsgFlashBaseOperator
from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashLookupError, MsgFlashLookupFinalError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.operators.follow import MsgFlashLookupFollowerOperator
from airflow_provider_msgflash.statuses import LookupStatus

if TYPE_CHECKING:
    from airflow_provider_msgflash.version_compat import Context

# -- the import answer's counts (undocumented: docs/api-assumptions.md) ------------------------------------
#: The import answer's counts, each with the names it is recognised under (the first is the assumed one).
IMPORT_COUNT_NAMES: dict[str, tuple[str, ...]] = {
    "imported": ("imported", "importedCount", "created", "createdCount", "new", "newCount"),
    "alreadyExisting": ("alreadyExisting", "alreadyExistingCount", "existing", "existingCount", "alreadyExists"),
    "skipped": ("skipped", "skippedCount", "ignored", "ignoredCount"),
}
#: Objects of the import answer the counts may be nested in (one level).
IMPORT_COUNT_HOLDERS = ("summary", "counts", "stats", "result")


@dataclass(frozen=True)
class ImportCounts:
    """The counts of one import answer: each an int, or None when the answer did not give it.

    :param shape: the names the counts were found under, when not the assumed ones.
    """

    counts: dict[str, int | None]
    shape: str | None

    @property
    def complete(self) -> bool:
        return all(v is not None for v in self.counts.values())


def _find_count(places: list[tuple[str, Any]], names: tuple[str, ...]) -> tuple[str, int | None]:
    for prefix, where in places:
        for name in names:
            value = as_int(where.get(name)) if isinstance(where, Mapping) else None
            if value is not None:
                return prefix + name, value
    return "", None


def read_import_counts(answer: Any) -> ImportCounts:
    """The counts of an import-contacts answer under any of :data:`IMPORT_COUNT_NAMES`, at its top
    level or one level down in one of :data:`IMPORT_COUNT_HOLDERS`."""
    places: list[tuple[str, Any]] = [("", answer)]
    if isinstance(answer, Mapping):
        places += [(f"{h}.", answer[h]) for h in IMPORT_COUNT_HOLDERS if isinstance(answer.get(h), Mapping)]
    counts: dict[str, int | None] = {}
    notes: list[str] = []
    for count, names in IMPORT_COUNT_NAMES.items():
        found, counts[count] = _find_count(places, names)
        if counts[count] is not None and found != count:
            notes.append(f"{count} as {found}")
    missing = [k for k, v in counts.items() if v is None]
    if missing:
        notes.append(f"no {', '.join(missing)} count (keys: {keys_of(answer)})")
    return ImportCounts(counts, "; ".join(notes) or None)


IMPORT_COUNTS = tuple(IMPORT_COUNT_NAMES)


def import_lookups(hook: MsgFlashHook, lookup_ids: list[str], tag: str, log: logging.Logger | Any) -> dict[str, Any]:
    """Import every lookup's on-WhatsApp numbers with ``tag``; the counts summed over the lookups.

    A count an answer did not give (under any name :func:`~airflow_provider_msgflash.api.shapes.read_import_counts`
    knows) is None, never 0; the summary then also carries the API's own answers (``api_answers``, small).
    """
    totals: dict[str, int | None] = dict.fromkeys(IMPORT_COUNTS, 0)
    answers = []
    for lid in lookup_ids:
        answer = hook.import_contacts(lid, tag)
        read = read_import_counts(answer)
        for k, v in read.counts.items():
            totals[k] = plus(totals[k], v)
        if read.shape:
            note_shape("POST /number-lookups/{id}/import-contacts", read.shape)
        answers.append(small_answer(answer))
        log.info(
            "Imported contacts from lookup %s with tag %r: %s new, %s already existing, %s skipped%s.",
            lid,
            tag,
            *("unknown" if v is None else v for v in read.counts.values()),
            "" if read.complete else f" (MsgFlash answered with keys {keys_of(answer)})",
        )
    summary: dict[str, Any] = {"lookup_ids": lookup_ids, "tag": tag, **totals}
    if any(v is None for v in totals.values()):
        summary["api_answers"] = answers
    return summary


class MsgFlashImportContactsOperator(MsgFlashLookupFollowerOperator):
    """Import the numbers a lookup found on WhatsApp as contacts with a tag.

    Waits for the lookup(s) first when they are not done yet (it never cancels them: they belong to the
    task that submitted them). Importing twice creates no duplicate contacts (existing ones count as
    ``alreadyExisting``). Returns ``{"lookup_ids", "tag", "imported", "alreadyExisting", "skipped"}``.

    Give it ``outlets=[Asset(...)]`` and the asset event it emits on success carries that same summary as
    ``extra``: a DAG scheduled on the asset then runs when contacts were imported, and reads the counts.

    :param lookup_id: the lookup to import from: the lookup task's output (``lookup.output``, its
        summary), a lookup id, a list of ids (a split lookup), or their JSON / Python text form (e.g. a
        rendered ``"{{ ti.xcom_pull(task_ids='lookup', key='lookup_ids') }}"``). Templated.
    :param tag: the tag given to the imported contacts (1-64 of ``A-Z a-z 0-9 - _ . :``). Templated.
    :param msgflash_conn_id: the Airflow connection (type ``msgflash``). Templated.
    :param wait_for_completion: wait for unfinished lookups (default); when False, fail if not done.
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param poll_interval: shortest pause between progress checks (at least 2 s).
    :param max_poll_interval: longest pause between progress checks.
    :param timeout: seconds to wait for the lookups; the task fails past it (the lookups go on).
    """

    template_fields: Sequence[str] = ("lookup_id", "tag", "msgflash_conn_id")

    def __init__(
        self,
        *,
        lookup_id: Any,
        tag: str,
        wait_for_completion: bool = True,
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        if cancel_on_kill:
            raise MsgFlashConfigError(
                "`cancel_on_kill=True` is not available on the import task: it never cancels lookups it did not "
                "submit. Set `cancel_on_kill` on the lookup task instead.",
                code="BAD_ARGUMENT",
            )
        super().__init__(cancel_on_kill=False, **kwargs)
        if not is_template(tag):
            check_tag(tag)
        self.lookup_id = lookup_id
        self.tag = tag
        self.wait_for_completion = wait_for_completion
        self._summary: dict[str, Any] | None = None

    def execute(self, context: Context) -> Any:
        tag = check_tag(self.tag)
        ids = lookup_ids_from(self.lookup_id)
        if summary_says_done(self.lookup_id):  # the lookup task's own summary: no need to ask again
            return self._import(context, ids, tag)
        pending, requested = [], []
        for lid in ids:
            progress = self.hook.get_number_lookup_progress(lid)
            status = progress.get("status")
            if status in (LookupStatus.FAILED, LookupStatus.CANCELLED):  # no retry of the import can change that
                detail = f": {lookup_error(progress)}" if lookup_error(progress) else ""
                raise MsgFlashLookupFinalError(
                    f"Lookup {lid} is {status}{detail}; there is nothing to import.", code=f"LOOKUP_{status.upper()}"
                )
            if status != LookupStatus.DONE:
                pending.append(lid)
                requested.append(int(progress.get("requestedCount") or 0))
        if pending:
            if not self.wait_for_completion:
                raise MsgFlashLookupError(
                    f"Lookup(s) {', '.join(pending)} not done yet and wait_for_completion=False.",
                    code="LOOKUP_NOT_DONE",
                )
            self.log.info("Lookup(s) %s not done yet; waiting before importing.", ", ".join(pending))
            self.check_event(self.wait_for(pending, requested, time.time()))
        return self._import(context, ids, tag)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the lookups finished: import."""
        self.check_event(event)
        return self._import(context, lookup_ids_from(self.lookup_id), check_tag(self.tag))

    def _import(self, context: Context, lookup_ids: list[str], tag: str) -> dict[str, Any]:
        self._summary = import_lookups(self.hook, lookup_ids, tag, self.log)
        self.annotate_outlets(context, self._summary)
        return self._summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage for an import: the contacts tagged ``tag`` (``msgflash://<host>``,
        ``contacts/<tag>``) as output, and a ``msgflash`` run facet with the lookup ids and counts."""
        from airflow_provider_msgflash.lineage import import_lineage

        return import_lineage(self._summary or {"tag": self.tag}, base_url=self.hook.settings.base_url)


class MsgFlashCancelLookupOperator(MsgFlashBaseOperator):
    """Cancel a pending or processing lookup. A lookup that already finished is not an error.

    Returns ``{"lookup_id", "cancelled": bool, "status"}``.

    :param lookup_id: the lookup id (templated). ``msgflash_conn_id`` (templated) names the connection.
    """

    template_fields: Sequence[str] = ("lookup_id", "msgflash_conn_id")

    def __init__(self, *, lookup_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookup_id = lookup_id

    def execute(self, context: Context) -> Any:
        answer = self.hook.cancel_number_lookup(self.lookup_id)
        if answer is not None:
            self.log.info("Cancelled lookup %s.", self.lookup_id)
            return {"lookup_id": self.lookup_id, "cancelled": True, "status": answer.get("status")}
        status = self.hook.get_number_lookup_progress(self.lookup_id).get("status")
        self.log.info("Lookup %s had already finished (%s); nothing to cancel.", self.lookup_id, status)
        return {"lookup_id": self.lookup_id, "cancelled": False, "status": status}

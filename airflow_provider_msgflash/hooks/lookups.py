"""The lookup conversations (more than one request), as plain functions of a :class:`MsgFlashHook`: submitting
(after an answer that does not prove the request was refused, look for what it may have created before sending
again), walking the lookup list in any paging style, proving a listed lookup is a request's own by **its numbers**
(never by count and time alone: two DAG runs look up different numbers of the same count, the parts of a split
lookup are all 10,000 long), reuse on a retry without task state, and naming an instance."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_msgflash.api.defaults import MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.api.shapes import lookup_id_of, lookup_mode, lookup_requested, parse_time
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashError,
    MsgFlashFinalError,
    MsgFlashNotFoundError,
)
from airflow_provider_msgflash.polling import TYPICAL_RATE, Poller, PollSchedule
from airflow_provider_msgflash.results import same_numbers
from airflow_provider_msgflash.statuses import LOOKUP_ACTIVE

if TYPE_CHECKING:
    from airflow_provider_msgflash.api.types import Instance, Lookup, LookupSubmission
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

#: Seconds to wait after an unclear create answer before looking for what it created; the list's page size
#: and the most pages a scan reads.
RECOVERY_PAUSE, PAGE_SIZE, MAX_SCAN_PAGES = 1.0, 100, 20
#: How far the server's clock may be behind ours: a lookup created up to this much before the moment looked
#: from may still be ours (older ones are not, and end the walk: the list is newest first).
MAX_CLOCK_SKEW = timedelta(minutes=15)
#: Longest wait for a running lookup to finish so that its numbers can be compared (seconds; at least three
#: times its typical duration).
PROOF_WAIT = 60.0


def check_lookup_request(instance_id: Any, numbers: Any) -> None:
    """Refuse, before sending, a lookup body the API would refuse; the message names the field and the fix."""
    if not isinstance(instance_id, str) or not instance_id.strip():
        why = f"`instance_id` must be a non-empty string (an instance's id from list_instances), got {instance_id!r}."
    elif not isinstance(numbers, list | tuple) or not numbers:
        why = f"`numbers` must be a non-empty list of strings such as '+41791234567', got {str(numbers)[:60]!r}."
    elif len(numbers) > MAX_NUMBERS_PER_LOOKUP:
        why = f"`numbers` has {len(numbers)} entries; one lookup takes at most {MAX_NUMBERS_PER_LOOKUP} (split them)."
    elif bad := [i for i, n in enumerate(numbers) if not isinstance(n, str)]:
        why = (
            f"`numbers` must hold strings; {len(bad)} do not (first at index {bad[0]}: {numbers[bad[0]]!r}). "
            "Quote phone numbers as strings, e.g. '+41791234567'."
        )
    else:
        return
    raise MsgFlashConfigError(why, code="BAD_ARGUMENT")


def submitted(item: Mapping[str, Any]) -> LookupSubmission:
    """A create-style answer for a lookup found again, marked ``recovered: True``."""
    return {
        "mode": lookup_mode(item),
        "lookupId": str(lookup_id_of(item)),
        "status": item.get("status"),
        "requested": lookup_requested(item),
        "recovered": True,
    }


def submit_lookup(
    hook: MsgFlashHook, instance_id: str, numbers: list[str], exclude: Collection[str] = ()
) -> LookupSubmission:
    """See :meth:`MsgFlashHook.create_number_lookup`: sent again only once the list proves the previous POST
    created nothing, at most ``max_retries`` times; a lookup it did create is returned (``recovered: True``)."""
    check_lookup_request(instance_id, numbers)
    instance_id = instance_id.strip()
    body = {"instanceId": instance_id, "numbers": list(numbers)}
    attempt = 0
    while True:
        attempt += 1
        sent_at = datetime.now(timezone.utc)
        try:
            answer: LookupSubmission = hook._request("POST", "/number-lookups", json=body, idempotent=False)
            return answer
        except MsgFlashError as exc:
            if not (exc.maybe_processed and exc.retryable):
                raise  # refused (4xx, 429), never sent, or answered 2xx unreadably (a wrong Base URL): said as such
            error = exc
        hook.log.warning(
            "The lookup request may have been processed by MsgFlash although no answer says so (%s); looking "
            "for the lookup it may have created before sending it again.",
            error,
        )
        time.sleep(RECOVERY_PAUSE)
        found = _recover(hook, instance_id, numbers, sent_at, exclude)
        if found is not None:
            return found
        if attempt > hook.settings.max_retries:
            raise error
        hook.log.info("No lookup was created by that request; sending it again.")


def _recover(
    hook: MsgFlashHook, instance_id: str, numbers: list[str], sent_at: datetime, exclude: Collection[str]
) -> LookupSubmission | None:
    """The lookup an unclear request created, None when surely none; ``LOOKUP_MAY_EXIST`` when it cannot tell."""
    scan = scan_lookups(hook, instance_id, len(numbers), sent_at, exclude)
    if scan.problem:
        raise _may_exist(instance_id, numbers, sent_at, scan.problem)
    found, unsure = find_own_lookup(hook, scan.candidates, numbers, sent_at)
    if found is not None:
        hook.log.info("Found lookup %s (same numbers) created by that request; using it.", lookup_id_of(found))
        return submitted(found)
    if unsure:
        why = f"lookup(s) of the same size that may be it could not be checked in time: {_describe(unsure)}"
        raise _may_exist(instance_id, numbers, sent_at, why)
    return None


def _may_exist(instance_id: str, numbers: list[str], sent_at: datetime, why: str) -> MsgFlashFinalError:
    return MsgFlashFinalError(
        f"The request creating a lookup of {len(numbers)} number(s) on instance {instance_id} may have been "
        f"processed by MsgFlash (sent at {sent_at.isoformat(timespec='seconds')}) although no answer said so, "
        f"and {why}. So it is not sent again (that could look the numbers up twice). A lookup may exist: check "
        "GET /api/v1/number-lookups (newest first) or the MsgFlash dashboard, then clear this task.",
        code="LOOKUP_MAY_EXIST",
    )


def _describe(items: Iterable[Mapping[str, Any]]) -> str:
    return ", ".join(f"{lookup_id_of(i)} ({i.get('status')}, createdAt {i.get('createdAt')})" for i in list(items)[:5])


@dataclass
class Scan:
    """What the lookup list holds that may be "the lookup we submitted": ``candidates``, same instance and
    count (or not said), created since the moment looked from (less :data:`MAX_CLOCK_SKEW`), neither
    cancelled nor failed, newest first. ``problem``: why the walk could not show every such lookup."""

    candidates: list[Lookup] = field(default_factory=list)
    problem: str | None = None


def is_candidate(item: Mapping[str, Any], instance_id: str, requested: int, oldest: datetime) -> bool:
    """Whether a listed lookup may be the one sought: an id; neither cancelled nor failed; the instance and the
    count, when given, are those asked for; created at or after ``oldest``, when said."""
    created = parse_time(item.get("createdAt"))
    return (
        lookup_id_of(item) is not None
        and item.get("status") not in ("cancelled", "failed")
        and item.get("instanceId") in (None, instance_id)
        and lookup_requested(item) in (None, requested)
        and (created is None or created >= oldest)
    )


def scan_lookups(
    hook: MsgFlashHook, instance_id: str, requested: int, since: datetime, exclude: Collection[str] = ()
) -> Scan:
    """Walk the lookup list (newest first) until a page reaches back past ``since`` (less
    :data:`MAX_CLOCK_SKEW`) or the list ends, at most :data:`MAX_SCAN_PAGES` pages, in whatever paging style it
    uses; ``problem`` says when it could not."""
    oldest, scan = since - MAX_CLOCK_SKEW, Scan()
    try:
        for page in hook.iter_pages("/number-lookups", "lookups", MAX_SCAN_PAGES, limit=PAGE_SIZE):
            items = page.items or []
            found = [i for i in items if is_candidate(i, instance_id, requested, oldest)]
            scan.candidates += cast("list[Lookup]", [i for i in found if lookup_id_of(i) not in exclude])
            if any((at := parse_time(i.get("createdAt"))) is not None and at < oldest for i in items):
                return scan  # newest first: everything further is older still
            if page.next is None:
                if not page.last:
                    scan.problem = f"the list says more lookups follow but not how to ask for them ({page.shape})"
                return scan
    except MsgFlashFinalError as e:
        return Scan(problem=f"the lookup list cannot be read ({e.message})")
    scan.problem = f"more than {MAX_SCAN_PAGES} pages of lookups were created since {since:%H:%M:%S} UTC"
    return scan


def find_own_lookup(
    hook: MsgFlashHook, candidates: list[Lookup], numbers: list[str], since: datetime
) -> tuple[Lookup | None, list[Lookup]]:
    """``(the candidate holding exactly numbers, those that could not be checked)``, the candidate created closest
    to ``since`` first. A running one is followed until done (its numbers show only then), at the polling
    schedule's pace, all of them within :data:`PROOF_WAIT` seconds or three times their typical duration."""
    deadline = time.time() + max(PROOF_WAIT, 3 * len(numbers) / TYPICAL_RATE)
    unsure: list[Lookup] = []
    order = sorted(range(len(candidates)), key=lambda n: (_distance(candidates[n], since), -n))  # ties: older first
    for item in (candidates[n] for n in order):
        lid, status = str(lookup_id_of(item)), str(item.get("status"))
        schedule, poller = PollSchedule(len(numbers), since.timestamp(), deadline=deadline), Poller(deadline)
        while status in LOOKUP_ACTIVE and not poller.past_deadline:
            time.sleep(poller.pause(schedule.next_delay()))
            progress = hook.get_number_lookup_progress(lid)
            schedule.observe(progress)
            status = str(progress.get("status"))
        same = same_numbers(hook.get_number_lookup(lid).get("result"), numbers) if status == "done" else None
        if same:
            return cast("Lookup", {**item, "status": "done"}), unsure
        if same is None and status != "failed":
            hook.log.info("Lookup %s (%s) cannot be compared with these numbers.", lid, status)
            unsure.append(item)
    return None, unsure


def _distance(item: Mapping[str, Any], since: datetime) -> float:
    created = parse_time(item.get("createdAt"))
    return abs((created - since).total_seconds()) if created is not None else float("inf")


def find_reusable_lookup(
    hook: MsgFlashHook, instance_id: str, numbers: list[str], since: datetime, exclude: Collection[str] = ()
) -> LookupSubmission | None:
    """For a retried task without task state: the lookup an earlier try submitted for exactly these
    ``numbers`` since ``since`` (the DAG run's start), found in the list and proven by its numbers; None when
    there is none or it cannot be proven (logged: the caller submits anew)."""
    scan = scan_lookups(hook, instance_id, len(numbers), since, exclude)
    if scan.problem and not scan.candidates:
        hook.log.warning(
            "Retry: cannot check whether an earlier try already submitted this lookup: %s. Submitting it; if an "
            "earlier try did too, see GET /api/v1/number-lookups or the MsgFlash dashboard.",
            scan.problem,
        )
        return None
    found, unsure = find_own_lookup(hook, scan.candidates, numbers, since)
    if found is not None:
        hook.log.info(
            "Retry: reusing lookup %s, submitted by an earlier try for exactly these %d numbers (compared once "
            "done), instead of submitting them again.",
            lookup_id_of(found),
            len(numbers),
        )
        return submitted(found)
    if unsure:
        hook.log.warning(
            "Retry: lookup(s) %s may have been submitted by an earlier try but their numbers could not be "
            "compared; submitting a new lookup.",
            _describe(unsure),
        )
    return None


def instance_ref(ref: Any) -> str:
    """An instance reference (id, name or waNumber), checked before anything is sent."""
    if not isinstance(ref, str) or not ref.strip():
        raise MsgFlashConfigError(
            f"An instance must be named by a non-empty id, name or waNumber, got {ref!r}.", code="BAD_ARGUMENT"
        )
    return ref.strip()


def pick_instance(ref: str, listed: list[Instance]) -> Instance:
    """The instance of ``listed`` named by ``ref``: its id, else its ``name``, else its ``waNumber``.
    Raises ``AMBIGUOUS_INSTANCE`` (several match) or ``NOT_FOUND`` naming the instances that exist."""
    instances = [i for i in listed if isinstance(i, dict) and not i.get("deletedAt")]
    for key in ("id", "name", "waNumber"):
        hits = [i for i in instances if i.get(key) == ref]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise MsgFlashConfigError(
                f"{len(hits)} instances have {key} {ref!r}; name the instance by its id instead: "
                + ", ".join(str(h.get("id")) for h in hits),
                code="AMBIGUOUS_INSTANCE",
            )
    known = ", ".join(f"{i.get('name')} ({i.get('id')}, {i.get('status')})" for i in instances[:20])
    raise MsgFlashNotFoundError(
        f"No instance has id, name or waNumber {ref!r} in this account. Known instances: {known or 'none'}.",
        code="NOT_FOUND",
    )

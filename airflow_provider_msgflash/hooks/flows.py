"""Conversations with the API that take more than one request, written once for both hooks.

A *flow* is a generator that yields what it needs next, a :class:`~airflow_provider_msgflash.api.routes.Call`
to send or a :class:`Pause`, and receives the answer's ``data`` (or has the hook's
:class:`~airflow_provider_msgflash.exceptions.MsgFlashError` thrown into it). The sync hook runs flows
with blocking sends and ``time.sleep``, the async hook with ``await``: paging, cancelling, recovering a
lost create answer, reuse on retry and resolving an instance exist once, whatever the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, Union

from airflow_provider_msgflash.api.lookups import (
    check_lookup_request,
    matching_lookups,
    parse_time,
    recovered_submission,
    same_numbers,
)
from airflow_provider_msgflash.api.routes import Call, call
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashConnectionError,
    MsgFlashError,
    MsgFlashLookupNotCancellableError,
    MsgFlashNotFoundError,
)

T = TypeVar("T")

#: Seconds to wait after a lost create answer before looking for the lookup it may have created.
RECOVERY_PAUSE = 1.0
#: Allowance for the difference between our clock and the server's when comparing ``createdAt``.
CLOCK_SKEW = timedelta(seconds=60)
#: Page size used when listing everything.
PAGE_SIZE = 100


@dataclass(frozen=True)
class Pause:
    """Ask the hook to wait ``seconds`` before the flow goes on."""

    seconds: float


@dataclass(frozen=True)
class Outcome:
    """What became of a step: the answer's ``data``, or the error it raised."""

    value: Any = None
    error: MsgFlashError | None = None


Step = Union[Call, Pause]  # noqa: UP007 - evaluated at runtime on Python 3.10 as well
Flow = Generator[Step, Any, T]


def advance(flow: Flow[T], outcome: Outcome | None) -> tuple[bool, Any]:
    """Feed ``outcome`` (None to start) into ``flow``: ``(True, result)`` once it has returned,
    else ``(False, next step)``. An error the flow does not handle propagates from here."""
    try:
        if outcome is None:
            return False, next(flow)
        if outcome.error is not None:
            return False, flow.throw(outcome.error)
        return False, flow.send(outcome.value)
    except StopIteration as stop:
        return True, stop.value


def send(c: Call) -> Flow[Any]:
    """The one-request flow."""
    answer = yield c
    return answer


def page_of(answer: Any, items_key: str) -> tuple[list[dict[str, Any]], str | None]:
    """``(items, next cursor or None)`` from one page of a paginated list."""
    if not isinstance(answer, dict):
        return [], None
    items = [x for x in answer.get(items_key) or [] if isinstance(x, dict)]
    cursor = answer.get("nextCursor")
    more = bool(answer.get("hasMore")) and isinstance(cursor, str) and bool(cursor)
    return items, cursor if more else None


def cancel(lookup_id: str, log: logging.Logger) -> Flow[Any]:
    """Cancel a lookup: the API's answer, or None when it had already finished."""
    try:
        answer = yield call("cancel_lookup", lookup_id=lookup_id)
    except MsgFlashLookupNotCancellableError:
        log.info("Lookup %s had already finished; nothing to cancel.", lookup_id)
        return None
    return answer


def find_lookups(
    instance_id: str, requested: int, created_after: datetime | None, max_pages: int = 5
) -> Flow[list[dict[str, Any]]]:
    """Lookups (newest first) on ``instance_id`` of ``requested`` numbers created after
    ``created_after``, not cancelled: candidates for "the lookup we already submitted"."""
    candidates: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = yield call("list_lookups", params={"limit": PAGE_SIZE, "cursor": cursor})
        items, cursor = page_of(page, "lookups")
        for item in items:
            created = parse_time(item.get("createdAt"))
            if created_after is not None and created is not None and created < created_after - CLOCK_SKEW:
                cursor = None  # newest first: everything further is older still
                break
            candidates.append(item)
        if cursor is None:
            break
    found = matching_lookups(candidates, instance_id=instance_id, requested=requested, created_after=created_after)
    return [dict(x) for x in found]


def create_lookup(instance_id: str, numbers: list[str], log: logging.Logger) -> Flow[dict[str, Any]]:
    """Submit a lookup; never repeat it blindly after a lost answer (see ``MsgFlashHook.create_number_lookup``)."""
    check_lookup_request(instance_id, numbers)
    instance_id = instance_id.strip()
    c = call("create_lookup", json={"instanceId": instance_id, "numbers": list(numbers)})
    sent_at = datetime.now(timezone.utc)
    try:
        answer = yield c
        return dict(answer)
    except MsgFlashConnectionError as exc:
        if not exc.maybe_sent:
            raise
        log.warning(
            "The lookup request may have reached MsgFlash but its answer was lost (%s); looking for the "
            "lookup it may have created before sending it again.",
            exc,
        )
    yield Pause(RECOVERY_PAUSE)
    found = yield from find_lookups(instance_id, len(numbers), created_after=sent_at)
    if found:
        log.info("Found lookup %s created by the lost request; using it.", found[0].get("id"))
        return recovered_submission(found[0])
    log.info("No lookup was created by the lost request; sending it again.")
    answer = yield c
    return dict(answer)


def reusable_lookup(
    instance_id: str, numbers: list[str], since: datetime, exclude: set[str], log: logging.Logger
) -> Flow[dict[str, Any] | None]:
    """A lookup submitted since ``since`` for the same request (same instance and count; when
    finished, the same numbers), not in ``exclude`` and not failed: what a retried task reuses
    instead of submitting the same numbers again. None when there is none."""
    for item in (yield from find_lookups(instance_id, len(numbers), created_after=since)):
        lid = str(item.get("id"))
        if lid in exclude or item.get("status") == "failed":
            continue
        if item.get("status") == "done":
            full = yield call("get_lookup", lookup_id=lid)
            if not same_numbers(full.get("result") if isinstance(full, dict) else None, numbers):
                continue
        log.info(
            "Retry: reusing lookup %s (status %s) submitted by an earlier try of this DAG run instead of "
            "submitting the same numbers again.",
            lid,
            item.get("status"),
        )
        return recovered_submission(item)
    return None


def resolve_instance(ref: str) -> Flow[dict[str, Any]]:
    """The instance named by ``ref``: its id, else its ``name`` or ``waNumber`` (one list call)."""
    if not isinstance(ref, str) or not ref.strip():
        raise MsgFlashConfigError(
            f"An instance must be named by a non-empty id, name or waNumber, got {ref!r}.", code="BAD_ARGUMENT"
        )
    ref = ref.strip()
    listed = yield call("list_instances")
    instances = [i for i in listed or [] if isinstance(i, dict) and not i.get("deletedAt")]
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

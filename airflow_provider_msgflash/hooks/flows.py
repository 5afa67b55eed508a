"""Conversations with the API that take more than one request, written once for both hooks.

A *flow* is a generator that yields what it needs next, a :class:`~airflow_provider_msgflash.api.routes.Call`
to send or a :class:`Pause`, and receives the answer's ``data`` (or has the hook's
:class:`~airflow_provider_msgflash.exceptions.MsgFlashError` thrown into it). The sync hook runs flows
with blocking sends and ``time.sleep``, the async hook with ``await``: paging, cancelling, recovering a
lost create answer, reuse on retry and resolving an instance exist once, whatever the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Generator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TypeVar, Union

from airflow_provider_msgflash.api.lookups import (
    MATCH,
    Window,
    check_lookup_request,
    clock_ahead,
    lookup_id_of,
    recovered_submission,
    same_numbers,
)
from airflow_provider_msgflash.api.routes import Call, call
from airflow_provider_msgflash.api.shapes import UNEXPECTED_SHAPE, Page, note_shape, read_page
from airflow_provider_msgflash.exceptions import (
    MsgFlashConfigError,
    MsgFlashConnectionError,
    MsgFlashError,
    MsgFlashFinalError,
    MsgFlashLookupNotCancellableError,
    MsgFlashNotFoundError,
)

T = TypeVar("T")

#: Seconds to wait after a lost create answer before looking for the lookup it may have created.
RECOVERY_PAUSE = 1.0
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
    """``(items, next cursor or None)`` from one page of a paginated list, in any shape
    :func:`~airflow_provider_msgflash.api.shapes.read_page` reads; raises :class:`MsgFlashFinalError`
    (``UNEXPECTED_SHAPE``) saying why when no list can be recognised, instead of yielding nothing."""
    page = _readable(read_page(answer, items_key), items_key)
    if page.items is None:
        raise MsgFlashFinalError(
            f"Cannot read the {items_key} list MsgFlash answered: {page.problem}. See docs/api-assumptions.md.",
            code=UNEXPECTED_SHAPE,
        )
    return page.items, page.cursor


def _readable(page: Page, items_key: str) -> Page:
    if page.shape:
        note_shape(f"the {items_key} list", page.shape)
    return page


def cancel(lookup_id: str, log: logging.Logger) -> Flow[Any]:
    """Cancel a lookup: the API's answer, or None when it had already finished."""
    try:
        answer = yield call("cancel_lookup", lookup_id=lookup_id)
    except MsgFlashLookupNotCancellableError:
        log.info("Lookup %s had already finished; nothing to cancel.", lookup_id)
        return None
    return answer


@dataclass
class Scan:
    """What the lookup list says about "the lookup we submitted": ``matches`` and ``maybes`` (see
    :meth:`~airflow_provider_msgflash.api.lookups.Window.kind`), newest first; ``problem``: why the list
    could not be read (then both are empty)."""

    matches: list[dict[str, Any]] = field(default_factory=list)
    maybes: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None


def scan_lookups(window: Window, exclude: Collection[str] = (), max_pages: int = 5) -> Flow[Scan]:
    """Read the lookup list (newest first) back to ``window.since`` and sort what may be ours."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        answer = yield call("list_lookups", params={"limit": PAGE_SIZE, "cursor": cursor})
        page = _readable(read_page(answer, "lookups"), "lookups")
        if page.items is None:
            return Scan(problem=page.problem)
        items += page.items
        cursor = page.cursor
        if cursor is None or any(window.older_than_any_candidate(i) for i in page.items):
            break  # newest first: everything further is older still
    window = replace(window, ahead=clock_ahead(items, datetime.now(timezone.utc)))
    scan = Scan()
    for item in items:
        kind = None if lookup_id_of(item) in exclude else window.kind(item)
        if kind is not None:
            (scan.matches if kind == MATCH else scan.maybes).append(item)
    return scan


def find_lookups(
    instance_id: str, requested: int, created_after: datetime | None, max_pages: int = 5
) -> Flow[list[dict[str, Any]]]:
    """Lookups (newest first) on ``instance_id`` of ``requested`` numbers created after
    ``created_after``, not cancelled: candidates for "the lookup we already submitted". Raises
    :class:`MsgFlashFinalError` (``UNEXPECTED_SHAPE``) when the list cannot be read."""
    scan = yield from scan_lookups(Window(instance_id, requested, created_after), max_pages=max_pages)
    if scan.problem:
        raise MsgFlashFinalError(f"Cannot read the lookup list: {scan.problem}.", code=UNEXPECTED_SHAPE)
    return [dict(x) for x in scan.matches]


def _verified(item: dict[str, Any], numbers: list[str]) -> Flow[bool | None]:
    """Whether a finished listed lookup holds ``numbers`` (None: cannot tell; not finished: None)."""
    if item.get("status") != "done":
        return None
    full = yield call("get_lookup", lookup_id=str(lookup_id_of(item)))
    return same_numbers(full.get("result") if isinstance(full, dict) else None, numbers)


def _describe(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"{lookup_id_of(i)} ({i.get('status')}, createdAt {i.get('createdAt')})" for i in items[:5])


def _may_exist(instance_id: str, numbers: list[str], sent_at: datetime, why: str) -> MsgFlashFinalError:
    return MsgFlashFinalError(
        f"The request creating a lookup of {len(numbers)} number(s) on instance {instance_id} may have reached "
        f"MsgFlash (sent at {sent_at.isoformat(timespec='seconds')}), but its answer was lost, and {why}. So it "
        "is not sent again (that could look the numbers up twice). A lookup may exist: check GET "
        "/api/v1/number-lookups (newest first) or the MsgFlash dashboard, then clear this task; it submits "
        "anew (or reuses that lookup on a retry).",
        code="LOOKUP_MAY_EXIST",
    )


def recover_lookup(
    instance_id: str, numbers: list[str], sent_at: datetime, exclude: Collection[str], log: logging.Logger
) -> Flow[dict[str, Any] | None]:
    """After a lost create answer: the lookup the request created (as a recovered answer), None when
    surely none was created; raises ``LOOKUP_MAY_EXIST`` (final) when that cannot be told."""
    scan = yield from scan_lookups(Window(instance_id, len(numbers), sent_at), exclude)
    if scan.problem:
        raise _may_exist(instance_id, numbers, sent_at, f"the lookup list cannot be read ({scan.problem})")
    if scan.matches:
        log.info("Found lookup %s created by the lost request; using it.", lookup_id_of(scan.matches[0]))
        return recovered_submission(scan.matches[0])
    unsure = []
    for item in scan.maybes:
        same = yield from _verified(item, numbers)  # None: not finished, or cannot tell
        if same:
            log.info("Found lookup %s (same numbers) created by the lost request; using it.", lookup_id_of(item))
            return recovered_submission(item)
        if same is None:
            unsure.append(item)
    if unsure:
        why = (
            f"the list shows lookup(s) of the same size that may be it and cannot be checked: {_describe(unsure)} "
            "(a field is missing, or the server's clock is behind ours)"
        )
        raise _may_exist(instance_id, numbers, sent_at, why)
    return None


def create_lookup(
    instance_id: str, numbers: list[str], log: logging.Logger, exclude: Collection[str] = ()
) -> Flow[dict[str, Any]]:
    """Submit a lookup; never repeat it blindly after a lost answer (see ``MsgFlashHook.create_number_lookup``).

    :param exclude: ids of lookups that are surely not this one (the other parts of a split lookup).
    """
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
    found = yield from recover_lookup(instance_id, numbers, sent_at, exclude, log)
    if found is not None:
        return found
    log.info("No lookup was created by the lost request; sending it again.")
    answer = yield c
    return dict(answer)


def reusable_lookup(
    instance_id: str, numbers: list[str], since: datetime, exclude: set[str], log: logging.Logger
) -> Flow[dict[str, Any] | None]:
    """A lookup submitted since ``since`` for the same request (same instance and count; when
    finished, the same numbers), not in ``exclude`` and not failed: what a retried task reuses
    instead of submitting the same numbers again. None when there is none (or none can be told: logged)."""
    scan = yield from scan_lookups(Window(instance_id, len(numbers), since), exclude)
    if scan.problem:
        log.warning(
            "Retry: cannot check whether an earlier try already submitted this lookup: the lookup list cannot "
            "be read (%s). Submitting it; if an earlier try did too, see GET /api/v1/number-lookups or the "
            "MsgFlash dashboard.",
            scan.problem,
        )
        return None
    unsure = []
    for maybe, item in [(False, i) for i in scan.matches] + [(True, i) for i in scan.maybes]:
        if item.get("status") == "failed":
            continue
        same = yield from _verified(item, numbers)  # None: not finished, or cannot tell
        if same is False:
            continue
        if same is None and (maybe or item.get("status") == "done"):
            unsure.append(item)
            continue
        log.info(
            "Retry: reusing lookup %s (status %s) submitted by an earlier try of this DAG run instead of "
            "submitting the same numbers again.",
            lookup_id_of(item),
            item.get("status"),
        )
        return recovered_submission(item)
    if unsure:
        log.warning(
            "Retry: lookup(s) %s may have been submitted by an earlier try but cannot be told apart from older "
            "ones (a field is missing, or the server's clock is behind ours); submitting a new lookup.",
            _describe(unsure),
        )
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

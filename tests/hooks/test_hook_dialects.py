"""The hooks' multi-request flows against a service that answers the undocumented routes in other shapes:
the sandbox under each dialect (docs/sandbox.md, "Dialects"), and the scriptable local server for the
shapes no dialect produces (an unreadable list).

Critical flows, each under every dialect: listing lookups in every paging style, recovering a lookup whose
create answer was lost (never a second lookup), and reusing an earlier try's lookup only when it holds the same
numbers (never another run's lookup of the same size)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashFinalError
from airflow_provider_msgflash.hooks import lookups
from airflow_provider_msgflash.hooks.lookups import find_reusable_lookup, scan_lookups
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.sandbox import DIALECTS, SEEDED_INSTANCES
from tests.hooks.msgflash_hookkit import when_seen

CONNECTED = SEEDED_INSTANCES["sandbox-connected"].id
#: Every dialect on its own, the canonical shapes, and all of them at once.
CASES = [None, *DIALECTS, "all"]
IDS = ["canonical", *DIALECTS, "all"]


def numbers(n: int, start: int = 0) -> list[str]:
    return [f"+4179{start + i:07d}" for i in range(n)]


def posts(sb: Any) -> list[dict[str, Any]]:
    return [r for r in sb.requests() if r["method"] == "POST" and r["path"] == "/api/v1/number-lookups"]


@pytest.fixture
def quick_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look again after an unclear answer at once, and give up waiting for a stalled lookup's numbers soon."""
    monkeypatch.setattr(lookups, "RECOVERY_PAUSE", 0.05)
    monkeypatch.setattr(lookups, "PROOF_WAIT", 2.0)
    monkeypatch.setattr(lookups, "TYPICAL_RATE", 1e9)  # the wait is PROOF_WAIT, whatever the size


# -- listing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_iter_number_lookups_reads_every_list_shape(sb: Any, dialect: str | None) -> None:
    in_force = sb.set_dialect(dialect)
    hook = MsgFlashHook()
    newest_first = [hook.create_number_lookup(CONNECTED, numbers(i + 1, 100 * i))["lookupId"] for i in range(5)][::-1]
    listed = [x["id"] for x in hook.iter_number_lookups(page_size=2)]
    # A plain array has no paging: its one page is all that can be listed.
    assert listed == (newest_first[:2] if "list-array" in in_force else newest_first)
    scan = scan_lookups(hook, CONNECTED, 3, datetime.now(timezone.utc) - timedelta(seconds=30))
    # Whatever the clock says (7 minutes behind, or ahead), the lookup of 3 is a candidate: numbers decide.
    assert [x["id"] for x in scan.candidates] == [newest_first[2]]
    assert scan.problem is None


# -- a lost create answer ---------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", CASES, ids=IDS)
@pytest.mark.parametrize("size", [4, 120])
def test_lost_create_answer_is_recovered_never_sent_twice(sb: Any, dialect: str | None, size: int, quick_proof) -> None:
    """The sandbox processes the POST and drops its answer: the hook finds the lookup it made, whatever the
    list's shape or paging or the server's clock: proven by its numbers."""
    sb.set_dialect(dialect)
    sb.set_faults(drop_rate=1.0, pace=0)  # pace 0: an async lookup is finished when its 202 leaves
    lift = when_seen(sb, lambda r: r["method"] == "POST", lambda: sb.set_faults(drop_rate=0.0))
    answer = MsgFlashHook(max_retries=3).create_number_lookup(CONNECTED, numbers(size))
    lift.join()
    (lookup,) = sb.state()["lookups"]
    assert [p["dropped"] for p in posts(sb)] == [True]
    assert answer == {
        "mode": "sync" if size < 100 else "async",
        "lookupId": lookup["id"],
        "status": "done",
        "requested": size,
        "recovered": True,
    }


def test_lost_create_answer_with_the_list_under_items_is_not_a_duplicate_lookup(sb: Any) -> None:
    """Issue 13's first case: reading the list as ``data.lookups`` only (before api/shapes.py), the hook resent
    the request."""
    sb.set_dialect("list-items")
    sb.set_faults(drop_rate=1.0)
    lift = when_seen(sb, lambda r: r["method"] == "POST", lambda: sb.set_faults(drop_rate=0.0))
    answer = MsgFlashHook(max_retries=3).create_number_lookup(CONNECTED, numbers(4))
    lift.join()
    assert len(sb.state()["lookups"]) == 1 and len(posts(sb)) == 1
    assert answer["recovered"] is True


def test_lost_create_answer_that_cannot_be_checked_fails_saying_a_lookup_may_exist(sb: Any, quick_proof) -> None:
    """The lookup the lost request made stalls: its numbers cannot be compared in time (whatever the server's
    clock), so the request is not sent again; the task fails for good, saying how to check."""
    sb.set_dialect("clock-behind")
    sb.set_faults(drop_rate=1.0, stall_lookups=1)
    lift = when_seen(sb, lambda r: r["method"] == "POST", lambda: sb.set_faults(drop_rate=0.0))
    with pytest.raises(MsgFlashFinalError) as ei:
        MsgFlashHook(max_retries=3).create_number_lookup(CONNECTED, numbers(120))
    lift.join()
    (lookup,) = sb.state()["lookups"]
    assert len(posts(sb)) == 1
    assert ei.value.code == "LOOKUP_MAY_EXIST"
    message = str(ei.value)
    assert lookup["id"] in message and "GET /api/v1/number-lookups" in message and "dashboard" in message
    assert "could not be checked in time" in message


UNREADABLE_LISTS = {
    "no list": {"count": 1, "nextCursor": None},
    "two lists": {"recent": [{"id": "a"}], "archived": [{"id": "b"}]},
    "ids only": ["l-1", "l-2"],
}


@pytest.mark.parametrize("shape", list(UNREADABLE_LISTS))
def test_lost_create_answer_with_an_unreadable_list_fails_without_resending(fake_api, fake_conn, shape) -> None:
    fake_conn(max_retries=3, timeout=0.5)
    fake_api.on("POST", "/number-lookups", fake_api.ok({"mode": "sync", "lookupId": "l"}, delay=1.2))
    fake_api.on("GET", "/number-lookups", fake_api.ok(UNREADABLE_LISTS[shape]))
    with pytest.raises(MsgFlashFinalError) as ei:
        MsgFlashHook().create_number_lookup("inst-1", numbers(3))
    assert ei.value.code == "LOOKUP_MAY_EXIST"
    assert "the lookup list cannot be read" in str(ei.value) and "may exist" in str(ei.value)
    assert len(fake_api.seen("POST", "/number-lookups")) == 1


def _listed(lookup_id: str, requested: int) -> Callable[[Any], dict[str, Any]]:
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    item = {"id": lookup_id, "instanceId": "inst-1", "status": "processing", "requestedCount": requested}
    return lambda seen: {"data": {"lookups": [{**item, "createdAt": now}], "nextCursor": None, "hasMore": False}}


def test_lost_create_answer_never_takes_another_part_of_a_split_lookup(fake_api, fake_conn) -> None:
    """Part 2 of a split lookup (same instance, same size as part 1): its request timed out unprocessed;
    part 1 is not taken for it (``exclude``), the request is sent again."""
    fake_conn(max_retries=3, timeout=0.5)
    again = {"mode": "async", "lookupId": "l-part2", "status": "pending", "requested": 150}
    fake_api.on("POST", "/number-lookups", fake_api.ok({}, delay=1.2), fake_api.ok(again, status=202))
    fake_api.on("GET", "/number-lookups", fake_api.Reply(200, _listed("l-part1", 150)))
    assert MsgFlashHook().create_number_lookup("inst-1", numbers(150), exclude={"l-part1"}) == again
    assert len(fake_api.seen("POST", "/number-lookups")) == 2


# -- reuse on a retry -------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_retry_reuses_a_finished_lookup_with_the_same_numbers(sb: Any, dialect: str | None) -> None:
    sb.set_dialect(dialect)
    hook = MsgFlashHook()
    nums = numbers(30)
    first = hook.create_number_lookup(CONNECTED, nums)
    since = datetime.now(timezone.utc) - timedelta(minutes=5)  # the DAG run started 5 minutes ago
    again = find_reusable_lookup(hook, CONNECTED, nums, since)
    assert again is not None and (again["lookupId"], again["recovered"]) == (first["lookupId"], True)
    assert find_reusable_lookup(hook, CONNECTED, numbers(30, 500), since) is None
    assert find_reusable_lookup(hook, CONNECTED, nums, since, {first["lookupId"]}) is None
    assert len(sb.state()["lookups"]) == 1


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_retry_reuses_a_running_lookup_once_its_numbers_prove_it(sb: Any, dialect: str | None) -> None:
    """A running lookup does not show its numbers: it is waited for, then compared, then reused."""
    sb.set_dialect(dialect)
    hook = MsgFlashHook()
    first = hook.create_number_lookup(CONNECTED, numbers(200))
    assert first["status"] == "pending"
    again = find_reusable_lookup(hook, CONNECTED, numbers(200), datetime.now(timezone.utc) - timedelta(minutes=5))
    assert again is not None and (again["lookupId"], again["status"]) == (first["lookupId"], "done")


def test_retry_never_adopts_another_runs_running_lookup_of_the_same_size(sb: Any) -> None:
    """The measured defect: run Y submits 250 numbers; run X's retry, for 250 *other* numbers on the same instance,
    took Y's pending lookup as its own. Now Y's lookup is waited for, its numbers compared, and left alone."""
    hook = MsgFlashHook()
    theirs = sb.create_lookup_as_other(CONNECTED, numbers(250, 9000))
    assert theirs["status"] == "pending"
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert find_reusable_lookup(hook, CONNECTED, numbers(250), since) is None
    assert [lk["status"] for lk in sb.state()["lookups"]] == ["done"]  # not cancelled: not ours


def test_retry_with_a_lookup_that_cannot_be_checked_submits_and_says_so(
    sb: Any, quick_proof, capfd: pytest.CaptureFixture[str]
) -> None:
    sb.set_faults(stall_lookups=1)
    hook = MsgFlashHook()
    first = hook.create_number_lookup(CONNECTED, numbers(200))
    assert (
        find_reusable_lookup(hook, CONNECTED, numbers(200), datetime.now(timezone.utc) - timedelta(minutes=5)) is None
    )
    out = capfd.readouterr().out
    assert f"lookup(s) {first['lookupId']}" in out and "could not be compared" in out


def test_retry_that_cannot_read_the_list_says_so_and_submits(fake_api, fake_conn, capfd) -> None:
    fake_conn()
    fake_api.on("GET", "/number-lookups", fake_api.ok({"recent": [{"id": "a"}], "archived": [{"id": "b"}]}))
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert find_reusable_lookup(MsgFlashHook(), "inst-1", numbers(3), since) is None
    out = capfd.readouterr().out
    assert "cannot check whether an earlier try already submitted this lookup" in out
    assert "several lists" in out


def test_lost_create_answer_with_a_done_lookup_that_cannot_be_checked_is_not_resent(fake_api, fake_conn) -> None:
    """A listed lookup of the same size without createdAt (a "maybe"), done, whose detail has no result:
    it may be ours and cannot be checked, so the request is not sent again."""
    fake_conn(max_retries=3, timeout=0.5)
    fake_api.on("POST", "/number-lookups", fake_api.ok({}, delay=1.2))
    item = {"id": "l-1", "instanceId": "inst-1", "status": "done", "requestedCount": 3}
    fake_api.on("GET", "/number-lookups", fake_api.ok({"lookups": [item], "nextCursor": None, "hasMore": False}))
    fake_api.on("GET", "/number-lookups/l-1", fake_api.ok({**item, "summary": "3 checked"}))
    with pytest.raises(MsgFlashFinalError) as ei:
        MsgFlashHook().create_number_lookup("inst-1", numbers(3))
    assert ei.value.code == "LOOKUP_MAY_EXIST" and "l-1 (done, createdAt None)" in str(ei.value)
    assert len(fake_api.seen("POST", "/number-lookups")) == 1
    fake_api.on("GET", "/number-lookups/l-1", fake_api.ok({**item, "result": {"onWhatsApp": numbers(3, 7)}}))
    fake_api.on("POST", "/number-lookups", fake_api.ok({}, delay=1.2), fake_api.ok({"lookupId": "l-2"}))
    assert MsgFlashHook().create_number_lookup("inst-1", numbers(3)) == {"lookupId": "l-2"}  # other numbers

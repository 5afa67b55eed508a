"""The hooks' multi-request flows against a service that answers the undocumented routes in other shapes:
the sandbox under each dialect (docs/sandbox.md, "Dialects"), and the scriptable local server for the
shapes no dialect produces (an unreadable list).

Critical flows, each under every dialect, with the sync and the async hook: listing lookups, recovering a
lookup whose create answer was lost (never a second lookup), and reusing an earlier try's lookup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashFinalError
from airflow_provider_msgflash.hooks import flows
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
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


async def call(hook: Any, method: str, *args: Any) -> Any:
    """``hook.method(*args)`` for either hook (the async hook's methods return awaitables)."""
    result = getattr(hook, method)(*args)
    return await result if isinstance(hook, MsgFlashAsyncHook) else result


HOOKS = [MsgFlashHook, MsgFlashAsyncHook]


# -- listing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_iter_number_lookups_reads_every_list_shape(sb: Any, dialect: str | None) -> None:
    in_force = sb.set_dialect(dialect)
    hook = MsgFlashHook()
    newest_first = [hook.create_number_lookup(CONNECTED, numbers(i + 1, 100 * i))["lookupId"] for i in range(5)][::-1]
    listed = [x["id"] for x in hook.iter_number_lookups(page_size=2)]
    # A plain array has no paging: its one page is all that can be listed.
    assert listed == (newest_first[:2] if "list-array" in in_force else newest_first)
    found = hook.find_lookups(CONNECTED, 3, datetime.now(timezone.utc) - timedelta(seconds=30))
    assert [x["id"] for x in found] == ([] if "clock-behind" in in_force else [newest_first[2]])


# -- a lost create answer ---------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", CASES, ids=IDS)
@pytest.mark.parametrize(("hook_class", "size"), [(MsgFlashHook, 4), (MsgFlashHook, 120), (MsgFlashAsyncHook, 120)])
async def test_lost_create_answer_is_recovered_never_sent_twice(
    sb: Any, dialect: str | None, hook_class: Any, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox processes the POST and drops its answer: the hook finds the lookup it made, whatever
    the list's shape or the server's clock (a lookup seen minutes behind is checked by its numbers)."""
    monkeypatch.setattr(flows, "RECOVERY_PAUSE", 0.05)  # the sandbox has processed the POST already
    sb.set_dialect(dialect)
    sb.set_faults(drop_rate=1.0, pace=0)  # pace 0: an async lookup is finished when its 202 leaves
    lift = when_seen(sb, lambda r: r["method"] == "POST", lambda: sb.set_faults(drop_rate=0.0))
    answer = await call(hook_class(max_retries=3), "create_number_lookup", CONNECTED, numbers(size))
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


def test_lost_create_answer_that_cannot_be_checked_fails_saying_a_lookup_may_exist(sb: Any) -> None:
    """Server clock 7 minutes behind and the lookup still running: it cannot be told from an older lookup
    of the same size, so the request is not sent again; the task fails for good, saying how to check."""
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
    assert "server's clock is behind" in message


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
@pytest.mark.parametrize("hook_class", HOOKS)
async def test_retry_reuses_a_finished_lookup_with_the_same_numbers(
    sb: Any, dialect: str | None, hook_class: Any
) -> None:
    sb.set_dialect(dialect)
    hook = hook_class()
    nums = numbers(30)
    first = await call(hook, "create_number_lookup", CONNECTED, nums)
    since = datetime.now(timezone.utc) - timedelta(minutes=5)  # the DAG run started 5 minutes ago
    again = await call(hook, "find_reusable_lookup", CONNECTED, nums, since, set())
    assert again is not None and (again["lookupId"], again["recovered"]) == (first["lookupId"], True)
    assert await call(hook, "find_reusable_lookup", CONNECTED, numbers(30, 500), since, set()) is None
    assert await call(hook, "find_reusable_lookup", CONNECTED, nums, since, {first["lookupId"]}) is None
    assert len(sb.state()["lookups"]) == 1


@pytest.mark.parametrize("dialect", CASES, ids=IDS)
def test_retry_reuses_a_running_lookup_unless_it_cannot_be_told_apart(
    sb: Any, dialect: str | None, capfd: pytest.CaptureFixture[str]
) -> None:
    in_force = sb.set_dialect(dialect)
    sb.set_faults(stall_lookups=1)
    hook = MsgFlashHook()
    first = hook.create_number_lookup(CONNECTED, numbers(200))
    again = hook.find_reusable_lookup(CONNECTED, numbers(200), datetime.now(timezone.utc) - timedelta(minutes=5), set())
    if "clock-behind" in in_force:
        # Created "7 minutes ago" by the server's clock, before the DAG run started by ours: it may be
        # an older lookup of the same size, and a running lookup cannot be checked by its numbers.
        assert again is None
        assert f"lookup(s) {first['lookupId']}" in capfd.readouterr().out
    else:
        assert again is not None and again["lookupId"] == first["lookupId"]
        assert again["status"] in ("pending", "processing")


@pytest.mark.parametrize("hook_class", HOOKS)
async def test_retry_that_cannot_read_the_list_says_so_and_submits(
    fake_api, fake_conn, hook_class: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_conn()
    fake_api.on("GET", "/number-lookups", fake_api.ok({"recent": [{"id": "a"}], "archived": [{"id": "b"}]}))
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert await call(hook_class(), "find_reusable_lookup", "inst-1", numbers(3), since, set()) is None
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

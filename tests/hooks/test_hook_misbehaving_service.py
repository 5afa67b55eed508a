"""The hook against a service that misbehaves as a real deployment does (the sandbox's gateway and account
switches): a create answered by a gateway's error after it was processed, a busy account whose lookup list pages
another way, a gateway's 429 without MsgFlash's envelope. Each failed on the provider before this round (a
duplicate lookup, a scan that stopped after one page, a rate cut to 0.7 requests/s)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msgflash.hooks import lookups
from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.ratelimit import limiter_for
from airflow_provider_msgflash.sandbox import SEEDED_INSTANCES
from tests.hooks.msgflash_hookkit import personal_key

CONNECTED = SEEDED_INSTANCES["sandbox-connected"].id


def numbers(n: int, start: int = 0) -> list[str]:
    return [f"+4179{start + i:07d}" for i in range(n)]


def ours(sb: Any) -> list[dict[str, Any]]:
    """The lookups this client created (not the busy account's other clients)."""
    return [lk for lk in sb.state()["lookups"] if lk.get("origin", "api") == "api"]


def creates(sb: Any) -> list[dict[str, Any]]:
    return [r for r in sb.requests() if r["method"] == "POST" and r["path"] == "/api/v1/number-lookups"]


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookups, "RECOVERY_PAUSE", 0.05)


@pytest.mark.parametrize("size", [4, 150], ids=["sync", "async"])
def test_a_create_answered_by_a_gateway_error_after_processing_is_found_not_sent_again(sb: Any, size: int) -> None:
    """A 502/503/504 HTML page came back, but the service had created the lookup: the hook looks, proves it by its
    numbers, and uses it. Before: the POST was sent again (two lookups, quota twice, the first never cancelled)."""
    sb.set_faults(gateway_after_create=1, pace="fast")
    answer = MsgFlashHook(max_retries=3).create_number_lookup(CONNECTED, numbers(size))
    (lookup,) = ours(sb)
    assert (answer["lookupId"], answer["recovered"]) == (lookup["id"], True)
    assert [r["status"] for r in creates(sb)] == [502] and creates(sb)[0]["processed"] is True


@pytest.mark.parametrize("paging", ["list-page-numbers", "list-cursor-renamed", "list-short-pages", "list-no-has-more"])
def test_a_busy_account_paged_another_way_still_finds_the_lookup(sb: Any, paging: str) -> None:
    """More than a page of other clients' lookups of the same size was created after ours, and the list pages
    another way than ``nextCursor``: every page that can hold ours is walked. Before: page 1 read, "not found",
    sent again."""
    sb.set_dialect(paging)
    sb.set_faults(gateway_after_create=1, busy_account=110)
    answer = MsgFlashHook(max_retries=3).create_number_lookup(CONNECTED, numbers(4))
    (lookup,) = ours(sb)
    assert (answer["lookupId"], answer["recovered"]) == (lookup["id"], True)
    assert len(creates(sb)) == 1 and len(sb.state()["lookups"]) > 110


def test_a_walk_that_cannot_finish_says_a_lookup_may_exist(sb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """More pages of lookups since the unclear answer than a scan reads: never "none", never sent again."""
    monkeypatch.setattr(lookups, "MAX_SCAN_PAGES", 2)
    sb.set_dialect("list-short-pages")  # 7 a page: 2 pages cannot reach past 40 newer lookups
    sb.set_faults(gateway_after_create=1, busy_account=40)
    with pytest.raises(Exception) as ei:
        MsgFlashHook(max_retries=3).create_number_lookup(CONNECTED, numbers(4))
    assert getattr(ei.value, "code", None) == "LOOKUP_MAY_EXIST" and "more than 2 pages" in str(ei.value)
    assert len(creates(sb)) == 1


def test_a_gateways_429_without_envelope_never_cuts_the_keys_rate(sandbox_conn: Any) -> None:
    """A gateway in front of MsgFlash answers 429 with an HTML page: the request backs off (its Retry-After) and
    goes through, and the key's adaptive limit is left alone. Before: cut as if another client shared the key."""
    key = personal_key()
    sb = sandbox_conn()
    sb.add_key(key)
    sandbox_conn(key=key, max_retries=4)
    sb.set_faults(gateway_429=1.0, gateway_429_retry_after=True)
    assert MsgFlashHook().list_instances()
    statuses = [r["status"] for r in sb.requests() if r["path"] == "/api/v1/instances"]
    assert statuses[0] == 429 and statuses[-1] == 200
    lim = limiter_for(key, 10)
    assert (lim.cuts, lim.limit) == (0, 10.0)

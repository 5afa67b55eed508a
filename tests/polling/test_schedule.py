"""The adaptive polling schedule stays frugal and punctual (what bench_polling.py measures), checked
without any clock: the schedule is fed the progress answers of a lookup moving at a steady pace."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL
from airflow_provider_msgflash.api.shapes import forget_noted_shapes
from airflow_provider_msgflash.polling import PollSchedule

T0 = 1_800_000_000.0  # any fixed epoch second
RATE = 20.0  # numbers per second: one batch of 20 a second, the realistic pace


def _iso(t: float) -> str:
    dt = datetime.fromtimestamp(t, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _progress(total: int, at: float) -> dict[str, Any]:
    """The answer of a lookup created at T0 checking RATE numbers a second, in whole batches of 20."""
    checked = min(total, int((at - T0) * RATE) // 20 * 20)
    done = checked >= total
    updated = T0 + checked / RATE
    return {
        "id": "lk",
        "status": "done" if done else "processing",
        "requestedCount": total,
        "normalizedCount": total,
        "checkedCount": checked,
        "createdAt": _iso(T0),
        "updatedAt": _iso(updated),
        "completedAt": _iso(T0 + total / RATE) if done else None,
    }


def _follow(total: int) -> tuple[int, float]:
    """(polls, lateness) of the schedule following a lookup of ``total`` numbers to its end."""
    schedule = PollSchedule(requested=total, started_at=T0)
    now = T0
    for polls in range(1, 50):
        now += schedule.next_delay(now)
        answer = _progress(total, now)
        schedule.observe(answer, now)
        if answer["status"] == "done":
            return polls, now - (T0 + total / RATE)
    raise AssertionError("the schedule never saw the lookup finish")


def test_first_poll_of_a_big_lookup_waits_well_beyond_two_seconds() -> None:
    delay = PollSchedule(requested=10_000, started_at=T0).next_delay(T0)
    assert delay > MIN_POLL_INTERVAL
    # A quarter of the time 10,000 numbers take at the typical pace (500 s), capped at 30 s so that a
    # faster-than-typical service is measured early: not a fixed 2 s clock.
    assert delay == 30


def test_first_poll_never_sooner_than_the_docs_two_seconds() -> None:
    assert PollSchedule(requested=100, started_at=T0).next_delay(T0) >= MIN_POLL_INTERVAL


def test_prediction_lands_just_after_the_predicted_end() -> None:
    total = 10_000
    end = T0 + total / RATE
    schedule = PollSchedule(requested=total, started_at=T0)
    for at in (T0 + 125, T0 + 300):
        schedule.observe(_progress(total, at), now=at)
    predicted = schedule.predicted_end()
    assert predicted is not None
    assert abs(predicted - end) < 1.0
    now = T0 + 300
    delay = schedule.next_delay(now)
    assert now + delay >= end  # not before the end ...
    assert now + delay <= end + 0.2 + 0.02 * (end - T0) + 1.0  # ... and only a little after it


def test_a_steady_lookup_is_followed_in_a_handful_of_polls() -> None:
    for total, fixed_clock_polls in ((2_000, 50), (10_000, 250)):
        polls, late = _follow(total)
        assert polls <= 4, (total, polls)
        assert polls <= 0.3 * fixed_clock_polls
        assert 0 <= late <= max(2.0, 0.1 * total / RATE), (total, late)


# -- timestamps that cannot be trusted as they are -------------------------------------------------
def _sandbox_like(total: int, pace: float, created: float) -> Any:
    """The progress answer at local time ``t`` of a lookup created at ``created`` that, like the
    sandbox, starts processing one ``pace`` after creation and checks a batch of 20 each ``pace`` after
    that; ``updatedAt`` is the time of the last step. Returns ``(answer(t), completion time)``."""
    steps = 1 + -(-total // 20)

    def answer(t: float) -> dict[str, Any]:
        n = max(0, min(steps, int((t - created) // pace)))
        checked = min(total, max(0, n - 1) * 20)
        status = "pending" if n == 0 else "done" if n == steps else "processing"
        return {
            "id": "lk",
            "status": status,
            "requestedCount": total,
            "normalizedCount": total,
            "checkedCount": checked,
            "createdAt": _iso(created),
            "updatedAt": _iso(created + n * pace),
        }

    return answer, created + steps * pace


SKEW = 7 * 60.0


def _shifted(answer: dict[str, Any], seconds: float) -> dict[str, Any]:
    moved = dict(answer)
    for k in ("createdAt", "updatedAt"):
        if k in moved:
            moved[k] = _iso(datetime.fromisoformat(moved[k].replace("Z", "+00:00")).timestamp() + seconds)
    return moved


#: How the server may write its timestamps: (answer as the sandbox-like lookup gives it, read time) -> answer.
VARIANTS = {
    "canonical": lambda a, t: a,
    "updatedAt = time of the read": lambda a, t: {**a, "updatedAt": _iso(t)},
    "no updatedAt": lambda a, t: {k: v for k, v in a.items() if k != "updatedAt"},
    "no timestamps": lambda a, t: {k: v for k, v in a.items() if k not in ("updatedAt", "createdAt")},
    "server clock 7 min ahead": lambda a, t: _shifted(a, SKEW),
    "server clock 7 min behind": lambda a, t: _shifted(a, -SKEW),
    "updatedAt stuck at createdAt": lambda a, t: {**a, "updatedAt": a["createdAt"]},
    "updatedAt = read time, clock behind": lambda a, t: _shifted({**a, "updatedAt": _iso(t)}, -SKEW),
}


def _follow_variant(variant: str, total: int, pace: float, waited: float = 0.0) -> tuple[int, int, float, float]:
    """Follow one lookup with the schedule: (polls, fixed 2 s poller's polls, lateness, goal lateness).
    ``waited``: seconds between the lookup's creation and the schedule's start (a retry reusing it)."""
    created = T0
    started = created - 0.05 + waited  # submitted just before the server created it
    answer, completed = _sandbox_like(total, pace, created)
    schedule = PollSchedule(requested=total, started_at=started)
    now = started
    for polls in range(1, 60):
        now += schedule.next_delay(now)
        seen = VARIANTS[variant](answer(now), now)
        schedule.observe(seen, now)
        if seen["status"] == "done":
            fixed = -(-(completed - started) // FIXED)  # the first 2 s tick at or after completion
            return polls, int(fixed), now - completed, max(2.0, 0.1 * (completed - created))
    raise AssertionError(f"{variant}: the schedule never saw the lookup finish")


FIXED = 2.0


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("pace", [1.0, 3.0], ids=["realistic", "3x slower"])
@pytest.mark.parametrize("total", [250, 2_000, 10_000])
def test_goals_hold_whatever_the_timestamps_say(variant: str, pace: float, total: int) -> None:
    """At most 0.3x the calls of a fixed 2 s poller, completion noticed no later than max(2 s, 10 % of the
    lookup's duration), whether updatedAt is exact, the time of the read, missing, stuck, or the server's
    clock is minutes off."""
    polls, fixed, late, goal = _follow_variant(variant, total, pace)
    assert polls <= 0.3 * fixed, (polls, fixed)
    assert 0 <= late <= goal, (late, goal)


@pytest.mark.parametrize("variant", ["canonical", "no updatedAt", "server clock 7 min behind"])
def test_goals_hold_for_a_lookup_reused_by_a_retry(variant: str) -> None:
    """The schedule starts 100 s after the lookup was created (a retry reusing it): creation and the
    schedule's start are not the same moment, which the pace estimate must not assume."""
    polls, fixed, late, goal = _follow_variant(variant, 10_000, 1.0, waited=100.0)
    assert polls <= 0.3 * fixed and 0 <= late <= goal, (polls, fixed, late, goal)


def test_updated_at_moving_with_each_read_switches_to_our_clock(caplog: pytest.LogCaptureFixture) -> None:
    forget_noted_shapes()
    schedule = PollSchedule(requested=250, started_at=T0)
    answer, _ = _sandbox_like(250, 3.0, T0)
    with caplog.at_level(logging.WARNING):
        for t in (T0 + 3.2, T0 + 5.2):  # both in the first step: processing, nothing checked yet
            schedule.observe(VARIANTS["updatedAt = time of the read"](answer(t), t), t)
    assert not schedule._server_clock
    assert any("updatedAt moving with each read" in r.getMessage() for r in caplog.records)
    forget_noted_shapes()


def test_server_times_are_mapped_to_our_clock_by_an_offset() -> None:
    """A server clock 7 minutes behind: the predicted end is on our clock, not 7 minutes early."""
    answer, completed = _sandbox_like(2_000, 1.0, T0)
    schedule = PollSchedule(requested=2_000, started_at=T0)
    for t in (T0 + 30.5, T0 + 60.5):
        schedule.observe(_shifted(answer(t), -SKEW), t)
    predicted = schedule.predicted_end()
    assert predicted is not None and completed <= predicted <= completed + 1.0


def _stalled_progress(total: int, stall_at: float, stall: float, at: float) -> dict[str, Any]:
    """A lookup checking RATE numbers a second that stands still for ``stall`` seconds from ``stall_at``."""
    moving = min(at, T0 + stall_at) + max(0.0, at - T0 - stall_at - stall) - T0
    answer = _progress(total, T0 + moving)
    # The server's time of the last progress: before the stall, during it, or after it resumed.
    shift = stall if moving > stall_at and answer["checkedCount"] > stall_at * RATE else 0.0
    answer["updatedAt"] = _iso(T0 + answer["checkedCount"] / RATE + shift)
    if answer["status"] == "done":
        answer["completedAt"] = answer["updatedAt"]
    return answer


@pytest.mark.parametrize("stall", [120.0, 300.0, 900.0])
def test_a_lookup_that_stands_still_is_polled_less_and_less_and_seen_soon_after_it_moves(stall: float) -> None:
    """A 2,000-number lookup stalls after 20 s, for ``stall`` seconds (900: the 15 minutes of the report), then
    finishes. While it stands still the pause grows (at most 0.3x the progress calls of a fixed 2 s poller over the
    stall; before: one every 2 s), and once it moves the pace is measured again: its end is seen no later than
    max(2 s, 10 % of its duration). (A stall shorter than the pauses around it cannot be told from a slower
    pace: docs/reliability.md.)"""
    total, stall_at = 2000, 20.0
    end = T0 + total / RATE + stall
    schedule, now, polls_in_stall = PollSchedule(requested=total, started_at=T0), T0, 0
    for _ in range(400):
        now += schedule.next_delay(now)
        answer = _stalled_progress(total, stall_at, stall, now)
        schedule.observe(answer, now)
        polls_in_stall += T0 + stall_at < now <= T0 + stall_at + stall
        if answer["status"] == "done":
            break
    assert answer["status"] == "done"
    assert polls_in_stall <= 0.3 * stall / 2.0
    assert now - end <= max(2.0, 0.1 * (end - T0))

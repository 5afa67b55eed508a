"""The adaptive polling schedule stays frugal and punctual (what bench_polling.py measures), checked
without any clock: the schedule is fed the progress answers of a lookup moving at a steady pace."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL
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

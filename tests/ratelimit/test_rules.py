"""The limiter's rules exactly (``book``, ``confirm``, ``on_answer``), driven with chosen times (no clock, no sleeping).

- the booking rule keeps at most ``c`` bookings in any window, however long the queue;
- a waiter that wakes late gives its slot back and queues again (no burst of overdue requests);
- AIMD: a 429 cuts the limit to ``beta`` x what was sent in the last window, once per generation, and
  drops the future bookings; the limit grows back by ``alpha`` per second, up to the rate;
- a property test: any interleaving of bookings, late and on-time wake-ups, 429s and successes sends
  at most ``rate`` requests in any window the server can see.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_msgflash.ratelimit import Policy, State, book, confirm, is_rate_limited, on_answer
from tests.ratelimit.ratelimit_kit import busiest

T0 = 1000.0
POL = Policy(rate=10)
W = POL.window(10)  # 1.04


def queue(st: State, n: int, now: float = T0, pol: Policy = POL) -> list[float]:
    return [book(st, pol, now) for _ in range(n)]


def test_a_queue_of_10000_is_one_chain_of_full_windows() -> None:
    s = State()
    slots = queue(s, 10_000)
    assert slots == sorted(slots)  # first come, first served
    assert busiest(slots, W) == 10
    # Ten per window, back to back, to the last one: no restart at "now" deep in the queue (the old
    # guard emptied the log once bookings were ~62 s ahead and started a second, overlapping chain).
    assert slots[-1] - T0 == pytest.approx(999 * W)
    assert all(b - a >= W - 1e-9 for a, b in zip(slots, slots[10:], strict=False))


def test_fractional_rates_never_round_up() -> None:
    for rate, per_second in ((9.5, 9), (2.5, 2), (1, 1), (0.5, 1)):
        pol = Policy(rate=rate)
        slots = queue(State(), 200, pol=pol)
        assert busiest(slots, 1.0) <= per_second
        assert busiest(slots, pol.window(rate)) <= per_second
    half = queue(State(), 4, pol=Policy(rate=0.5))
    assert [b - a for a, b in itertools.pairwise(half)] == pytest.approx([2.04] * 3)


def test_a_waiter_on_time_keeps_its_slot() -> None:
    s = State()
    slot = queue(s, 11)[-1]
    assert slot == T0 + W
    assert confirm(s, POL, slot, s.gen, slot) == (slot, s.gen)
    assert confirm(s, POL, slot, s.gen, slot + POL.late) == (slot, s.gen)
    assert confirm(s, POL, slot, s.gen, slot - 0.2) == (slot, s.gen)  # woke early: wait on


def test_a_late_waiter_gives_its_slot_back_and_queues_again() -> None:
    s = State()
    slots = queue(s, 30)  # 10 now, 10 at +W, 10 at +2W
    mine = slots[15]
    woke = mine + 0.3  # the loop stalled 300 ms
    new, _ = confirm(s, POL, mine, s.gen, woke)
    # Not now: ten requests are booked at +2W, and going now would put 10 + 10 into one window.
    assert new == pytest.approx(T0 + 3 * W)
    assert list(s.sent).count(mine) == 9  # its old slot was given back


def test_late_waiters_with_nothing_booked_after_them_go_at_once_as_one_shifted_burst() -> None:
    s = State()
    slots = queue(s, 20)  # 10 now, 10 at +W, nothing after
    woke = T0 + W + 0.3
    sends = slots[:10] + [confirm(s, POL, t, s.gen, woke)[0] for t in slots[10:]]
    assert sends[10:] == [woke] * 10  # the whole burst moved, none doubled up
    assert busiest(sends, W) == 10
    assert book(s, POL, woke) == woke + W


def test_a_429_cuts_to_beta_times_what_was_sent_once_per_generation() -> None:
    s = State()
    queue(s, 10)
    gen = s.gen
    assert on_answer(s, POL, gen, True, T0 + 0.1)
    assert s.limit == 7.0 and s.gen == gen + 1
    # The other answers of the same burst: already answered by that cut.
    assert not on_answer(s, POL, gen, True, T0 + 0.1)
    assert s.limit == 7.0
    assert not on_answer(s, POL, s.gen, False, T0 + 0.1)  # an accepted answer cuts nothing


def test_the_cut_follows_what_this_host_sent_not_a_limit_it_did_not_use() -> None:
    s = State()
    queue(s, 3)
    on_answer(s, POL, s.gen, True, T0 + 0.5)
    assert s.limit == 0.7 * 3
    for i in range(10):
        on_answer(s, POL, s.gen, True, T0 + 0.6 + i / 100)
    assert s.limit == POL.floor  # never below the floor (0.5/s at 10/s)


def test_a_cut_drops_the_queue_and_its_holders_book_again_under_the_new_limit() -> None:
    s = State()
    slots = queue(s, 30)
    old_gen = s.gen
    on_answer(s, POL, old_gen, True, T0 + 0.2)
    assert max(s.sent) == T0  # the bookings at +W and +2W are gone
    limit = s.limit_for(POL, T0 + 0.2)
    assert limit == 7.0
    resent = [confirm(s, POL, t, old_gen, T0 + 0.2)[0] for t in slots[10:]]  # each books again
    assert all(t > T0 for t in resent)
    assert busiest(resent, POL.window(limit)) == 7


def test_the_limit_grows_back_by_alpha_per_second_up_to_the_rate() -> None:
    s = State()
    queue(s, 10)
    on_answer(s, POL, s.gen, True, T0)
    assert [s.limit_for(POL, T0 + dt) for dt in (0, 1, 4, 10, 12, 100)] == [7.0, 7.25, 8.0, 9.5, 10.0, 10.0]
    # Each booking uses the limit in force when it is made: 7 per window at first, 8 after four seconds.
    assert busiest(queue(s, 7 * 3, now=T0), W) == 7
    assert busiest(queue(State(limit=7.0, grow_at=T0), 8 * 3, now=T0 + 4), W) == 8


def test_a_fixed_policy_never_adapts() -> None:
    pol = Policy(rate=10, adaptive=False)
    s = State()
    queue(s, 10, pol=pol)
    assert not on_answer(s, pol, s.gen, True, T0)
    assert s.limit_for(pol, T0) == 10 and s.gen == 0


def test_only_the_rate_limit_429_is_a_rate_limit() -> None:
    assert is_rate_limited(429, '{"error": {"code": "API_RATE_LIMIT_EXCEEDED"}}')
    # A gateway's bare 429 is not another client on the key: it must not cut the key's limit (issue: a
    # gateway in front of MsgFlash took the rate down to 0.7 requests/s and a run from 22 s to 39 s).
    assert not is_rate_limited(429, "<html>Too Many Requests</html>")
    assert not is_rate_limited(429, "")
    assert not is_rate_limited(429, '{"error": {"code": "MONTHLY_API_REQUEST_QUOTA_EXCEEDED"}}')
    assert not is_rate_limited(200, "")
    assert not is_rate_limited(503, "API_RATE_LIMIT_EXCEEDED")


# --------------------------------------------------------------------------------------------------
# Any interleaving
# --------------------------------------------------------------------------------------------------
OPS = st.lists(
    st.tuples(
        st.sampled_from(["arrive", "wake", "wake_late", "429", "ok", "tick"]),
        st.floats(min_value=0.0, max_value=2.5),
        st.integers(min_value=0, max_value=50),
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(OPS, st.sampled_from([10.0, 3.0, 9.5, 0.5]))
def test_no_interleaving_sends_more_than_the_rate_in_any_server_window(ops, rate) -> None:
    pol = Policy(rate=rate)
    s = State()
    now = T0
    waiting: list[tuple[float, int]] = []  # (slot, gen) of each holder
    sent: list[tuple[float, float, int]] = []  # (slot, sent at, gen)
    for op, dt, pick in ops:
        now += dt / 10 if op != "tick" else dt
        if op == "arrive":
            waiting.append((book(s, pol, now), s.gen))
        elif op in ("wake", "wake_late") and waiting:
            slot, gen = waiting.pop(pick % len(waiting))
            at = max(now, slot) + (pol.late + dt if op == "wake_late" else 0.0)
            now = max(now, at)
            new = confirm(s, pol, slot, gen, now)
            (sent.append((new[0], now, new[1])) if new[0] <= now else waiting.append(new))
        elif op in ("429", "ok") and sent:
            gen = sent[pick % len(sent)][2]
            on_answer(s, pol, gen, op == "429", now)
    times = [at for _, at, _ in sent]
    assert all(at - slot <= pol.late + 1e-9 for slot, at, _ in sent)
    # The server counts one-second windows; our sends leave within `late` of slots that are at
    # least `window` apart per `count`, so even a window of 1 + margin/2 holds no more.
    assert busiest(times, 1.0 + pol.margin / 2) <= pol.count(rate)

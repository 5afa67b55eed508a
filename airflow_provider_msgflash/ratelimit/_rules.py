"""The limiter's rules: pure functions of a :class:`State` and a time, with no clock and no I/O of their own.

Every backend (memory, host file, Redis) runs the same functions inside its own atomic transaction, so
what is proved here holds for all of them.

**The booking rule.** The log ``sent`` holds the send times booked on the key (sorted), from
``horizon`` seconds ago into the future. With a current limit of ``c`` requests per window ``w``, a
new booking goes at ``x = max(now, hold_until, sent[-c] + w)``. Any window of length ``w`` holding
``x`` starts after ``sent[-c]``, so it holds ``x`` and at most the ``c - 1`` later entries: never more
than ``c``, whatever the queue's length, and whatever limits the earlier entries were booked under.
The log is trimmed only by age (entries older than the longest possible window), never by count, so
``sent[-c]`` is always the true ``c``-th latest booking: no queue is long enough to restart a chain.

**Late waiters.** A waiter that wakes more than ``late`` seconds after its slot does not send: the
slots after its own were booked counting on it leaving on time. It gives its unused slot back and
books again (at the end of the queue, or now if the key is idle). So a stalled thread or event loop
never releases a burst of overdue requests, and sends leave within ``late`` of their slot; the
window's ``margin`` covers that plus the network's jitter.

**Adaptive limit (AIMD).** Hosts that do not share a log share the key's limit with each other. A
429 ``API_RATE_LIMIT_EXCEEDED`` cuts the limit to ``beta`` times what the log actually sent in the
last window (TCP's "half the flight size", not half a limit it may not be using), drops the future
bookings (their holders see the new generation and book again under the new limit), and answers
the other 429s of the same generation by nothing (one cut per episode). From the cut on, the limit
grows back by ``alpha`` requests per second every second, up to the configured rate: a cut never
outlives the contention that caused it (the state is kept in a file for days), and a host that
keeps hitting the limit keeps being cut.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right, insort
from dataclasses import dataclass, field

#: Seconds added to the one-second window: the gap between "sent" here and "counted" by the server.
DEFAULT_MARGIN = 0.04


@dataclass(frozen=True)
class Policy:
    """The configuration of one limiter (never stored; every user of a key passes the same).

    :param rate: requests per second allowed on the key (the server's limit, or a user's lower one).
    :param margin: seconds added to each one-second window.
    :param adaptive: cut the limit on a 429 and recover gradually (AIMD); off: a fixed limit.
    :param beta: multiplicative decrease on a 429 (of the requests sent in the last window).
    :param alpha: additive increase after a cut, in requests per second regained per second.
    :param hold: after a cut, no booking starts sooner than this many seconds.
    """

    rate: float
    margin: float = DEFAULT_MARGIN
    adaptive: bool = True
    beta: float = 0.7
    alpha: float = 0.25
    hold: float = 0.0

    @property
    def floor(self) -> float:
        """The lowest limit AIMD cuts to (a twentieth of the rate, one request per 20 s at least)."""
        return min(self.rate, max(self.rate / 20.0, 0.05))

    @property
    def late(self) -> float:
        """How late after its slot a waiter may still send (half the margin; the rest is jitter)."""
        return self.margin / 2.0

    @property
    def horizon(self) -> float:
        """How long an entry can matter: the longest window any limit can have."""
        return self.window(self.floor)

    def count(self, limit: float) -> int:
        """Requests per window at ``limit`` requests per second (a fraction never rounds up)."""
        return max(1, int(limit + 1e-9))

    def window(self, limit: float) -> float:
        """The window for ``limit``: never shorter than the server's second (9.5/s is 9 per second,
        not 9 per 0.95 s), longer for fractions (0.5/s is one per two seconds), plus the margin."""
        return max(1.0, self.count(limit) / limit) + self.margin


@dataclass
class State:
    """What a backend stores for a key (shared by every process, or host, using that backend).

    :ivar sent: booked send times, sorted, on the backend's clock (an array of doubles: a file or
        Redis store loads and saves it as one block of bytes).
    :ivar limit: the limit set by the last cut, in requests per second (0: never cut).
    :ivar gen: bumped by every cut; a booking from an older generation is no longer valid.
    :ivar grow_at: when the last cut happened (the limit grows back from there).
    :ivar hold_until: no booking before this time.
    """

    sent: array[float] = field(default_factory=lambda: array("d"))
    limit: float = 0.0
    gen: int = 0
    grow_at: float = 0.0
    hold_until: float = 0.0

    def limit_for(self, policy: Policy, now: float) -> float:
        """The limit in force at ``now``: the last cut's, grown back by ``alpha`` per second since."""
        if self.limit <= 0 or not policy.adaptive:
            return policy.rate
        grown = self.limit + policy.alpha * max(0.0, now - self.grow_at)
        return min(policy.rate, max(policy.floor, grown))

    def shift(self, delta: float) -> None:
        """Move every time by ``delta`` (the backend's clock was stepped; keep the spacing)."""
        self.sent = array("d", (t + delta for t in self.sent))
        self.grow_at += delta
        self.hold_until += delta


def book(st: State, policy: Policy, now: float) -> float:
    """Book the earliest slot the rule allows; return it (``<= now``: send at once)."""
    del st.sent[: bisect_right(st.sent, now - policy.horizon)]
    limit = st.limit_for(policy, now)
    c = policy.count(limit)
    slot = max(now, st.hold_until)
    if len(st.sent) >= c:
        slot = max(slot, st.sent[-c] + policy.window(limit))
    insort(st.sent, slot)
    return slot


def confirm(st: State, policy: Policy, slot: float, gen: int, now: float) -> tuple[float, int]:
    """A waiter woke at ``now`` for ``slot``: keep it if still valid and not late, else book anew.

    Returns the (possibly new) slot and generation; the caller sends once the slot is ``<= now``.
    """
    if gen == st.gen:
        if now <= slot + policy.late:
            return slot, gen
        discard(st.sent, slot)  # woke too late: the slot was never used; give it back
    return book(st, policy, now), st.gen


def discard(sent: array[float], t: float) -> None:
    i = bisect_right(sent, t) - 1
    if i >= 0 and sent[i] == t:
        del sent[i]


def on_answer(st: State, policy: Policy, gen: int, limited: bool, now: float) -> bool:
    """Adapt the limit to an answer (AIMD); returns whether this answer cut it."""
    if not (policy.adaptive and limited) or gen != st.gen:
        return False  # nothing to learn, or a cut already answered this generation's 429s
    limit = st.limit_for(policy, now)
    used = bisect_right(st.sent, now) - bisect_right(st.sent, now - policy.window(limit))
    st.limit = max(policy.floor, min(limit, max(1, used)) * policy.beta)
    st.gen += 1
    del st.sent[bisect_right(st.sent, now) :]  # future bookings: their holders book again
    st.grow_at = now
    st.hold_until = max(st.hold_until, now + policy.hold)
    return True

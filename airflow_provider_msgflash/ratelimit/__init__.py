"""The client-side limit of one API key (10 requests/s), shared by every hook, thread and coroutine using it.

Its state lives where the connection extra ``rate_limit_backend`` says: ``host`` (default: a file every process
on this machine shares), ``process``, or a Redis URL (every machine: ``_redis``). Every store runs the same pure
rules (:func:`book`, :func:`confirm`, :func:`on_answer`) in its own atomic transaction, so what the rule tests
prove holds for all; the rules are explained in docs/reliability.md ("The rate limiter").
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import struct
import tempfile
import threading
import time
import uuid
from array import array
from bisect import bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, Protocol, TypeVar

try:  # POSIX only; elsewhere the limiter is per process.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Seconds added to the one-second window (the gap between "sent" here and "counted" there), and a loop
#: turn this short means the event loop is calm (a request started now leaves now).
DEFAULT_MARGIN, CALM_TURN = 0.04, 0.005


@dataclass(frozen=True)
class Policy:
    """``rate`` requests/s, ``margin`` s added to each window, AIMD (``adaptive``) with decrease ``beta``, increase
    ``alpha`` (requests/s regained per second) and ``hold`` (s without booking after a cut); derived: ``floor`` (the
    lowest cut), ``late`` (how late a waiter may still send), ``horizon`` (how long a booking matters)."""

    rate: float
    margin: float = DEFAULT_MARGIN
    adaptive: bool = True
    beta: float = 0.7
    alpha: float = 0.25
    hold: float = 0.0
    floor: float = field(init=False)
    late: float = field(init=False)
    horizon: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "floor", min(self.rate, max(self.rate / 20.0, 0.05)))
        object.__setattr__(self, "late", self.margin / 2.0)
        object.__setattr__(self, "horizon", self.window(self.floor))

    def count(self, limit: float) -> int:
        """Requests per window at ``limit`` requests/s (a fraction never rounds up)."""
        return max(1, int(limit + 1e-9))

    def window(self, limit: float) -> float:
        """Never shorter than the server's second (9.5/s is 9 per second), longer for fractions, plus margin."""
        return max(1.0, self.count(limit) / limit) + self.margin


@dataclass
class State:
    """A key's shared state: ``sent`` (booked send times, sorted, on the store's clock), ``limit`` (set by the
    last cut; 0: never cut), ``gen`` (bumped by each cut), ``grow_at`` (when the last cut happened),
    ``hold_until`` (no booking before)."""

    sent: array[float] = field(default_factory=lambda: array("d"))
    limit: float = 0.0
    gen: int = 0
    grow_at: float = 0.0
    hold_until: float = 0.0

    def limit_for(self, policy: Policy, now: float) -> float:
        """The limit in force at ``now``: the last cut's, grown back by ``alpha`` per second since."""
        if self.limit <= 0 or not policy.adaptive:
            return policy.rate
        return min(policy.rate, max(policy.floor, self.limit + policy.alpha * max(0.0, now - self.grow_at)))

    def shift(self, delta: float) -> None:
        """Move every time by ``delta`` (the store's clock was stepped; keep the spacing)."""
        self.sent = array("d", (t + delta for t in self.sent))
        self.grow_at += delta
        self.hold_until += delta


def book(st: State, policy: Policy, now: float) -> float:
    """Book the earliest slot the rule allows; return it (``<= now``: send at once)."""
    del st.sent[: bisect_right(st.sent, now - policy.horizon)]
    limit = st.limit_for(policy, now)
    c = max(1, int(limit + 1e-9))  # policy.count and policy.window, inline: this runs for every request
    slot = max(now, st.hold_until)
    if len(st.sent) >= c:
        slot = max(slot, st.sent[-c] + (max(1.0, c / limit) + policy.margin))  # the window, as one number
    insort(st.sent, slot)
    return slot


def confirm(st: State, policy: Policy, slot: float, gen: int, now: float) -> tuple[float, int]:
    """A waiter woke at ``now`` for ``slot``: keep it if still valid and not late, else book anew."""
    if gen == st.gen:
        if now <= slot + policy.late:
            return slot, gen
        i = bisect_right(st.sent, slot) - 1  # woke too late: the slot was never used; give it back
        if i >= 0 and st.sent[i] == slot:
            del st.sent[i]
    return book(st, policy, now), st.gen


def on_answer(st: State, policy: Policy, gen: int, limited: bool, now: float) -> bool:
    """Adapt the limit to an answer (AIMD); whether this answer cut it."""
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


# -- where the state lives ----------------------------------------------------------------------------------
_MAGIC, _VERSION = b"MFRL", 2
_PREFIX = struct.Struct("<4sB16sd")  # magic, version, boot id, clock at the last write
_FIELDS = struct.Struct("<dddqI")  # limit, grow_at, hold_until, gen, number of entries


def encode_state(st: State) -> bytes:
    """The state as bytes (the log as native doubles: exact round trips)."""
    return _FIELDS.pack(st.limit, st.grow_at, st.hold_until, st.gen, len(st.sent)) + st.sent.tobytes()


def decode_state(data: bytes) -> State | None:
    """The state from :func:`encode_state`'s bytes; None when they are not that (torn, foreign)."""
    if len(data) < _FIELDS.size:
        return None
    limit, grow_at, hold_until, gen, n = _FIELDS.unpack_from(data)
    sent = array("d")
    if len(data) != _FIELDS.size + n * sent.itemsize:
        return None
    sent.frombytes(data[_FIELDS.size :])
    return State(sent=sent, limit=limit, gen=gen, grow_at=grow_at, hold_until=hold_until)


def boot_id() -> bytes:
    """This boot's id (Linux), 16 zero bytes elsewhere."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return uuid.UUID(f.read().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)


class Store(Protocol):
    """Runs ``fn(state, now)`` atomically, ``now`` on the store's clock; ``blocking``: may wait on I/O (then
    coroutines run it in a thread)."""

    blocking: bool

    def run(self, fn: Callable[[State, float], T]) -> T: ...


class MemoryStore:
    """The state in this process's memory, under a lock."""

    blocking = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock, self.state, self._lock = clock, State(), threading.Lock()

    def run(self, fn: Callable[[State, float], T]) -> T:
        with self._lock:
            return fn(self.state, self.clock())


class FileStore:
    """The state in a file under ``flock``, for every process of this machine. The clock is
    ``CLOCK_MONOTONIC`` (shared by a boot's processes, never stepped); a file from another boot, written "in the
    future" of this clock, or torn, is read as empty (counted in :attr:`resets`)."""

    blocking = False

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic, boot: bytes | None = None) -> None:
        if fcntl is None:  # pragma: no cover
            raise RuntimeError("a host-wide limiter file needs fcntl (POSIX)")
        self.path, self.clock, self.boot, self.resets = path, clock, boot_id() if boot is None else boot, 0
        self._lock = threading.Lock()  # flock is per open file: threads need their own lock

    def run(self, fn: Callable[[State, float], T]) -> T:
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                raw = b""
                while chunk := os.read(fd, 1 << 20):
                    raw += chunk
                now, st = self.clock(), None
                if len(raw) >= _PREFIX.size:
                    magic, version, boot, written = _PREFIX.unpack_from(raw)
                    if (magic, version, boot) == (_MAGIC, _VERSION, self.boot) and written <= now + 1.0:
                        st = decode_state(raw[_PREFIX.size :])
                if st is None:
                    self.resets += bool(raw)
                    st = State()
                result = fn(st, now)
                data = _PREFIX.pack(_MAGIC, _VERSION, self.boot, now) + encode_state(st)
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
                return result
            finally:
                os.close(fd)  # also releases the flock


# -- the limiter --------------------------------------------------------------------------------------------
class Permit(NamedTuple):
    """A send slot granted (store clock), its generation, whether the limit made it wait, and when granted."""

    slot: float
    gen: int
    waited: bool
    at: float


#: The permit of a limiter that is off.
OPEN = Permit(0.0, -1, False, 0.0)


def is_rate_limited(status: int, text: str = "") -> bool:
    """Whether an answer is MsgFlash's own rate-limit 429 (not the monthly quota's, not a gateway's bare one)."""
    return status == 429 and "API_RATE_LIMIT_EXCEEDED" in text


async def _calm() -> None:
    """Yield to the event loop until one of its turns is short (at most 50 turns)."""
    loop = asyncio.get_running_loop()
    for _ in range(50):
        t = loop.time()
        await asyncio.sleep(0)
        if loop.time() - t <= CALM_TURN:
            return


class KeyRateLimiter:
    """At most ``rate`` (0: off) request starts per second on one key, with ``margin`` seconds added to each
    window; the state in ``shared_file``, or ``store`` (e.g. Redis), else in memory (on ``clock``); ``adaptive``:
    AIMD on a 429; ``policy`` overrides those three; threads wait with ``sleep``; logs name the key ``name`` (a
    fingerprint). Bookings take microseconds in the store's transaction, the waiting happens outside it."""

    def __init__(
        self,
        rate: float,
        *,
        shared_file: str | None = None,
        store: Store | None = None,
        policy: Policy | None = None,
        margin: float = DEFAULT_MARGIN,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        name: str = "",
    ) -> None:
        self.policy = policy or (Policy(rate=float(rate), margin=margin, adaptive=adaptive) if rate > 0 else None)
        #: Requests per window at the full rate (0: off) and that window in seconds.
        self.rate = self.policy.count(self.policy.rate) if self.policy else 0
        self.window = self.policy.window(self.policy.rate) if self.policy else 0.0
        self.shared_file = shared_file if store is None else None
        self.store: Store = store or (FileStore(shared_file) if shared_file else MemoryStore(clock))
        self.name, self._sleep = name, sleep
        #: This process's counts: permits that waited, seconds slept, bookings redone, cuts its answers caused.
        self.waits, self.waited_seconds, self.rebooks, self.cuts = 0, 0.0, 0, 0

    @property
    def limit(self) -> float:
        """The current (adaptive) limit in requests per second, as the store holds it."""
        pol = self.policy
        return self.store.run(lambda st, now: st.limit_for(pol, now)) if pol else 0.0

    def _book(self, st: State, now: float) -> tuple[float, int, float]:
        return book(st, self.policy, now), st.gen, now  # type: ignore[arg-type]

    def _confirm(self, slot: float, gen: int, st: State, now: float) -> tuple[float, int, float]:
        return (*confirm(st, self.policy, slot, gen, now), now)  # type: ignore[arg-type]

    def acquire(self) -> Permit:
        """Block the calling thread until a request may be sent; return the permit."""
        if self.policy is None:
            return OPEN
        slot, gen, now = self.store.run(self._book)
        waited = slot > now
        self.waits += waited
        while slot > now:  # a thread sends as soon as its slot comes: a slot booked for now is its own
            self.waited_seconds += slot - now
            self._sleep(slot - now)
            kept, (slot, gen, now) = (slot, gen), self.store.run(partial(self._confirm, slot, gen))
            self.rebooks += kept != (slot, gen)
        return Permit(slot, gen, waited, now)

    async def acquire_async(self) -> Permit:
        """Wait without blocking the event loop; the permit is confirmed once the loop is calm (a loop stalled by
        a thousand triggers starting would otherwise send a window's requests on top of the next one's)."""
        if self.policy is None:
            return OPEN
        slot, gen, now = await self._arun(self._book)
        waited = slot > now
        self.waits += waited
        while True:
            if slot > now:
                self.waited_seconds += slot - now
                await asyncio.sleep(slot - now)
            await _calm()
            kept, (slot, gen, now) = (slot, gen), await self._arun(partial(self._confirm, slot, gen))
            self.rebooks += kept != (slot, gen)
            if kept == (slot, gen) and slot <= now:
                return Permit(slot, gen, waited, now)

    async def _arun(self, fn: Callable[[State, float], T]) -> T:
        return await asyncio.to_thread(self.store.run, fn) if self.store.blocking else self.store.run(fn)

    def reserve(self) -> float:
        """Book the next slot without waiting for it; the seconds until it (benchmarks)."""
        if self.policy is None:
            return 0.0
        slot, _, now = self.store.run(self._book)
        return max(0.0, slot - now)

    def _adapt(self, permit: Permit, st: State, now: float) -> tuple[bool, float]:
        pol = self.policy
        return on_answer(st, pol, permit.gen, True, now), st.limit_for(pol, now)  # type: ignore[arg-type]

    def _limited(self, permit: Permit, status: int, text: str) -> bool:
        return bool(self.policy and self.policy.adaptive and permit.gen >= 0 and is_rate_limited(status, text))

    def _count(self, cut: bool, limit: float) -> None:
        if cut:
            self.cuts += 1
            log.info(
                "MsgFlash answered 429 on key %s although this machine kept its limit: another machine or client "
                "shares the key. This machine now sends at most %.2f requests/s on it, and speeds up gradually.",
                self.name or "?",
                limit,
            )

    def report(self, permit: Permit, status: int, text: str = "") -> None:
        """Tell the limiter how the request sent with ``permit`` was answered (a 429 may cut the limit)."""
        if self._limited(permit, status, text):
            self._count(*self.store.run(partial(self._adapt, permit)))

    async def report_async(self, permit: Permit, status: int, text: str = "") -> None:
        """:meth:`report` for coroutines."""
        if self._limited(permit, status, text):
            self._count(*await self._arun(partial(self._adapt, permit)))


# -- one limiter per key, rate and backend ------------------------------------------------------------------
_registry: dict[tuple[str, float, str], KeyRateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for a key (registries, files, logs; never the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def shared_limit_file(fingerprint: str, rate: float) -> str | None:
    """The file that processes on this machine share for one key and rate (None without fcntl)."""
    if fcntl is None:  # pragma: no cover
        return None
    folder = os.path.join(tempfile.gettempdir(), f"msgflash-ratelimit-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, f"{fingerprint}-{rate:g}.state")


def limiter_for(api_key: str, rate: float, scope: str = "host", backend: str | None = None) -> KeyRateLimiter:
    """The limiter for ``api_key`` at ``rate`` requests/s, one per process; ``backend`` (the connection's
    ``rate_limit_backend``, else ``scope``): ``host``, ``process`` or a Redis URL."""
    backend = backend or scope
    fp = key_fingerprint(api_key)
    with _registry_lock:
        lim = _registry.get((fp, float(rate), backend))
        if lim is None:
            store: Store | None = None
            if rate > 0 and backend not in ("host", "process"):
                from airflow_provider_msgflash.ratelimit._redis import RedisStore

                store = RedisStore(backend, f"{fp}:{rate:g}")
            shared = shared_limit_file(fp, rate) if backend == "host" and rate > 0 else None
            lim = _registry[(fp, float(rate), backend)] = KeyRateLimiter(rate, shared_file=shared, store=store, name=fp)
        return lim

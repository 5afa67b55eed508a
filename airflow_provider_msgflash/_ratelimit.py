"""A client-side request limiter shared by every hook, sync or async, that uses one API key.

MsgFlash allows ``10`` requests in any one-second window per key. All hooks in one process that use
the same key (operators in threads, a thousand triggers in one triggerer) share one
:class:`KeyRateLimiter`, found through :func:`limiter_for`, so together they stay under the limit.

The limiter keeps the send times of the last ``rate`` requests (a sliding-window log, like the
server's): a request may go when the one ``rate`` places before it left more than ``window``
seconds ago. ``window`` is one second plus a small margin that absorbs the gap between "sent" here
and "arrived" there. Reservations are made under a lock in microseconds; the waiting itself
happens outside the lock (``time.sleep`` for threads, ``asyncio.sleep`` for coroutines), so an
event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
import time
from typing import Any

try:  # POSIX only; elsewhere the limiter is per process.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: Seconds added to the one-second window, so that jitter between our clock and the server's
#: arrival time does not push an 11th request into a window.
DEFAULT_MARGIN = 0.04


class KeyRateLimiter:
    """Sliding-window limiter: at most ``rate`` request starts in any ``1 + margin`` seconds.

    :param rate: requests allowed per window; ``0`` disables limiting.
    :param margin: seconds added to the one-second window.
    :param shared_file: keep the log in this file (shared by every process using it) instead of memory.
    """

    def __init__(self, rate: float, margin: float = DEFAULT_MARGIN, shared_file: str | None = None) -> None:
        #: Requests per window (0: no limit) and the window in seconds. A fractional rate such as
        #: 0.5 becomes one request per two seconds.
        self.rate = max(1, int(rate)) if rate > 0 else 0
        # Never less than one second: 9.5/s is 9 per second, not 9 per 0.95 s (18 in some seconds).
        self.window = (max(1.0, self.rate / rate) + margin) if rate > 0 else 0.0
        self._sent: list[float] = []
        self._lock = threading.Lock()
        self.shared_file = shared_file if fcntl is not None else None
        #: Number of reservations that had to wait, and the seconds waited in total (for logs/benchmarks).
        self.waits = 0
        self.waited_seconds = 0.0

    def reserve(self) -> float:
        """Reserve the next send slot; return how many seconds to wait before sending."""
        return self._reserve()[0]

    def _reserve(self) -> tuple[float, float]:
        """Book a slot: (seconds to wait, the booked time on the log's clock)."""
        if not self.rate:
            return 0.0, 0.0
        with self._lock:
            if self.shared_file:
                delay, booked = self._in_file(self.shared_file, lambda sent, now: self._slot(sent, now))
            else:
                now = time.monotonic()
                booked = self._slot(self._sent, now)
                delay = booked - now
            if delay > 0:
                self.waits += 1
                self.waited_seconds += delay
            return delay, booked

    def _settle(self, booked: float, waited: float, woke_late_by: float) -> None:
        """Move a booking to when the request really left, if that was noticeably later.

        A busy thread or event loop can wake well after its slot; later bookings must count from
        the real send time, or the server sees more than ``rate`` arrivals in one second.
        """
        if woke_late_by < 0.005 or not self.rate:
            return
        with self._lock:
            if self.shared_file:
                self._in_file(self.shared_file, lambda sent, now: _move(sent, booked, booked + woke_late_by))
            else:
                _move(self._sent, booked, booked + woke_late_by)

    def _slot(self, sent: list[float], now: float) -> float:
        """Book the earliest start allowed by the log ``sent`` (kept sorted, updated in place)."""
        start = now
        if len(sent) >= self.rate:
            start = max(now, sent[-self.rate] + self.window)
        sent.append(start)
        sent.sort()
        del sent[: -self.rate]
        return start

    def _in_file(self, path: str, update: Any) -> tuple[float, float]:
        """Run ``update(sent, now)`` on the log kept in ``path`` under an exclusive lock."""
        # Wall-clock times: the only clock all processes share.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 65536).split()
            try:
                sent = sorted(float(x) for x in raw)
            except ValueError:  # a torn or foreign file: start afresh
                sent = []
            now = time.time()
            if sent and sent[-1] > now + 60 * self.window:
                sent.clear()  # the wall clock went back: forget bookings in the far future
            result = update(sent, now)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, " ".join(f"{t:.6f}" for t in sent).encode())
            return (result - now, result) if isinstance(result, float) else (0.0, 0.0)
        finally:
            os.close(fd)  # also releases the lock

    def acquire(self) -> None:
        """Block the calling thread until a request may be sent."""
        delay, booked = self._reserve()
        if delay > 0:
            start = time.monotonic()
            time.sleep(delay)
            self._settle(booked, delay, time.monotonic() - start - delay)

    async def acquire_async(self) -> None:
        """Wait, without blocking the event loop, until a request may be sent."""
        delay, booked = self._reserve()
        if delay > 0:
            start = time.monotonic()
            await asyncio.sleep(delay)
            self._settle(booked, delay, time.monotonic() - start - delay)


def _move(sent: list[float], booked: float, actual: float) -> None:
    for i, t in enumerate(sent):
        if abs(t - booked) < 2e-6:
            sent[i] = actual
            sent.sort()
            return


_registry: dict[tuple[str, float, str], KeyRateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for a key (for registries and logs; never the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def shared_limit_file(fingerprint: str, rate: float) -> str | None:
    """The file that processes on this machine share for one key and rate (None without fcntl)."""
    if fcntl is None:
        return None
    folder = os.path.join(tempfile.gettempdir(), f"msgflash-ratelimit-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, f"{fingerprint}-{rate:g}.log")


def limiter_for(api_key: str, rate: float, scope: str = "host") -> KeyRateLimiter:
    """The limiter for ``api_key`` at ``rate`` requests per second, shared by every hook in this
    process and, with ``scope="host"``, by every process on this machine."""
    fp = key_fingerprint(api_key)
    k = (fp, float(rate), scope)
    with _registry_lock:
        lim = _registry.get(k)
        if lim is None:
            # A file log only for realistic limits (it holds `rate` timestamps).
            shared = shared_limit_file(fp, rate) if scope == "host" and 0 < rate <= 1000 else None
            lim = _registry[k] = KeyRateLimiter(rate, shared_file=shared)
        return lim

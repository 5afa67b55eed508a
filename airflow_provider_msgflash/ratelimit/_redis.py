"""The limiter's state shared by every machine through Redis (the ``[redis]`` extra; ``rate_limit_backend`` a
Redis URL): the same rules run in an optimistic transaction (WATCH, GET, TIME, MULTI, SET, EXEC) on one key per
API-key fingerprint and rate, on Redis's own clock (set back: the log moves with it). Redis unreachable: this
process limits alone, says why, and tries Redis again 30 s later; a limiter problem never fails a request."""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from airflow_provider_msgflash.connection import safe_url
from airflow_provider_msgflash.ratelimit import MemoryStore, State, decode_state, encode_state

log = logging.getLogger(__name__)
T = TypeVar("T")

_LAST = struct.Struct("<d")  # the Redis time of the last transaction, then the state
#: Seconds an unused state is kept in Redis; seconds the limiter works alone after Redis failed.
TTL, RETRY_AFTER = 86_400, 30.0


class RedisStore:
    """The state in Redis under ``msgflash:ratelimit:<name>``.

    :param url: ``redis://[:password@]host:port/db``, ``rediss://...`` or ``unix:///path``.
    :param name: the key's fingerprint and rate (never the API key).
    :param client: an existing ``redis.Redis`` client (tests).
    :param clock: a clock to use instead of Redis's ``TIME`` (tests: virtual time, clock steps).
    """

    blocking = True

    def __init__(self, url: str, name: str, client: Any = None, clock: Callable[[], float] | None = None) -> None:
        import redis

        self.clock = clock
        self.url = safe_url(url)
        self.key = f"msgflash:ratelimit:{name}"
        self.client = client or redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        #: Used while Redis cannot be reached; on the wall clock, as Redis's TIME is.
        self.fallback = MemoryStore(time.time)
        #: How many times Redis failed and the limiter went on alone; how many times its clock went back.
        self.failures = 0
        self.clock_steps = 0
        self._down_until = 0.0
        self._lock = threading.Lock()  # one transaction at a time per process: no WATCH fights at home

    def run(self, fn: Callable[[State, float], T]) -> T:
        import redis

        if time.monotonic() < self._down_until:
            return self.fallback.run(fn)
        try:
            with self._lock:
                return self._transact(fn)
        except redis.RedisError as e:
            self.failures += 1
            self._down_until = time.monotonic() + RETRY_AFTER
            log.warning(
                "The shared rate limiter in Redis (%s) failed (%s: %s): limiting in this process only for "
                "the next %.0f s.",
                self.url,
                type(e).__name__,
                e,
                RETRY_AFTER,
            )
            return self.fallback.run(fn)

    def _transact(self, fn: Callable[[State, float], T]) -> T:
        import redis

        for _ in range(100):
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(self.key)
                    raw = cast(bytes, pipe.get(self.key) or b"")
                    st, now = self._load(raw, self._now(pipe))
                    result = fn(st, now)
                    pipe.multi()
                    pipe.set(self.key, _LAST.pack(now) + encode_state(st), ex=TTL)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another machine wrote first: read again
        raise redis.RedisError("too many concurrent updates of the limiter state")

    def _now(self, pipe: Any) -> float:
        if self.clock is not None:
            return self.clock()
        seconds, micros = pipe.time()
        return float(seconds + micros / 1e6)

    def _load(self, raw: bytes, now: float) -> tuple[State, float]:
        """The stored state, moved back if Redis's clock was set back since the last transaction."""
        st = decode_state(raw[_LAST.size :]) if len(raw) > _LAST.size else None
        if st is None:
            return State(), now
        (last,) = _LAST.unpack_from(raw)
        if now < last - 0.5:
            self.clock_steps += 1
            st.shift(now - last)  # keep every booking's place relative to "now"
            return st, now
        return st, max(now, last)  # never backwards by a jitter either

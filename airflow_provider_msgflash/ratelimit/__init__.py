"""A client-side request limiter shared by every hook, sync or async, that uses one API key.

MsgFlash allows ``10`` requests in any one-second window per key. All hooks in one process that use
the same key (operators in threads, a thousand triggers in one triggerer) share one
:class:`KeyRateLimiter`, found through :func:`limiter_for`; by default its state lives in a file that
every process on the machine shares (worker processes, the triggerer), so together they stay under the
limit. The rules (a sliding-window log that no queue length can break, late waiters that book again
instead of bursting, an adaptive limit for keys shared with other machines) are in ``_rules``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading

from airflow_provider_msgflash.ratelimit._rules import DEFAULT_MARGIN, Policy
from airflow_provider_msgflash.ratelimit._stores import fcntl
from airflow_provider_msgflash.ratelimit.limiter import OPEN, KeyRateLimiter, Permit, is_rate_limited

__all__ = [
    "DEFAULT_MARGIN",
    "OPEN",
    "KeyRateLimiter",
    "Permit",
    "Policy",
    "is_rate_limited",
    "key_fingerprint",
    "limiter_for",
    "shared_limit_file",
]

_registry: dict[tuple[str, float, str], KeyRateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for a key (for registries, files and logs; never the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def shared_limit_file(fingerprint: str, rate: float) -> str | None:
    """The file that processes on this machine share for one key and rate (None without fcntl)."""
    if fcntl is None:
        return None
    folder = os.path.join(tempfile.gettempdir(), f"msgflash-ratelimit-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, f"{fingerprint}-{rate:g}.state")


def limiter_for(api_key: str, rate: float, scope: str = "host") -> KeyRateLimiter:
    """The limiter for ``api_key`` at ``rate`` requests per second, shared by every hook in this
    process and, with ``scope="host"``, by every process on this machine (``scope="process"``: this
    process only)."""
    fp = key_fingerprint(api_key)
    k = (fp, float(rate), scope)
    with _registry_lock:
        lim = _registry.get(k)
        if lim is None:
            shared = shared_limit_file(fp, rate) if scope == "host" and rate > 0 else None
            lim = _registry[k] = KeyRateLimiter(rate, shared_file=shared, name=fp)
        return lim

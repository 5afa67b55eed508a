"""A client-side request limiter shared by every hook, sync or async, that uses one API key.

MsgFlash allows ``10`` requests in any one-second window per key. All hooks in one process that use
the same key (operators in threads, a thousand triggers in one triggerer) share one
:class:`KeyRateLimiter`, found through :func:`limiter_for`; by default its state lives in a file that
every process on the machine shares (worker processes, the triggerer), so together they stay under the
limit. The rules (a sliding-window log that no queue length can break, late waiters that book again
instead of bursting, an adaptive limit for keys shared with other machines) are in ``_rules``.

Where the state lives is the connection extra ``rate_limit_backend``: ``host`` (default: a file every
process on this machine shares), ``process`` (this process only), or a Redis URL (every machine that
uses the key shares one limit: see ``_redis``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading

from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.ratelimit._rules import DEFAULT_MARGIN, Policy
from airflow_provider_msgflash.ratelimit._stores import fcntl
from airflow_provider_msgflash.ratelimit.limiter import OPEN, KeyRateLimiter, Permit, Store, is_rate_limited

__all__ = [
    "DEFAULT_MARGIN",
    "OPEN",
    "KeyRateLimiter",
    "Permit",
    "Policy",
    "check_backend",
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


def check_backend(value: object, conn_id: str) -> str:
    """The connection extra ``rate_limit_backend``, checked: ``host``, ``process`` or a Redis URL."""
    from airflow_provider_msgflash.ratelimit._redis import SCHEMES, safe_url

    text = value.strip() if isinstance(value, str) else value
    if text in (None, ""):
        return "host"
    if text in ("host", "process"):
        return str(text)
    if isinstance(text, str) and text.split("://", 1)[0].lower() in SCHEMES and "://" in text:
        if importlib.util.find_spec("redis") is None:
            raise MsgFlashConfigError(
                f"Connection {conn_id!r}: extra 'rate_limit_backend' is a Redis URL ({safe_url(text)}), but the "
                "redis package is not installed. Install it with: pip install 'airflow-provider-msgflash[redis]'.",
                code="BAD_CONNECTION",
            )
        return text
    shown = safe_url(text) if isinstance(text, str) and "://" in text else repr(text)
    raise MsgFlashConfigError(
        f"Connection {conn_id!r}: extra 'rate_limit_backend' must be 'host' (the default: every process on "
        "this machine shares the limit), 'process' (this process only), or a Redis URL such as "
        f"'redis://redis:6379/0' (every machine using the key shares it); got {shown}.",
        code="BAD_CONNECTION",
    )


def _store_for(backend: str, fp: str, rate: float) -> Store | None:
    if backend in ("host", "process"):
        return None
    from airflow_provider_msgflash.ratelimit._redis import RedisStore

    return RedisStore(backend, f"{fp}:{rate:g}")


def limiter_for(api_key: str, rate: float, scope: str = "host", backend: str | None = None) -> KeyRateLimiter:
    """The limiter for ``api_key`` at ``rate`` requests per second, shared by every hook in this process.

    :param scope: ``host`` (default): every process on this machine shares it (a file); ``process``:
        this process only.
    :param backend: the connection's ``rate_limit_backend`` (see :func:`check_backend`); ``host`` and
        ``process`` set the scope, a Redis URL shares the limit with every machine using the key.
    """
    backend = backend or scope
    fp = key_fingerprint(api_key)
    k = (fp, float(rate), backend)
    with _registry_lock:
        lim = _registry.get(k)
        if lim is None:
            store = _store_for(backend, fp, rate) if rate > 0 else None
            shared = shared_limit_file(fp, rate) if backend == "host" and rate > 0 else None
            lim = _registry[k] = KeyRateLimiter(rate, shared_file=shared, store=store, name=fp)
        return lim

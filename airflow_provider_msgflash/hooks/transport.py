"""Transport failures (no complete HTTP answer) of either HTTP library, translated once.

Both hooks hand the exception their library raised to :func:`connection_error`, which decides by
type, not by message text, whether the request may have reached MsgFlash:

- **never sent**: the connection could not be opened (refused, DNS, connect timeout);
- **timeout**: sent, but no answer in time; it may have been processed;
- **dropped**: the connection broke mid-way; it may have been processed.

That decides whether a non-idempotent request (creating a lookup) may be sent again.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

from airflow_provider_msgflash.api.routes import Call
from airflow_provider_msgflash.api.settings import Settings
from airflow_provider_msgflash.exceptions import MsgFlashConnectionError

NEVER_SENT, TIMEOUT, DROPPED = "never_sent", "timeout", "dropped"

#: Seconds allowed to open a connection (the request's own timeout still applies after that).
CONNECT_TIMEOUT_CAP = 10.0

_ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


def connect_timeout(s: Settings) -> float:
    """Seconds to wait for a connection to open."""
    return min(CONNECT_TIMEOUT_CAP, s.timeout)


def _requests_kind(exc: Any, requests: Any) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return NEVER_SENT
    if isinstance(exc, requests.Timeout):
        return TIMEOUT
    if isinstance(exc, requests.ConnectionError):
        import urllib3.exceptions

        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
            return NEVER_SENT
    return DROPPED


def _aiohttp_kind(exc: Any, aiohttp: Any) -> str:
    # ConnectionTimeoutError (aiohttp 3.10+): the connection never opened, unlike a read timeout.
    connect_timeout_error = getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ClientConnectorError)
    if isinstance(exc, aiohttp.ClientConnectorError | connect_timeout_error):
        return NEVER_SENT
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return TIMEOUT
    return DROPPED


def kind_of(exc: BaseException) -> str:
    """``never_sent``, ``timeout`` or ``dropped`` for an exception raised while sending a request."""
    # A library that is not imported cannot have raised: look only at the ones in use.
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(exc, requests.RequestException):
        return _requests_kind(exc, requests)
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientError):
        return _aiohttp_kind(exc, aiohttp)
    # asyncio.TimeoutError is not the builtin TimeoutError before Python 3.11.
    return TIMEOUT if isinstance(exc, TimeoutError | asyncio.TimeoutError) else DROPPED


def reason(exc: BaseException) -> str:
    """The useful part of a transport error (``[Errno 111] Connection refused``), not the wrappers' text."""
    text = " ".join(str(exc).split())
    m = _ERRNO_RE.search(text)
    if m:
        return m.group(0).strip()
    text = text or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def connection_error(exc: BaseException, s: Settings, c: Call) -> MsgFlashConnectionError:
    """The :class:`MsgFlashConnectionError` for a transport failure of ``c``."""
    kind = kind_of(exc)
    if kind == NEVER_SENT:
        message = f"could not connect to {s.base_url} within {connect_timeout(s):.0f} s: {reason(exc)}"
    elif kind == TIMEOUT:
        message = f"no answer from {s.base_url} within {s.timeout:.0f} s (timeout)"
    else:
        message = f"connection to {s.base_url} failed: {type(exc).__name__}: {reason(exc)}"
    return MsgFlashConnectionError(
        message,
        maybe_sent=kind != NEVER_SENT,
        code="TIMEOUT" if kind == TIMEOUT else "CONNECTION_ERROR",
        request=c.describe(),
    )

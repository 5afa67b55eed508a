"""What a reverse proxy in front of the API answers when it, not MsgFlash, fails: nginx's HTML error
pages (``text/html``, no ``{"error"}`` envelope), sent straight on the ASGI channel. The fault switches
``outage``, ``unavailable_routes``, ``gateway_429`` and ``gateway_after_create`` answer with them
(``traffic.py`` decides when, ``guard.py`` sends them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

#: nginx's reason phrases for the statuses a gateway answers with.
REASONS = {
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class GatewayAnswer:
    """A gateway's error page: its status and, when it gives one, ``Retry-After`` (whole seconds)."""

    status: int
    retry_after: int | None = None


def page(status: int) -> bytes:
    """nginx's error page for ``status`` (``<html><head><title>502 Bad Gateway</title>...``)."""
    title = f"{status} {REASONS[status]}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode("ascii")


async def send_gateway_page(send: Send, answer: GatewayAnswer) -> None:
    body = page(answer.status)
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]
    if answer.retry_after is not None:
        headers.append((b"retry-after", str(answer.retry_after).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})

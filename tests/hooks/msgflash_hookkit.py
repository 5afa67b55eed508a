"""Helpers shared by the hook tests: fresh keys, a free port, and ``FakeApi``, a tiny scriptable HTTP
server on 127.0.0.1 for the faults the sandbox cannot produce. (A module of its own, with a unique name,
so that test modules can import it; see conftest.py for the fixtures.)"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/api/v1"


def personal_key() -> str:
    """A fresh, well-formed personal key (so that no two tests share a rate limiter by accident)."""
    return "msgf_live_" + secrets.token_hex(32)


def team_key() -> str:
    return "msgf_team_" + secrets.token_hex(16)


def when_seen(sb: Any, predicate: Any, fn: Any, timeout: float = 10.0) -> threading.Thread:
    """Run ``fn`` in a thread as soon as the sandbox ``sb`` logged a request matching ``predicate``
    (at most ``timeout`` seconds from now): to lift a fault while a hook is mid-call."""

    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(predicate(r) for r in sb.requests()):
            time.sleep(0.02)
        fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------------
# A scriptable local HTTP server
# --------------------------------------------------------------------------------------------------
@dataclass
class Seen:
    """One request as the server saw it."""

    t: float  # time.monotonic() at arrival
    wall: float  # time.time() at arrival
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any


@dataclass
class Reply:
    """What the server answers: a status and a body (dict → JSON, str/bytes as is, or a callable
    ``f(seen) -> body``), after ``delay`` seconds; ``drop`` closes the connection without answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


class FakeApi:
    """``on(method, path, *replies)`` scripts a route: replies are used in order, the last one repeats.
    Unscripted routes answer ``404 NOT_FOUND``."""

    Reply = Reply

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Seen] = []
        self._routes: dict[tuple[str, str], list[Reply]] = {}
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive surprises

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                parts = urlsplit(self.path)
                seen = Seen(
                    time.monotonic(),
                    time.time(),
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = api._record(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                payload = reply.body(seen) if callable(reply.body) else reply.body
                if isinstance(payload, bytes):
                    data = payload
                elif isinstance(payload, str):
                    data = payload.encode()
                elif payload is None:
                    data = b""
                else:
                    data = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01})
        self._thread.daemon = True

    # scripting ---------------------------------------------------------------------------------------
    @staticmethod
    def _full(path: str) -> str:
        return path if path.startswith(API) else API + path

    def on(self, method: str, path: str, *replies: Reply) -> FakeApi:
        with self._lock:
            self._routes[(method.upper(), self._full(path))] = list(replies)
        return self

    @staticmethod
    def ok(data: Any, status: int = 200, **kw: Any) -> Reply:
        return Reply(status, {"data": data}, **kw)

    @staticmethod
    def err(status: int, code: str, message: str = "something went wrong", details: Any = None, **kw: Any):
        error: dict[str, Any] = {"code": code, "message": message}
        if details is not None:
            error["details"] = details
        return Reply(status, {"error": error}, **kw)

    def _record(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            replies = self._routes.get((seen.method, seen.path))
            if not replies:
                return self.err(404, "NOT_FOUND", f"no fake route {seen.method} {seen.path}")
            return replies.pop(0) if len(replies) > 1 else replies[0]

    # inspection --------------------------------------------------------------------------------------
    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.requests
                if (method is None or s.method == method.upper()) and (path is None or s.path == self._full(path))
            ]

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

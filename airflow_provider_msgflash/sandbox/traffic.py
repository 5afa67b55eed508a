"""What happens to each API request around its route, and what is remembered of it: the gateway in front
(outage, unavailable routes, gateway 429s, gateway errors after a create), the 429 storm, the per-key
rate limit, the monthly quota, injected errors, dropped connections, latency, and the request log and
counters behind ``/_sandbox/requests`` and ``/_sandbox/state``."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import Counter, deque
from typing import Any

from airflow_provider_msgflash.sandbox import rules
from airflow_provider_msgflash.sandbox.config import GATEWAY_STATUSES, Faults
from airflow_provider_msgflash.sandbox.errors import SandboxError
from airflow_provider_msgflash.sandbox.gateway import GatewayAnswer
from airflow_provider_msgflash.sandbox.keys import Caller
from airflow_provider_msgflash.sandbox.models import iso

_ERROR_FAULTS = (
    (500, "INTERNAL_ERROR", "Internal server error (sandbox fault: error_rate)."),
    (502, "PROVIDER_ERROR", "The WhatsApp provider answered with an error (sandbox fault: error_rate)."),
    (502, "PROVIDER_UNAVAILABLE", "The WhatsApp provider is unavailable (sandbox fault: error_rate)."),
)


def _rate_limited(message: str, retry_after: float) -> SandboxError:
    return SandboxError(
        429, "API_RATE_LIMIT_EXCEEDED", message, headers={"Retry-After": str(_whole_seconds(retry_after))}
    )


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


#: The route (template) that creates lookups, the one ``gateway_after_create`` answers for.
CREATE_ROUTE = ("POST", "/api/v1/number-lookups")


class Traffic:
    """Per-request decisions (driven by the fault switches in force) and the record of requests."""

    def __init__(self, faults: Faults, rng: random.Random, log_size: int) -> None:
        self.faults = faults
        self.rng = rng
        self.windows: dict[str, deque[float]] = {}
        self.quota_used = 0
        self.total_429 = 0
        self.request_counts: Counter[tuple[str, str, int]] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._gateway_statuses = itertools.cycle(GATEWAY_STATUSES)

    def gateway_before(self, method: str, route: str) -> GatewayAnswer | None:
        """The gateway's own answer to a request it does not pass on (``outage``, ``unavailable_routes``,
        ``gateway_429``), or None: the request goes on to the API."""
        f = self.faults
        if f.remaining("outage") > 0:
            return GatewayAnswer(503)
        if route in f.unavailable_routes or f"{method} {route}" in f.unavailable_routes:
            return GatewayAnswer(503)
        left = f.remaining("gateway_429")
        if left > 0:
            return GatewayAnswer(429, _whole_seconds(left) if f.gateway_429_retry_after else None)
        return None

    def gateway_after(self, method: str, route: str) -> GatewayAnswer | None:
        """The gateway error replacing the answer of a processed lookup create (``gateway_after_create``,
        used up one per create), or None."""
        f = self.faults
        if f.gateway_after_create <= 0 or (method, route) != CREATE_ROUTE:
            return None
        f.gateway_after_create -= 1
        return GatewayAnswer(f.gateway_status or next(self._gateway_statuses))

    def admit(self, caller: Caller) -> None:
        """Storm, rate limit and quota for an authenticated API request (raises a 429)."""
        remaining = self.faults.remaining("storm_429")
        if remaining > 0:
            raise _rate_limited(
                "Too many requests: more than 10 requests per second on this API key (sandbox fault: storm_429).",
                remaining,
            )
        limit = self.faults.rate_limit
        if limit:
            now = time.monotonic()
            window = self.windows.setdefault(caller.key, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                raise _rate_limited(
                    f"Too many requests: more than {limit} requests per second on this API key.",
                    window[0] + 1.0 - now,
                )
            window.append(now)
        quota = self.faults.monthly_quota
        if quota is not None and self.quota_used >= quota:
            message = f"The monthly API request quota ({quota} requests) is used up."
            raise SandboxError(429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED", message)
        self.quota_used += 1

    def injected_error(self) -> SandboxError | None:
        if self.faults.error_rate and self.rng.random() < self.faults.error_rate:
            status, code, message = self.rng.choice(_ERROR_FAULTS)
            return SandboxError(status, code, message)
        return None

    def should_drop(self) -> bool:
        return bool(self.faults.drop_rate) and self.rng.random() < self.faults.drop_rate

    def latency(self) -> float:
        f = self.faults
        return f.latency + (self.rng.uniform(0, f.latency_jitter) if f.latency_jitter else 0.0)

    def record(
        self,
        method: str,
        path: str,
        route: str,
        status: int,
        key: str | None,
        started: float,
        *,
        dropped: bool = False,
        route_status: int | None = None,
    ) -> None:
        """Count and log a request: ``status`` is what the client got; ``route_status`` what the route
        itself answered (None: the route did not run, the request was not processed)."""
        self.request_counts[(method, route, status)] += 1
        if status == 429:
            self.total_429 += 1
        self.request_log.append(
            {
                "time": iso(started),
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "key": rules.key_fingerprint(key),
                "dropped": dropped,
                "processed": route_status is not None,
                "route_status": route_status,
                "duration_ms": round((time.time() - started) * 1000, 2),
            }
        )

    def summary(self) -> dict[str, Any]:
        return {
            "request_counts": [
                {"method": m, "route": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self.request_counts.items())
            ],
            "requests_total": sum(self.request_counts.values()),
            "total_429": self.total_429,
            "quota_used": self.quota_used,
            "monthly_quota": self.faults.monthly_quota,
        }

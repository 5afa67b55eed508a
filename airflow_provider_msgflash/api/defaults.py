"""The API's fixed figures and the connection's defaults, with no imports: the connection form and
``get_provider_info()`` read them while Airflow lists providers."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://srv.msgflash.com"
API_PREFIX = "/api/v1"

#: Lookups of fewer numbers are answered synchronously (200); from this many on, asynchronously (202).
ASYNC_LOOKUP_THRESHOLD = 100
#: The most numbers one lookup accepts; bigger requests are split by the operator.
MAX_NUMBERS_PER_LOOKUP = 10_000
#: The docs advise polling progress every 2 s; we never poll faster.
MIN_POLL_INTERVAL = 2.0
#: Numbers checked per provider batch.
PROVIDER_BATCH_SIZE = 20
#: MsgFlash's documented limit: requests per second per key.
API_RATE_LIMIT = 10

#: Connection extras' defaults.
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_REQUESTS_PER_SECOND = float(API_RATE_LIMIT)
#: Who shares the client-side limit: every process on this machine.
DEFAULT_RATE_LIMIT_BACKEND = "host"

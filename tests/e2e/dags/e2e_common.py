"""Inputs shared by the e2e test DAGs and the tests that check their results.

Lives in the DAGs folder (Airflow puts that folder on ``sys.path`` when it parses DAGs and runs
tasks); the tests import it by path. Ignored by the DAG processor through ``.airflowignore``.
"""

from __future__ import annotations

#: 250 Swiss mobile numbers, as in the example DAG: asynchronous (>= 100), 125 of them on WhatsApp.
NUMBERS_250 = [f"+4179555{i:04d}" for i in range(250)]

#: 230 valid numbers and 20 the server reports invalid: every input must be accounted for.
NUMBERS_MIXED = [f"+4178444{i:04d}" for i in range(230)] + [f"not-a-number-{i}" for i in range(20)]

#: More than one lookup takes (10,000).
NUMBERS_10001 = [f"+4176{i:07d}" for i in range(10_001)]

#: The fault-storm tasks: task id -> Airflow connection id (one sandbox per storm).
STORMS = {
    "errors_5xx": "msgflash_storm_5xx",
    "storm_429": "msgflash_storm_429",
    "latency_spikes": "msgflash_storm_latency",
    "dropped_connections": "msgflash_storm_drop",
    "latency_over_timeout": "msgflash_storm_timeout",
    "stalled_lookup": "msgflash_storm_stall",
    "failed_lookup": "msgflash_storm_fail",
}
#: Length of the 429 storm switched on right before the ``storm_429`` task runs (seconds).
STORM_429_SECONDS = 8
#: Operator ``timeout`` of the storm tasks whose lookup never finishes (seconds).
STALL_TIMEOUT = 10
#: Length of the 429 storm the ``rate_limited`` task of ``e2e_retry_policy`` meets (its Retry-After, seconds).
RETRY_AFTER_STORM = 20

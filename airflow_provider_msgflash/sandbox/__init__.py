"""The embedded MsgFlash sandbox: a local server behaving like the MsgFlash API (see docs/sandbox.md).

It stands alone: it imports neither Airflow nor the rest of this provider, only FastAPI and uvicorn
(the ``sandbox`` extra; both come with Airflow 3).

    from airflow_provider_msgflash.sandbox import running_sandbox

    with running_sandbox(pace="fast") as sb:
        os.environ["AIRFLOW_CONN_MSGFLASH_DEFAULT"] = sb.connection_json()
"""

from __future__ import annotations

from airflow_provider_msgflash.sandbox.config import FAULT_FIELDS, SandboxConfig
from airflow_provider_msgflash.sandbox.dialects import ALL_DIALECTS, DIALECTS
from airflow_provider_msgflash.sandbox.handle import SandboxAdminError, SandboxHandle
from airflow_provider_msgflash.sandbox.rules import (
    ASYNC_THRESHOLD,
    BATCH_SIZE,
    MAX_NUMBERS,
    PACE_PRESETS,
    is_on_whatsapp,
    key_fingerprint,
    normalize_number,
    split_numbers,
)
from airflow_provider_msgflash.sandbox.seeds import (
    SANDBOX_API_KEY,
    SANDBOX_TEAM_ID,
    SANDBOX_TEAM_KEY,
    SEEDED_INSTANCES,
    SeededInstance,
)
from airflow_provider_msgflash.sandbox.server import running_sandbox, start_sandbox

__all__ = [
    "ALL_DIALECTS",
    "ASYNC_THRESHOLD",
    "BATCH_SIZE",
    "DIALECTS",
    "FAULT_FIELDS",
    "MAX_NUMBERS",
    "PACE_PRESETS",
    "SANDBOX_API_KEY",
    "SANDBOX_TEAM_ID",
    "SANDBOX_TEAM_KEY",
    "SEEDED_INSTANCES",
    "SandboxAdminError",
    "SandboxConfig",
    "SandboxHandle",
    "SeededInstance",
    "is_on_whatsapp",
    "key_fingerprint",
    "normalize_number",
    "running_sandbox",
    "split_numbers",
    "start_sandbox",
]

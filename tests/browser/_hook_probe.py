"""Read connections as the provider reads them, from the metadata database of a running Airflow.

    python -m tests.browser._hook_probe CONN_ID...   (AIRFLOW_HOME etc. in the environment)

Runs in Airflow's "server" process context (as the API server and ``airflow connections test`` do), so
``MsgFlashHook`` finds connections stored through the UI. Prints one JSON object: for each connection id,
the hook's settings (the key only as its SHA-256) and what ``test_connection()`` answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys


def main(conn_ids: list[str]) -> int:
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"
    from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook

    out = {}
    for conn_id in conn_ids:
        hook = MsgFlashHook(conn_id)
        s = hook.settings
        ok, message = hook.test_connection()
        hook.close()
        out[conn_id] = {
            "settings": {
                "base_url": s.base_url,
                "api_key_sha256": hashlib.sha256(s.api_key.encode()).hexdigest(),
                "team_id": s.team_id,
                "is_team_key": s.is_team_key,
                "timeout": s.timeout,
                "max_retries": s.max_retries,
                "requests_per_second": s.requests_per_second,
            },
            "test_connection": [ok, message],
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``).

Kept free of heavy imports: Airflow calls it while listing providers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_msgflash import __version__

#: Connection form: relabelled fields, hidden unused fields, placeholders (Airflow 3.2+ reads this
#: declaratively; Airflow 2 gets the same through ``MsgFlashHook.get_ui_field_behaviour``).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"host": "Base URL", "password": "API key"},
    "placeholders": {
        "host": "https://srv.msgflash.com",
        "password": "msgf_live_... (or msgf_team_... with a team id)",
        "extra": '{"team_id": "<team uuid, team keys only>", "timeout": 30, "max_retries": 5, '
        '"requests_per_second": 10}',
    },
}

#: Extras as form fields (Airflow 3.2+ ``conn-fields``).
CONN_FIELDS: dict[str, Any] = {
    "team_id": {
        "label": "Team id",
        "schema": {"type": ["string", "null"]},
        "description": "Team UUID, required with a team key (msgf_team_...), refused with a personal key.",
    },
    "timeout": {
        "label": "Request timeout (s)",
        "schema": {"type": ["number", "null"], "default": 30, "minimum": 1},
        "description": "Seconds to wait for one answer.",
    },
    "max_retries": {
        "label": "Max retries",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
        "description": "Retries of 429 API_RATE_LIMIT_EXCEEDED, 5xx and connection errors.",
    },
    "requests_per_second": {
        "label": "Requests per second",
        "schema": {"type": ["number", "null"], "default": 10, "minimum": 0},
        "description": "Client-side limit shared by every task/trigger using this key in one process "
        "(MsgFlash allows 10); 0 turns it off.",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow: hooks, operators, sensors, triggers, connection type."""
    return {
        "package-name": "airflow-provider-msgflash",
        "name": "MsgFlash",
        "description": "MsgFlash (WhatsApp messaging): number lookups, contact imports, instance readiness.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "MsgFlash",
                "external-doc-url": "https://docs.msgflash.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "MsgFlash",
                "python-modules": ["airflow_provider_msgflash.hooks.msgflash"],
            }
        ],
        "operators": [
            {
                "integration-name": "MsgFlash",
                "python-modules": ["airflow_provider_msgflash.operators.msgflash"],
            }
        ],
        "sensors": [
            {
                "integration-name": "MsgFlash",
                "python-modules": ["airflow_provider_msgflash.sensors.msgflash"],
            }
        ],
        "triggers": [
            {
                "integration-name": "MsgFlash",
                "python-modules": ["airflow_provider_msgflash.triggers.msgflash"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_msgflash.hooks.msgflash.MsgFlashHook",
                "hook-name": "MsgFlash",
                "connection-type": "msgflash",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }

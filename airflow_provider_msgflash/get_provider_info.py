"""Provider metadata read by Airflow (entry point ``apache_airflow_provider``).

Kept free of heavy imports: Airflow calls it while listing providers. The connection form comes from
:mod:`airflow_provider_msgflash.connection`, its one declaration.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_msgflash import __version__
from airflow_provider_msgflash.connection import CONN_TYPE, HOOK_NAME, conn_fields, ui_field_behaviour


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
                "hook-name": HOOK_NAME,
                "connection-type": CONN_TYPE,
                "conn-fields": conn_fields(),
                "ui-field-behaviour": ui_field_behaviour(declarative=True),
            }
        ],
    }

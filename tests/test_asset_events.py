"""Asset events: the import task's (and the lookup task's) outlet events carry what happened as ``extra``,
so a DAG scheduled on the asset knows how many contacts were imported. Checked through ``airflow dags
test`` and the asset events Airflow stored (the real scheduler starting the downstream DAG is in
tests/e2e/test_07_data_platform.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from airflow_provider_msgflash.sandbox import is_on_whatsapp
from tests.dags_cli import airflow_env, dags_test

DAG = """
from datetime import datetime
from airflow.sdk import DAG, Asset
from airflow_provider_msgflash.operators.msgflash import MsgFlashImportContactsOperator, MsgFlashNumberLookupOperator

LEADS = Asset(name="whatsapp_leads_checked", uri="msgflash://tests/lookups/leads")
CONTACTS = Asset(name="whatsapp_contacts_imported", uri="msgflash://tests/contacts/verified-whatsapp")

with DAG("msgflash_assets", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):
    lookup = MsgFlashNumberLookupOperator(
        task_id="lookup", instance_id="sandbox-connected", numbers=[f"+4179555{i:04d}" for i in range(40)],
        outlets=[LEADS],
    )
    MsgFlashImportContactsOperator(task_id="import", lookup_id=lookup.output, tag="verified-whatsapp",
                                   outlets=[CONTACTS])
"""


def _events(db: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT a.name, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE e.source_dag_id = 'msgflash_assets' ORDER BY e.id DESC"
        ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for name, extra in rows:
        out.setdefault(name, json.loads(extra))
    return out


def test_outlet_events_carry_the_counts(airflow_db: str, msgflash_sandbox: Any, tmp_path: Path) -> None:
    env = airflow_env(tmp_path / "dags", AIRFLOW_CONN_MSGFLASH_DEFAULT=msgflash_sandbox.connection_json())
    run = dags_test(tmp_path / "dags", "msgflash_assets", DAG, env)
    assert run.tasks == {"lookup": ("success", 1), "import": ("success", 1)}, run.output[-4000:]
    on = sum(1 for i in range(40) if is_on_whatsapp(f"+4179555{i:04d}"))
    events = _events(Path(airflow_db) / "airflow.db")
    contacts = events["whatsapp_contacts_imported"]
    assert contacts["tag"] == "verified-whatsapp" and contacts["imported"] == on
    assert contacts["skipped"] == 40 - on and len(contacts["lookup_ids"]) == 1
    leads = events["whatsapp_leads_checked"]
    assert leads["lookup_ids"] == contacts["lookup_ids"]
    assert leads["counts"]["on_whatsapp"] == on and leads["status"] == "done"

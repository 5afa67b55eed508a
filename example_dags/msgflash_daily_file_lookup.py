"""Daily pattern: an upstream export drops a CSV of phone numbers; look them up, keep the full results
as JSON Lines next to it, and import the numbers on WhatsApp with a dated tag.

The ``export_numbers`` task stands in for your extract (it writes a small CSV with local and
international numbers, a duplicate and a typo). The lookup normalises them to E.164 with
``phonenumbers`` (region CH), drops the duplicate, reports the typo as invalid, and accounts for
every input in its XCom summary.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import task
    from airflow.models import DAG

from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator

DATA_DIR = os.environ.get("MSGFLASH_EXAMPLE_DATA_DIR", os.path.join(tempfile.gettempdir(), "msgflash-example"))

with DAG(
    dag_id="msgflash_daily_file_lookup",
    description="Daily lookup of the numbers exported to a CSV file, results to JSON Lines, then import.",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    tags=["msgflash", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
) as dag:

    @task
    def export_numbers(ds_nodash: str | None = None) -> str:
        """Stand-in for an upstream extract: write today's numbers to a CSV and return its path."""
        os.makedirs(DATA_DIR, exist_ok=True)
        path = os.path.join(DATA_DIR, f"numbers_{ds_nodash}.csv")
        rows = ["phone", "079 555 01 10", "+41 79 555 01 11", "0041795550112", "079 555 01 10", "not-a-number"]
        rows += [f"+4179555{i:04d}" for i in range(200, 330)]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
        return path

    numbers_csv = export_numbers()

    MsgFlashNumberLookupOperator(
        task_id="lookup_numbers",
        instance_id="sandbox-connected",
        numbers_file=numbers_csv,
        normalize=True,
        default_region="CH",
        result_path=os.path.join(DATA_DIR, "results_{{ ds_nodash }}.jsonl"),
        import_tag="daily-{{ ds_nodash }}",
        deferrable=True,
        timeout=3600,
    )

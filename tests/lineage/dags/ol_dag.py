"""A tiny DAG for the OpenLineage read-back test: stand-in operators return what the lookup and import
operators will (their summary dict) and implement ``get_openlineage_facets_on_complete`` with the builders.

Run as a script (``python ol_dag.py``): ``dag.test()`` runs both tasks; the OpenLineage provider,
configured by the caller's environment, writes the events it sends.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from airflow_provider_msgflash.lineage import import_lineage, lookup_lineage
from airflow_provider_msgflash.version_compat import BaseOperator

BASE_URL = "http://127.0.0.1:8765"
API_KEY = "msgf_live_" + "5e" * 32  # what a real operator's connection would hold: must never be emitted


class StandInLookupOperator(BaseOperator):
    def __init__(self, *, numbers_file: str, result_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numbers_file = numbers_file
        self.result_path = result_path
        self.api_key = API_KEY
        self._summary: dict[str, Any] = {}

    def execute(self, context: Any) -> dict[str, Any]:
        self._summary = {
            "lookup_id": "lk_a",
            "lookup_ids": ["lk_a", "lk_b"],
            "instance_id": "inst_boutique",
            "status": "done",
            "counts": {"requested": 250, "on_whatsapp": 125, "not_on_whatsapp": 120, "invalid": 5},
            "accounting": {"inputs": 250, "sent": 250},
            "on_whatsapp": None,
            "result_path": self.result_path,
            "import": {"lookup_ids": ["lk_a", "lk_b"], "tag": "lead-20260101", "imported": 120, "skipped": 5},
        }
        return self._summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return lookup_lineage(
            self._summary,
            numbers_file=self.numbers_file,
            result_path=self.result_path,
            result_lines=250,
            base_url=BASE_URL,
        )


class StandInImportOperator(BaseOperator):
    def execute(self, context: Any) -> dict[str, Any]:
        self._summary = {"lookup_ids": ["lk_a"], "tag": "vip", "imported": 7, "alreadyExisting": 2, "skipped": 0}
        return self._summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return import_lineage(self._summary, base_url=BASE_URL)


def build_dag() -> Any:
    from airflow_provider_msgflash.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import DAG
    else:
        from airflow import DAG

    with DAG("msgflash_lineage_readback", start_date=datetime(2026, 1, 1), schedule=None, catchup=False) as dag:
        lookup = StandInLookupOperator(
            task_id="lookup",
            numbers_file="s3://aws_leads@leads-bucket/in/2026-01-01.csv",
            result_path="/data/results/2026-01-01.jsonl",
        )
        lookup >> StandInImportOperator(task_id="import")
    return dag


dag = build_dag()

if __name__ == "__main__":
    from airflow.dag_processing.dagbag import DagBag

    run = DagBag(dag_folder=__file__).get_dag(dag.dag_id).test()
    print("DAG RUN STATE", run.state)
    sys.exit(0 if str(run.state).endswith("success") else 1)

"""OpenLineage events really emitted: a DAG whose stand-in operators return the builders' lineage runs with
``dag.test()`` while Airflow's OpenLineage provider writes to its file transport; the events are read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO

DAGS = Path(__file__).parent / "dags"


def _events(airflow_db: str, tmp_path: Path) -> list[dict[str, Any]]:
    events = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AIRFLOW_HOME": airflow_db,
        # What a user sets (see README): where events go, and the namespace of the jobs.
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "msgflash-tests",
        # dag.test() stores the DAG through the dags-folder bundle: it must hold the DAG file.
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    proc = subprocess.run(
        [sys.executable, str(DAGS / "ol_dag.py")], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in events.read_text().splitlines()]


def test_lookup_and_import_events_are_emitted_and_read_back(airflow_db: str, tmp_path: Path) -> None:
    events = _events(airflow_db, tmp_path)
    raw = json.dumps(events)
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    lookup = complete["msgflash_lineage_readback.lookup"]
    assert lookup["job"]["namespace"] == "msgflash-tests"
    assert [(d["namespace"], d["name"]) for d in lookup["inputs"]] == [("s3://leads-bucket", "in/2026-01-01.csv")]
    assert [
        (d["namespace"], d["name"], d["outputFacets"]["outputStatistics"]["rowCount"]) for d in lookup["outputs"]
    ] == [
        ("file", "/data/results/2026-01-01.jsonl", 250),
        ("msgflash://127.0.0.1:8765", "contacts/lead-20260101", 120),
    ]
    facet = lookup["run"]["facets"]["msgflash"]
    assert facet["lookupIds"] == ["lk_a", "lk_b"]
    assert facet["instanceId"] == "inst_boutique"
    assert facet["counts"] == {"requested": 250, "on_whatsapp": 125, "not_on_whatsapp": 120, "invalid": 5}
    assert facet["contactsImport"] == {"tag": "lead-20260101", "imported": 120, "skipped": 5}

    imported = complete["msgflash_lineage_readback.import"]
    assert imported["inputs"] == []
    [out] = imported["outputs"]
    assert (out["namespace"], out["name"], out["outputFacets"]["outputStatistics"]["rowCount"]) == (
        "msgflash://127.0.0.1:8765",
        "contacts/vip",
        7,
    )
    assert imported["run"]["facets"]["msgflash"]["contactsImport"] == {
        "tag": "vip",
        "imported": 7,
        "alreadyExisting": 2,
        "skipped": 0,
    }
    # The stand-in operator holds an API key as the real ones hold a connection: it is in no event.
    assert "msgf_live_" not in raw
    assert "aws_leads" not in raw  # the connection id in the numbers_file URL is not part of a dataset name

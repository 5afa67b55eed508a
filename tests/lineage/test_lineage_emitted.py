"""OpenLineage events really emitted by the MsgFlash operators: ``airflow dags test`` of a lookup (numbers
from a file, results to JSON Lines, contacts imported) and a separate import, against the sandbox, while
Airflow's OpenLineage provider writes to its file transport (what a user configures: see the README);
the events are read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_msgflash.sandbox import is_on_whatsapp
from tests.dags_cli import airflow_env, dags_test

DAG = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_msgflash.operators.msgflash import MsgFlashImportContactsOperator, MsgFlashNumberLookupOperator

with DAG("msgflash_lineage", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):
    lookup = MsgFlashNumberLookupOperator(
        task_id="lookup", instance_id="sandbox-connected", numbers_file="{numbers}", result_path="{results}",
        import_tag="lead-{{{{ ds_nodash }}}}", deferrable=True,
    )
    imported = MsgFlashImportContactsOperator(task_id="import", lookup_id=lookup.output, tag="vip")
    lookup >> imported
"""


def _run(msgflash_sandbox: Any, tmp_path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    numbers = [f"+4179555{i:04d}" for i in range(150)]
    src = tmp_path / "leads.csv"
    src.write_text("phone\n" + "\n".join(numbers) + "\n")
    events = tmp_path / "openlineage.jsonl"
    env = airflow_env(
        tmp_path / "dags",
        AIRFLOW_CONN_MSGFLASH_DEFAULT=msgflash_sandbox.connection_json(),
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        AIRFLOW__OPENLINEAGE__NAMESPACE="msgflash-tests",
    )
    source = DAG.format(numbers=src, results=tmp_path / "results.jsonl")
    run = dags_test(tmp_path / "dags", "msgflash_lineage", source, env)
    assert run.tasks == {"lookup": ("success", 1), "import": ("success", 1)}, run.output[-4000:]
    return [json.loads(line) for line in events.read_text().splitlines()], numbers


def test_lookup_and_import_lineage_is_emitted_and_read_back(
    airflow_db: str, msgflash_sandbox: Any, tmp_path: Path
) -> None:
    msgflash_sandbox.set_faults(pace=0.05)
    events, numbers = _run(msgflash_sandbox, tmp_path)
    on = sum(map(is_on_whatsapp, numbers))
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    lookup = complete["msgflash_lineage.lookup"]
    assert lookup["job"]["namespace"] == "msgflash-tests"
    assert [(d["namespace"], d["name"]) for d in lookup["inputs"]] == [("file", str(tmp_path / "leads.csv"))]
    host = msgflash_sandbox.base_url.split("://", 1)[1]
    outputs = {
        (d["namespace"], d["name"]): d["outputFacets"]["outputStatistics"]["rowCount"] for d in lookup["outputs"]
    }
    tag = next(name.split("/", 1)[1] for ns, name in outputs if ns.startswith("msgflash://"))
    assert outputs == {("file", str(tmp_path / "results.jsonl")): 150, (f"msgflash://{host}", f"contacts/{tag}"): on}
    facet = lookup["run"]["facets"]["msgflash"]
    (lookup_id,) = facet["lookupIds"]
    assert facet["instanceId"] == msgflash_sandbox.instance_id("sandbox-connected")
    assert facet["counts"]["on_whatsapp"] == on and facet["counts"]["requested"] == 150

    imported = complete["msgflash_lineage.import"]
    assert imported["inputs"] == []
    [out] = imported["outputs"]
    assert (out["namespace"], out["name"]) == (f"msgflash://{host}", "contacts/vip")
    assert imported["run"]["facets"]["msgflash"]["lookupIds"] == [lookup_id]
    # No secret anywhere in what was emitted.
    assert "msgf_live_" not in json.dumps(events)

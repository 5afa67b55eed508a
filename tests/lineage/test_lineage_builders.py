"""The OpenLineage builders: dataset names as Airflow's OpenLineage integration gives them, the contacts
dataset, the run facet's whitelisted fields."""

from __future__ import annotations

import json
import os

import pytest
from openlineage.client.serde import Serde

from airflow_provider_msgflash.lineage import (
    RUN_FACET,
    contacts_dataset_name,
    import_lineage,
    location_dataset_name,
    lookup_lineage,
    msgflash_namespace,
)

KEY = "msgf_live_" + "ab" * 32


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/leads.csv", ("file", "/data/leads.csv")),
        ("leads.csv", ("file", os.path.abspath("leads.csv"))),
        ("file:///data/leads.csv", ("file", "/data/leads.csv")),
        ("file://localhost/data/leads.csv", ("file", "/data/leads.csv")),
        ("s3://bucket/in/leads.csv", ("s3://bucket", "in/leads.csv")),
        ("s3://aws_leads@bucket/in/leads.csv", ("s3://bucket", "in/leads.csv")),
        ("S3://bucket/x.txt", ("s3://bucket", "x.txt")),
        ("gs://bucket/a/b.json", ("gs://bucket", "a/b.json")),
        ("s3://bucket", ("s3://bucket", "/")),
    ],
)
def test_location_dataset_names(location: str, expected: tuple[str, str]) -> None:
    assert location_dataset_name(location) == expected


def test_msgflash_namespace_and_contacts_dataset() -> None:
    assert msgflash_namespace("https://srv.msgflash.com") == "msgflash://srv.msgflash.com"
    assert msgflash_namespace("srv.msgflash.com") == "msgflash://srv.msgflash.com"
    assert msgflash_namespace("http://user:pw@LOCALHOST:8765/api/") == "msgflash://localhost:8765"
    assert contacts_dataset_name("http://127.0.0.1:8765", "lead-1") == ("msgflash://127.0.0.1:8765", "contacts/lead-1")
    with pytest.raises(ValueError, match="base URL"):
        msgflash_namespace("https://")


def _summary() -> dict:  # type: ignore[type-arg]
    return {
        "lookup_id": "lk_1",
        "lookup_ids": ["lk_1", "lk_2"],
        "instance_id": "inst_1",
        "status": "done",
        "counts": {"requested": 3, "on_whatsapp": 2, "invalid": 1, "flag": True, "note": "x"},
        "accounting": {"inputs": 3},
        "on_whatsapp": ["+41790000001", "+41790000002"],
        "api_key": KEY,  # whatever a summary holds, only whitelisted fields reach a facet
        "import": {"lookup_ids": ["lk_1"], "tag": "vip", "imported": 2, "skipped": 0, "secret": KEY},
    }


def test_lookup_lineage() -> None:
    ol = lookup_lineage(
        _summary(),
        numbers_file="s3://conn@leads/in.csv",
        result_path="/data/out.jsonl",
        result_lines=3,
        base_url="http://127.0.0.1:8765",
    )
    assert [(d.namespace, d.name) for d in ol.inputs] == [("s3://leads", "in.csv")]
    assert [(d.namespace, d.name) for d in ol.outputs] == [
        ("file", "/data/out.jsonl"),
        ("msgflash://127.0.0.1:8765", "contacts/vip"),
    ]
    assert [d.outputFacets["outputStatistics"].rowCount for d in ol.outputs] == [3, 2]
    facet = json.loads(Serde.to_json(ol.run_facets[RUN_FACET]))
    assert {k: v for k, v in facet.items() if not k.startswith("_")} == {
        "lookupIds": ["lk_1", "lk_2"],
        "instanceId": "inst_1",
        "status": "done",
        "counts": {"requested": 3, "on_whatsapp": 2, "invalid": 1},
        "contactsImport": {"tag": "vip", "imported": 2, "skipped": 0},
    }
    assert KEY not in Serde.to_json(ol.run_facets[RUN_FACET])


def test_lookup_lineage_without_files_or_import() -> None:
    summary = {k: v for k, v in _summary().items() if k != "import"}
    ol = lookup_lineage(summary, base_url="https://srv.msgflash.com")
    assert ol.inputs == [] and ol.outputs == []
    assert ol.run_facets[RUN_FACET].contactsImport is None
    assert ol.run_facets[RUN_FACET].lookupIds == ["lk_1", "lk_2"]
    ol = lookup_lineage({"lookup_id": "lk_9", "counts": None}, result_path="s3://b/r.jsonl")
    assert ol.run_facets[RUN_FACET].lookupIds == ["lk_9"]
    assert ol.run_facets[RUN_FACET].counts == {}
    assert ol.outputs[0].outputFacets == {}  # no line count given: no statistics


def test_import_lineage() -> None:
    summary = {"lookup_ids": ["lk_1"], "tag": "lead-2026", "imported": 5, "alreadyExisting": 1, "skipped": 0}
    ol = import_lineage(summary, base_url="https://srv.msgflash.com")
    assert ol.inputs == []
    [out] = ol.outputs
    assert (out.namespace, out.name) == ("msgflash://srv.msgflash.com", "contacts/lead-2026")
    assert out.outputFacets["outputStatistics"].rowCount == 5
    facet = ol.run_facets[RUN_FACET]
    assert facet.lookupIds == ["lk_1"]
    assert facet.contactsImport == {"tag": "lead-2026", "imported": 5, "alreadyExisting": 1, "skipped": 0}

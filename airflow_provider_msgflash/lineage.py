"""OpenLineage for the lookup and import operators, built from plain inputs (the operator's summary dict, the
file locations, the connection's base URL, the tag), so it needs no operator.

Operators return these from ``get_openlineage_facets_on_complete(self, task_instance)``; Airflow's OpenLineage
provider (``pip install 'airflow-provider-msgflash[openlineage]'``) sends them with the task's COMPLETE event.

- inputs: the numbers file, when one is given;
- outputs: the result file, and the contacts an import tagged, as dataset ``msgflash://<base host>`` /
  ``contacts/<tag>``, each with an ``outputStatistics`` facet (result lines / contacts imported);
- run facet ``msgflash``: lookup ids, instance id, status and counts (and the import's counts).

Sending events needs only the OpenLineage provider's own configuration, e.g. as environment variables::

    AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "http", "url": "http://marquez:5000", "endpoint": "api/v1/lineage"}'
    AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "file", "log_file_path": "/tmp/ol.jsonl", "append": true}'  # or
    AIRFLOW__OPENLINEAGE__NAMESPACE=my_airflow   # the namespace of the jobs (default "default")

Without a transport (or with ``AIRFLOW__OPENLINEAGE__DISABLED=true``) the provider sends nothing.

Dataset names follow Airflow's OpenLineage conventions: a local file is namespace ``file``, name its absolute
path; an object is namespace ``<scheme>://<bucket>``, name its key. No secret is ever part of a facet: only
whitelisted summary fields are copied, and user info (a connection id or a password) is dropped from URLs.
"""

from __future__ import annotations

import functools
import os
from typing import Any
from urllib.parse import urlsplit

RUN_FACET = "msgflash"
LOCAL_SCHEMES = ("file", "local")
_COUNT_KEYS = (
    "requested",
    "normalized",
    "checked",
    "on_whatsapp",
    "not_on_whatsapp",
    "invalid",
    "invalid_before_sending",
    "duplicates_removed",
)
_IMPORT_KEYS = ("imported", "alreadyExisting", "skipped")


def location_dataset_name(location: str) -> tuple[str, str]:
    """``(namespace, name)`` of a local path or an object storage URL, as Airflow's OpenLineage integration
    names files and objects (``file`` + absolute path; ``s3://bucket`` + key)."""
    parts = urlsplit(location)
    if "://" not in location or not parts.scheme:
        return "file", os.path.abspath(location)
    scheme = parts.scheme.lower()
    host = parts.netloc.rpartition("@")[2]
    if scheme in LOCAL_SCHEMES:
        return ("file" if host in ("", "localhost") else f"file://{host}"), parts.path
    return f"{scheme}://{host}", parts.path.lstrip("/") or "/"


def msgflash_namespace(base_url: str) -> str:
    """``msgflash://<host[:port]>`` of the connection's base URL (a bare host as the hook reads it)."""
    text = base_url.strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = parts.netloc.rpartition("@")[2].lower()
    if not host:
        raise ValueError(f"cannot name the MsgFlash namespace of base URL {base_url!r}")
    return f"msgflash://{host}"


def contacts_dataset_name(base_url: str, tag: str) -> tuple[str, str]:
    """The contacts an import tagged: ``(msgflash://<base host>, contacts/<tag>)``."""
    return msgflash_namespace(base_url), f"contacts/{tag}"


@functools.cache
def _run_facet_class() -> type:
    from airflow.providers.common.compat.openlineage.facet import RunFacet
    from attrs import define

    @define
    class MsgFlashRunFacet(RunFacet):  # type: ignore[misc]
        """What MsgFlash did in this run: lookups, their counts, the import."""

        lookupIds: list[str]
        instanceId: str | None
        status: str | None
        counts: dict[str, int]
        contactsImport: dict[str, Any] | None = None

    return MsgFlashRunFacet


def _ints(source: Any, keys: tuple[str, ...]) -> dict[str, int]:
    if not isinstance(source, dict):
        return {}
    return {k: source[k] for k in keys if isinstance(source.get(k), int) and not isinstance(source.get(k), bool)}


def _lookup_ids(summary: dict[str, Any]) -> list[str]:
    ids = summary.get("lookup_ids")
    if not isinstance(ids, list):
        ids = [summary["lookup_id"]] if summary.get("lookup_id") else []
    return [str(i) for i in ids]


def _import_part(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The import's tag and counts, from an import summary or a lookup summary's ``import``."""
    source = summary.get("import") if isinstance(summary.get("import"), dict) else summary
    if not isinstance(source, dict) or not isinstance(source.get("tag"), str):
        return None
    return {"tag": source["tag"], **_ints(source, _IMPORT_KEYS)}


def run_facet(summary: dict[str, Any]) -> Any:
    """The ``msgflash`` run facet of a lookup or import summary (whitelisted fields only)."""
    instance = summary.get("instance_id")
    status = summary.get("status")
    return _run_facet_class()(
        lookupIds=_lookup_ids(summary),
        instanceId=str(instance) if instance is not None else None,
        status=str(status) if status is not None else None,
        counts=_ints(summary.get("counts"), _COUNT_KEYS),
        contactsImport=_import_part(summary),
    )


def _dataset(kind: str, namespace: str, name: str, rows: int | None = None) -> Any:
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )

    if kind == "input":
        return InputDataset(namespace=namespace, name=name)
    facets = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows)} if rows is not None else {}
    return OutputDataset(namespace=namespace, name=name, outputFacets=facets)


def _contacts_output(base_url: str | None, part: dict[str, Any] | None) -> list[Any]:
    if not base_url or not part:
        return []
    return [_dataset("output", *contacts_dataset_name(base_url, part["tag"]), rows=part.get("imported"))]


def lookup_lineage(
    summary: dict[str, Any],
    *,
    numbers_file: str | None = None,
    result_path: str | None = None,
    result_lines: int | None = None,
    base_url: str | None = None,
) -> Any:
    """``OperatorLineage`` of a finished number lookup.

    :param summary: the lookup operator's return value (``lookup_ids``, ``instance_id``, ``status``,
        ``counts``, ``import`` when it imported).
    :param numbers_file: the rendered ``numbers_file`` (path or URL), when numbers came from a file.
    :param result_path: the rendered ``result_path``, when results were written.
    :param result_lines: the lines written to ``result_path`` (its ``outputStatistics.rowCount``).
    :param base_url: the connection's base URL, naming the contacts dataset of an import.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    inputs = [_dataset("input", *location_dataset_name(numbers_file))] if numbers_file else []
    outputs = [_dataset("output", *location_dataset_name(result_path), rows=result_lines)] if result_path else []
    outputs += _contacts_output(base_url, _import_part(summary) if "import" in summary else None)
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets={RUN_FACET: run_facet(summary)})


def import_lineage(summary: dict[str, Any], *, base_url: str) -> Any:
    """``OperatorLineage`` of a contacts import.

    :param summary: the import operator's return value (``lookup_ids``, ``tag``, ``imported``,
        ``alreadyExisting``, ``skipped``).
    :param base_url: the connection's base URL (``msgflash://<host>`` namespace of the contacts).
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=[],
        outputs=_contacts_output(base_url, _import_part(summary)),
        run_facets={RUN_FACET: run_facet(summary)},
    )

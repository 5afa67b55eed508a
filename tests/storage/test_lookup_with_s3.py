"""The lookup operator with ``numbers_file`` and ``result_path`` in S3 (a real S3-compatible server on
loopback, the sandbox for MsgFlash): numbers streamed in, JSON Lines out, a split lookup merged in
order, and a bad location refused before any MsgFlash quota is spent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator
from airflow_provider_msgflash.sandbox import is_on_whatsapp
from tests.helpers import make_context
from tests.storage.conftest import GOOD_CONN, WRONG_SECRET_CONN
from tests.storage.s3_server import S3Server


def _put_numbers(s3: S3Server, bucket: str, n: int) -> list[str]:
    nums = [f"+4179{i:07d}" for i in range(n)]
    s3.client().put_object(Bucket=bucket, Key="in/leads.csv", Body=("phone\n" + "\n".join(nums) + "\n").encode())
    return nums


def test_split_lookup_from_s3_to_s3(msgflash_conn: Any, s3_server: S3Server, bucket: str) -> None:
    msgflash_conn.set_faults(pace="instant")
    nums = _put_numbers(s3_server, bucket, 25_000)
    task = MsgFlashNumberLookupOperator(
        task_id="lookup",
        instance_id="sandbox-connected",
        numbers_file=f"s3://{bucket}/in/leads.csv",
        result_path=f"s3://{bucket}/out/results.jsonl",
        storage_conn_id=GOOD_CONN,
        deferrable=False,
        xcom_numbers_limit=10,
    )
    summary = task.execute(make_context())
    assert len(summary["lookup_ids"]) == 3  # 10,000 + 10,000 + 5,000
    body = s3_server.client().get_object(Bucket=bucket, Key="out/results.jsonl")["Body"].read().decode()
    lines = [json.loads(x) for x in body.splitlines()]
    assert sorted(x["number"] for x in lines) == nums  # every number once
    # Lookup by lookup, in order: the first 10,000 lines are the first lookup's, and so on.
    assert [x["lookup_id"] for x in lines[::10_000]] == summary["lookup_ids"]
    assert {x["number"] for x in lines[:10_000]} == set(nums[:10_000])
    assert sum(x["status"] == "on_whatsapp" for x in lines) == sum(map(is_on_whatsapp, nums))
    assert summary["on_whatsapp"] is None and summary["counts"]["checked"] == 25_000
    assert s3_server.open_uploads(bucket) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"numbers_file": "s3://{bucket}/in/missing.csv"}, r"s3://.*/in/missing\.csv"),
        ({"result_path": "s3://" + WRONG_SECRET_CONN + "@{bucket}/out/r.jsonl"}, r"s3://.*/out/r\.jsonl"),
        ({"result_path": "s3://no-such-conn@{bucket}/out/r.jsonl"}, r"no-such-conn"),
    ],
    ids=["missing_object", "refused_credential", "unknown_connection"],
)
def test_a_bad_location_is_refused_before_anything_is_sent(
    msgflash_conn: Any, s3_server: S3Server, bucket: str, kwargs: dict[str, Any], match: str
) -> None:
    _put_numbers(s3_server, bucket, 150)
    args = {"numbers_file": "s3://{bucket}/in/leads.csv", "storage_conn_id": GOOD_CONN, **kwargs}
    args = {k: v.format(bucket=bucket) if isinstance(v, str) else v for k, v in args.items()}
    task = MsgFlashNumberLookupOperator(task_id="lookup", instance_id="sandbox-connected", **args)
    with pytest.raises(MsgFlashConfigError, match=match):
        task.execute(make_context())
    assert msgflash_conn.requests() == []  # no quota spent

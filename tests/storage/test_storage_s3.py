"""Numbers in and JSON Lines out through ``s3://`` against a real S3-compatible server on loopback."""

from __future__ import annotations

import json

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.storage import WRITE_BLOCK_SIZE, JsonLinesWriter, check_location, iter_numbers
from tests.helpers import numbers
from tests.storage.conftest import GOOD_CONN
from tests.storage.s3_server import S3Server

N = 100_000


def test_100000_numbers_in_through_s3(s3_server: S3Server, bucket: str) -> None:
    expected = [f"+4179{i:07d}" for i in range(N)]
    body = "# leads of the day\n" + "\n".join(expected) + "\n\n"
    s3_server.client().put_object(Bucket=bucket, Key="in/leads.txt", Body=body.encode())

    got = list(iter_numbers(f"s3://{bucket}/in/leads.txt", GOOD_CONN))

    assert got == expected


def test_csv_and_json_from_s3_and_connection_named_in_the_url(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="a.csv", Body=b"\xef\xbb\xbfname,phone\nAna,+41790000001\nBo,+41790000002\n")
    client.put_object(Bucket=bucket, Key="b.json", Body=json.dumps(["+41790000003", 41790000004]).encode())

    assert list(iter_numbers(f"s3://{GOOD_CONN}@{bucket}/a.csv")) == ["+41790000001", "+41790000002"]
    assert list(iter_numbers(f"s3://{bucket}/b.json", GOOD_CONN)) == ["+41790000003", 41790000004]


def test_100000_json_lines_out_through_s3_published_only_on_close(s3_server: S3Server, bucket: str) -> None:
    nums = numbers(N, prefix="+417")
    writer = JsonLinesWriter(f"s3://{bucket}/out/results.jsonl", GOOD_CONN)
    for i in range(0, N, 10_000):  # as the operator writes: one lookup's result at a time
        writer.write(nums[i : i + 10_000], "on_whatsapp" if i % 20_000 else "not_on_whatsapp", f"lk_{i}")
    writer.write(["12"], "invalid", None, "not a phone number")
    # More than one upload part has gone out, yet no object is visible to readers.
    assert writer.lines * 60 > WRITE_BLOCK_SIZE
    assert len(s3_server.open_uploads(bucket)) == 1
    assert not s3_server.exists(bucket, "out/results.jsonl")

    writer.close()

    body = s3_server.client().get_object(Bucket=bucket, Key="out/results.jsonl")["Body"].read().decode()
    lines = [json.loads(x) for x in body.splitlines()]
    assert len(lines) == N + 1 == writer.lines
    assert lines[0] == {"number": nums[0], "status": "not_on_whatsapp", "lookup_id": "lk_0"}
    assert lines[10_000] == {"number": nums[10_000], "status": "on_whatsapp", "lookup_id": "lk_10000"}
    assert lines[-1] == {"number": "12", "status": "invalid", "lookup_id": None, "reason": "not a phone number"}
    assert [x["number"] for x in lines[:N]] == nums
    assert s3_server.open_uploads(bucket) == []


def test_failure_mid_write_leaves_no_object_and_keeps_the_previous_one(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="out/r.jsonl", Body=b"yesterday\n")
    writer = JsonLinesWriter(f"s3://{bucket}/out/r.jsonl", GOOD_CONN)

    def task() -> None:  # as the operator does: abort on any failure, then re-raise
        try:
            writer.write(numbers(150_000, prefix="+417"), "on_whatsapp", "lk_1")
            assert len(s3_server.open_uploads(bucket)) == 1  # parts were uploaded
            raise RuntimeError("the task failed while writing")
        except BaseException:
            writer.abort()
            raise

    with pytest.raises(RuntimeError, match="failed while writing"):
        task()

    assert s3_server.open_uploads(bucket) == []
    assert client.get_object(Bucket=bucket, Key="out/r.jsonl")["Body"].read() == b"yesterday\n"
    fresh = JsonLinesWriter(f"s3://{bucket}/out/never.jsonl", GOOD_CONN)
    fresh.write(["+41790000000"], "on_whatsapp", "lk_2")
    fresh.abort()
    assert not s3_server.exists(bucket, "out/never.jsonl")
    assert s3_server.open_uploads(bucket) == []


def test_empty_result_is_an_empty_object(s3_server: S3Server, bucket: str) -> None:
    writer = JsonLinesWriter(f"s3://{bucket}/empty.jsonl", GOOD_CONN)
    writer.close()
    assert s3_server.client().get_object(Bucket=bucket, Key="empty.jsonl")["Body"].read() == b""
    assert writer.lines == 0


def test_check_location_reads_and_writes(s3_server: S3Server, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="in.txt", Body=b"+41790000000\n")
    check_location(f"s3://{bucket}/in.txt", GOOD_CONN)
    check_location(f"s3://{bucket}/new/out.jsonl", GOOD_CONN, field="result_path", write=True)
    with pytest.raises(MsgFlashConfigError) as e:
        check_location(f"s3://{bucket}-gone/new/out.jsonl", GOOD_CONN, field="result_path", write=True)
    assert e.value.code == "STORAGE_NOT_FOUND"
    assert f"`result_path` s3://{bucket}-gone/new/out.jsonl" in str(e.value)

"""Each storage failure is a MsgFlashConfigError naming the location and the fix, never showing a secret."""

from __future__ import annotations

import sys

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.storage import JsonLinesWriter, check_location, iter_numbers, read_numbers
from tests.storage.conftest import GOOD_CONN, WRONG_SECRET_CONN
from tests.storage.s3_server import S3Server


def _error(fn, *args, **kwargs) -> MsgFlashConfigError:  # type: ignore[no-untyped-def]
    with pytest.raises(MsgFlashConfigError) as e:
        fn(*args, **kwargs)
    return e.value


def test_missing_object_and_missing_bucket(s3_server: S3Server, bucket: str) -> None:
    err = _error(read_numbers, f"s3://{bucket}/nope.csv", GOOD_CONN)
    assert err.code == "STORAGE_NOT_FOUND"
    assert f"`numbers_file` s3://{bucket}/nope.csv (connection 'msgflash_s3'): does not exist" in str(err)
    err = _error(read_numbers, "s3://no-such-bucket-here/x.txt", GOOD_CONN)
    assert err.code == "STORAGE_NOT_FOUND"
    assert "s3://no-such-bucket-here/x.txt" in str(err)


def test_refused_credential_reading_writing_and_checking(s3_server: S3Server, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="in.txt", Body=b"+41790000000\n")
    url = f"s3://{bucket}/in.txt"
    errors = [_error(read_numbers, url, WRONG_SECRET_CONN)]
    writer = JsonLinesWriter(f"s3://{bucket}/out.jsonl", WRONG_SECRET_CONN)  # nothing is sent before a part is full
    writer.write(["+41790000000"], "on_whatsapp", "lk_1")
    errors.append(_error(writer.close))
    errors.append(_error(check_location, f"s3://{bucket}/out.jsonl", WRONG_SECRET_CONN, write=True))
    for err in errors:
        assert err.code == "STORAGE_ACCESS_DENIED", err
        assert f"s3://{bucket}/" in str(err)
        assert "(connection 'msgflash_s3_wrong_secret')" in str(err)
        assert "Check the credentials of the connection" in str(err)
        assert "not-the-secret-0123" not in str(err)
        assert s3_server.secret_key not in str(err)
    assert not s3_server.exists(bucket, "out.jsonl")
    assert s3_server.open_uploads(bucket) == []


def test_unknown_connection_id(s3_server: S3Server, bucket: str) -> None:
    for fn, field in ((read_numbers, "numbers_file"), (JsonLinesWriter, "result_path")):
        err = _error(fn, f"s3://{bucket}/x.txt", "no_such_conn", field=field)
        assert err.code == "STORAGE_BAD_CONN_ID"
        assert f"`{field}` s3://{bucket}/x.txt (connection 'no_such_conn')" in str(err)
        assert "AIRFLOW_CONN_NO_SUCH_CONN" in str(err)


def test_connection_of_the_wrong_type(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, bucket: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOT_AWS", '{"conn_type": "msgflash", "password": "msgf_live_' + "a" * 64 + '"}')
    err = _error(read_numbers, f"s3://not_aws@{bucket}/x.txt")
    assert err.code == "STORAGE_BAD_CONN_ID"
    assert "of type 'msgflash', not 'aws'" in str(err)
    assert "a" * 64 not in str(err)


def test_scheme_without_a_filesystem_names_the_package() -> None:
    err = _error(read_numbers, "gs://bucket/leads.csv")
    assert err.code == "STORAGE_UNSUPPORTED"
    assert "`numbers_file` gs://bucket/leads.csv: no filesystem for gs://" in str(err)
    assert "pip install 'apache-airflow-providers-google'" in str(err)
    err = _error(JsonLinesWriter, "weird://bucket/out.jsonl")
    assert err.code == "STORAGE_UNSUPPORTED"
    assert "`result_path` weird://bucket/out.jsonl" in str(err)
    assert "Install the Airflow provider that registers a filesystem" in str(err)


def test_missing_s3fs_names_the_extra(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, bucket: str) -> None:
    # A package missing from the environment cannot be produced by the server: hide s3fs from imports, and use a
    # connection id no earlier test used (Airflow caches one filesystem per scheme and connection).
    monkeypatch.setitem(sys.modules, "s3fs", None)
    monkeypatch.setenv("AIRFLOW_CONN_MSGFLASH_S3_NO_S3FS", s3_server.connection_json())
    err = _error(read_numbers, f"s3://{bucket}/x.txt", "msgflash_s3_no_s3fs")
    assert err.code == "STORAGE_UNSUPPORTED"
    assert "pip install 'apache-airflow-providers-amazon[s3fs]'" in str(err)


def test_bad_arguments_are_refused_before_any_access() -> None:
    for bad in (None, "", "   ", 42):
        err = _error(read_numbers, bad)
        assert err.code == "BAD_ARGUMENT"
        assert "`numbers_file` must be a local path or a URL" in str(err)
    assert "`result_path`" in str(_error(JsonLinesWriter, "", field="result_path"))
    assert "names another host" in str(_error(read_numbers, "file://fileserver/data/x.txt"))


def test_password_in_a_url_is_never_shown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    err = _error(lambda: list(iter_numbers("weird://user:hunter2secret@bucket/x.txt")))
    assert "hunter2secret" not in str(err)
    assert "weird://***@bucket/x.txt" in str(err)

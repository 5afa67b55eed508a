"""Fixtures for the object storage tests: one loopback S3 server per session, Airflow connections to it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.storage.s3_server import S3Server, running_s3

#: Connection ids the tests use (each stays bound to one credential for the whole session: Airflow caches
#: a filesystem per scheme and connection id).
GOOD_CONN = "msgflash_s3"
WRONG_SECRET_CONN = "msgflash_s3_wrong_secret"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3() as server:
        saved = {k: os.environ.get(k) for k in ("AIRFLOW_CONN_MSGFLASH_S3", "AIRFLOW_CONN_MSGFLASH_S3_WRONG_SECRET")}
        os.environ["AIRFLOW_CONN_MSGFLASH_S3"] = server.connection_json()
        os.environ["AIRFLOW_CONN_MSGFLASH_S3_WRONG_SECRET"] = server.connection_json(secret="not-the-secret-0123")
        try:
            yield server
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket."""
    return s3_server.new_bucket()

"""Fixtures for the object storage tests: a fresh bucket on the session's loopback S3 server
(``s3_server`` in tests/conftest.py), and the connection ids bound to it."""

from __future__ import annotations

import pytest

from tests.storage.s3_server import S3Server

#: Connection ids the tests use (each stays bound to one credential for the whole session: Airflow caches
#: a filesystem per scheme and connection id).
GOOD_CONN = "msgflash_s3"
WRONG_SECRET_CONN = "msgflash_s3_wrong_secret"


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket."""
    return s3_server.new_bucket()

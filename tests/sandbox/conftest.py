"""Fixtures for the sandbox's own tests: the shared sandbox (reset per test) and a small HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_msgflash.sandbox import DIALECTS, SandboxHandle
from airflow_provider_msgflash.sandbox.pytest_plugin import (  # noqa: F401
    msgflash_sandbox,
    msgflash_sandbox_session,
)
from tests.sandbox.sandbox_testkit import Api


@pytest.fixture
def sb(msgflash_sandbox: SandboxHandle) -> SandboxHandle:  # noqa: F811
    """The reset sandbox with its rate limit off (tests of the limit turn it on)."""
    msgflash_sandbox.set_faults(rate_limit=0)
    return msgflash_sandbox


@pytest.fixture
def api(sb: SandboxHandle) -> Iterator[Api]:
    client = Api(sb)
    yield client
    client.close()


@pytest.fixture
def connected(sb: SandboxHandle) -> str:
    return sb.instance_id("sandbox-connected")


#: No dialect, each dialect alone, and ``all``.
EACH_DIALECT = ["none", *DIALECTS, "all"]


@pytest.fixture(params=EACH_DIALECT)
def each_dialect(request: pytest.FixtureRequest, sb: SandboxHandle) -> str:
    """Run the test once per dialect (a module opts in with ``pytestmark = usefixtures("each_dialect")``);
    the reset sandbox answers in it."""
    name: str = request.param
    sb.set_dialect(name)
    return name

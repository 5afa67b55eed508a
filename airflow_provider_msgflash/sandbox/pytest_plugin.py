"""pytest fixtures for the MsgFlash sandbox. Load with ``pytest_plugins =
["airflow_provider_msgflash.sandbox.pytest_plugin"]`` in a root ``conftest.py`` (or import the fixtures).

- ``msgflash_sandbox_session``: one sandbox (daemon thread, free loopback port, pace ``fast``) for the
  whole session; its state is shared by the tests that use it directly.
- ``msgflash_sandbox``: the same server, reset before each test: fresh seeded state (keys, instances,
  no lookups or contacts, counters, quota and request log cleared), the starting fault switches and
  dialect.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_msgflash.sandbox.handle import SandboxHandle
from airflow_provider_msgflash.sandbox.server import running_sandbox


@pytest.fixture(scope="session")
def msgflash_sandbox_session() -> Iterator[SandboxHandle]:
    """A sandbox shared by the whole test session (pace ``fast``, rate limit 10/s per key)."""
    with running_sandbox(pace="fast") as sb:
        yield sb


@pytest.fixture
def msgflash_sandbox(msgflash_sandbox_session: SandboxHandle) -> SandboxHandle:
    """The session's sandbox, reset (state, fault switches and dialect) for this test."""
    msgflash_sandbox_session.reset(faults=True)
    return msgflash_sandbox_session

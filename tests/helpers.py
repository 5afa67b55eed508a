"""Helpers shared by the tests (not fixtures)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_msgflash.hooks.msgflash import close_shared_session


def dag_bag(dag_folder: str) -> Any:
    """Parse DAG files as Airflow does: ``DagBag`` moved to ``airflow.dag_processing.dagbag`` in 3.2;
    3.0, 3.1 and 2.11 keep it in ``airflow.models.dagbag``."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=dag_folder)


@dataclass
class FakeTI:
    """The slice of a TaskInstance the operators use (XCom push/pull of its own task, try number)."""

    try_number: int = 1
    max_tries: int = 0
    task_id: str = "lookup"
    map_index: int = -1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", map_indexes: int | None = None) -> Any:
        assert task_ids in (None, self.task_id) and map_indexes in (None, self.map_index)
        return self.xcom.get(key)


@dataclass
class FakeDagRun:
    start_date: datetime = field(default_factory=lambda: datetime.now(timezone.utc) - timedelta(minutes=5))


@dataclass
class FakeTaskStateStore:
    """Airflow 3.3's ``context["task_state_store"]`` as the operators use it (``get``/``set``/``delete``), kept
    by the test across tries as Airflow keeps it for a task instance; ``reads``/``writes`` count the calls."""

    values: dict[str, Any] = field(default_factory=dict)
    reads: int = 0
    writes: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        assert value is not None
        self.writes += 1
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def make_context(
    try_number: int = 1, task_state: FakeTaskStateStore | None = None, max_tries: int = 0
) -> dict[str, Any]:
    """A task context with what the operators read: ``ti`` (its try number and ``max_tries``: a try with
    ``try_number <= max_tries`` would be retried), ``dag_run`` and, given, a task state store (Airflow 3.3)."""
    ctx: dict[str, Any] = {"ti": FakeTI(try_number=try_number, max_tries=max_tries), "dag_run": FakeDagRun()}
    if task_state is not None:
        ctx["task_state_store"] = task_state
    return ctx


def run_trigger(trigger: Any, timeout: float = 60) -> dict[str, Any]:
    """Run a trigger's ``run()`` to its first event, as the triggerer would."""

    async def first() -> dict[str, Any]:
        try:
            async for event in trigger.run():
                return dict(event.payload)
            raise AssertionError("trigger ended without an event")
        finally:
            await close_shared_session()

    return asyncio.run(asyncio.wait_for(first(), timeout))


def numbers(n: int, prefix: str = "+4179555") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]

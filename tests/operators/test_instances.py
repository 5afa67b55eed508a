"""Operators that read instances (``operators/instances.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.operators.msgflash import MsgFlashGetInstanceOperator, MsgFlashListInstancesOperator
from tests.helpers import make_context


def test_list_and_get_instances(msgflash_conn: Any) -> None:
    everything = MsgFlashListInstancesOperator(task_id="l").execute(make_context())
    assert {"sandbox-connected", "sandbox-disconnected"} <= {i["name"] for i in everything}
    connected = MsgFlashListInstancesOperator(task_id="l", status="connected").execute(make_context())
    assert connected and all(i["status"] == "connected" for i in connected)
    with pytest.raises(MsgFlashConfigError, match="status"):
        MsgFlashListInstancesOperator(task_id="l", status="online").execute(make_context())
    got = MsgFlashGetInstanceOperator(task_id="g", instance_id="sandbox-unhealthy").execute(make_context())
    assert got["health"]["safetyScore"] < 50 and got["state"]["status"] == "connected"


def test_get_instance_refuses_an_empty_reference_at_parse_time() -> None:
    with pytest.raises(MsgFlashConfigError, match="instance_id"):
        MsgFlashGetInstanceOperator(task_id="g", instance_id="  ")

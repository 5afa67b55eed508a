"""Every field the operators and sensors return (their XCom ``return_value``) and push is defined in
``docs/xcom.md``.

The keys are read from real runs against the sandbox, not from a list kept by hand: the lookup operator
(synchronous with a result file and an import; submit-only), the import (also in the sandbox's ``import-summary``
dialect, whose missing count makes it keep ``api_answers``), cancel, list and get instance, and the readiness
sensor's poke. Nested summaries are checked with their prefix (``counts.requested``, ``accounting.sent``); the
import summary inside the lookup summary, and the result file's lines, against their own tables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from airflow_provider_msgflash.hooks.msgflash import MsgFlashHook
from airflow_provider_msgflash.operators.lookup import RESUME_XCOM_KEY
from airflow_provider_msgflash.operators.msgflash import (
    MsgFlashCancelLookupOperator,
    MsgFlashGetInstanceOperator,
    MsgFlashImportContactsOperator,
    MsgFlashListInstancesOperator,
    MsgFlashNumberLookupOperator,
)
from airflow_provider_msgflash.sensors.msgflash import MsgFlashInstanceReadySensor
from tests.conftest import REPO
from tests.helpers import make_context, numbers

PAGE = REPO / "docs" / "xcom.md"


def documented() -> set[str]:
    """Every name in backticks in the first two cells of the page's table rows."""
    names: set[str] = set()
    for line in PAGE.read_text().splitlines():
        if line.startswith("|"):
            cells = line.strip().strip("|").split("|")
            for cell in cells[:2]:
                names |= set(re.findall(r"`([\w.]+)`", cell))
    return names


def missing(keys: set[str], prefix: str = "") -> set[str]:
    return {f"{prefix}{k}" for k in keys} - documented()


def test_lookup_summary_fields_are_defined(msgflash_conn: Any, tmp_path: Path) -> None:
    nums = [*numbers(6), numbers(1)[0], "not a number"]  # a duplicate and an input refused before sending
    ctx = make_context()
    summary = MsgFlashNumberLookupOperator(
        task_id="lookup",
        instance_id="sandbox-connected",
        numbers=nums,
        normalize=True,
        result_path=str(tmp_path / "out.jsonl"),
        import_tag="docs",
    ).execute(ctx)
    assert not missing(set(summary))
    assert not missing(set(summary["counts"]), "counts.")
    assert not missing(set(summary["accounting"]), "accounting.")
    assert not missing(set(summary["import"]))
    assert not missing(set(ctx["ti"].xcom) - {"return_value"} | {RESUME_XCOM_KEY})
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert not missing({k for line in lines for k in line})
    submitted = MsgFlashNumberLookupOperator(
        task_id="lookup", instance_id="sandbox-connected", numbers=numbers(150), wait_for_completion=False
    ).execute(make_context())
    assert not missing(set(submitted))
    assert not missing(set(submitted["accounting"]), "accounting.")


def test_import_cancel_and_instance_fields_are_defined(msgflash_conn: Any) -> None:
    sb = msgflash_conn
    sb.set_dialect("import-summary")  # no skipped count: the summary keeps MsgFlash's answers (api_answers)
    lookup = MsgFlashHook().create_number_lookup(sb.instance_id("sandbox-connected"), numbers(10))
    imported = MsgFlashImportContactsOperator(task_id="i", lookup_id=lookup["lookupId"], tag="t").execute(
        make_context()
    )
    assert "api_answers" in imported and not missing(set(imported))
    sb.set_dialect(None)
    sb.set_faults(pace=0.5)
    running = MsgFlashHook().create_number_lookup(sb.instance_id("sandbox-connected"), numbers(200))
    for _ in range(2):  # cancelled, then already finished
        out = MsgFlashCancelLookupOperator(task_id="c", lookup_id=running["lookupId"]).execute(make_context())
        assert not missing(set(out))
    listed = MsgFlashListInstancesOperator(task_id="l").execute(make_context())
    assert not missing({k for item in listed for k in item})
    assert not missing(set(MsgFlashGetInstanceOperator(task_id="g", instance_id="sandbox-connected").execute({})))
    sensor = MsgFlashInstanceReadySensor(task_id="r", instance_id="sandbox-connected", min_safety_score=50)
    assert not missing(set(sensor.poke(make_context()).xcom_value))

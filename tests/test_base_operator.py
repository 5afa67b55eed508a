"""Template fields keep their type (``base_operator.py``): with ``render_template_as_native_obj=True``, a
list of phone numbers rendered once stays a list of strings when rendered again (Airflow 2.11's ``dags
test`` renders twice), plain ids are not turned into ints, and real templates still render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_msgflash.operators.msgflash import MsgFlashImportContactsOperator, MsgFlashNumberLookupOperator
from airflow_provider_msgflash.version_compat import BaseOperator

NUMBERS = ["+41795550000", "+41795550001"]


def _dag(native: bool) -> Any:
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.11
        from airflow import DAG
    return DAG("templating", start_date=datetime(2026, 1, 1), schedule=None, render_template_as_native_obj=native)


def _render_twice(task: BaseOperator, context: dict[str, Any]) -> None:
    env = task.get_template_env(dag=task.dag)
    task.render_template_fields(context, jinja_env=env)
    task.render_template_fields(context, jinja_env=env)


def test_numbers_rendered_twice_stay_strings_with_native_rendering() -> None:
    with _dag(native=True):
        task = MsgFlashNumberLookupOperator(
            task_id="lookup", instance_id="12345", numbers="{{ params.numbers }}", import_tag="t-{{ params.day }}"
        )
    _render_twice(task, {"params": {"numbers": NUMBERS, "day": 7}})
    assert task.numbers == NUMBERS and all(isinstance(n, str) for n in task.numbers)
    assert task.instance_id == "12345"  # a plain id, not the int 12345
    assert task.import_tag == "t-7"


def test_a_plain_list_of_numbers_is_never_rendered() -> None:
    with _dag(native=True):
        task = MsgFlashNumberLookupOperator(task_id="lookup", instance_id="shop", numbers=list(NUMBERS))
        imp = MsgFlashImportContactsOperator(task_id="import", lookup_id="42", tag="007")
    _render_twice(task, {})
    _render_twice(imp, {})
    assert task.numbers == NUMBERS
    assert (imp.lookup_id, imp.tag) == ("42", "007")


def test_without_the_provider_base_airflow_would_turn_them_into_ints() -> None:
    """The fault this guards against, shown on Airflow's own rendering (so the tests above prove something)."""
    with _dag(native=True):
        plain = BaseOperator(task_id="plain")
    env = plain.get_template_env(dag=plain.dag)
    assert plain.render_template("+41795550000", {}, env) == 41795550000

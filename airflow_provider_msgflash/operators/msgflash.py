"""Operators for MsgFlash: look numbers up, import the ones on WhatsApp as contacts, cancel, list.
This is their public import path.

Where each lives: :mod:`.lookup` (the number lookup), :mod:`.contacts` (import and cancel: acting on
lookups), :mod:`.instances` (reading instances), :mod:`.follow` (the base of operators that wait for
lookups: defer or wait in the worker, map the trigger's event).
"""

from __future__ import annotations

from airflow_provider_msgflash.api.defaults import ASYNC_LOOKUP_THRESHOLD
from airflow_provider_msgflash.operators.contacts import MsgFlashCancelLookupOperator, MsgFlashImportContactsOperator
from airflow_provider_msgflash.operators.follow import MsgFlashLookupFollowerOperator
from airflow_provider_msgflash.operators.instances import MsgFlashGetInstanceOperator, MsgFlashListInstancesOperator
from airflow_provider_msgflash.operators.lookup import MsgFlashNumberLookupOperator

__all__ = [
    "ASYNC_LOOKUP_THRESHOLD",
    "MsgFlashCancelLookupOperator",
    "MsgFlashGetInstanceOperator",
    "MsgFlashImportContactsOperator",
    "MsgFlashListInstancesOperator",
    "MsgFlashLookupFollowerOperator",
    "MsgFlashNumberLookupOperator",
]

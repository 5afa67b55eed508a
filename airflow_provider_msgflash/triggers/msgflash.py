"""Deferrable triggers for MsgFlash: wait for number lookups to finish, or for an instance to be ready.
This is their public import path, and the class path stored with a deferred task.

Triggers only wait: they send GET requests through :class:`~airflow_provider_msgflash.hooks.msgflash.MsgFlashAsyncHook`
and yield one small event. ``serialize()`` holds the connection id and object ids, never a secret, and a
trigger rebuilt from it (after a triggerer restart) simply carries on polling the same objects.
"""

from __future__ import annotations

from airflow_provider_msgflash.triggers.base import MsgFlashBaseTrigger
from airflow_provider_msgflash.triggers.instance import MsgFlashInstanceReadyTrigger
from airflow_provider_msgflash.triggers.lookup import MsgFlashLookupTrigger

__all__ = ["MsgFlashBaseTrigger", "MsgFlashInstanceReadyTrigger", "MsgFlashLookupTrigger"]

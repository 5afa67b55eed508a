"""Sensors for MsgFlash: wait for an instance to be ready, or for a lookup to finish. This is their
public import path (the classes live in :mod:`.instance` and :mod:`.lookup`).

Both poke with the sync hook, or, with ``deferrable=True``, hand the waiting to a trigger.
"""

from __future__ import annotations

from airflow_provider_msgflash.sensors.instance import MsgFlashInstanceReadySensor
from airflow_provider_msgflash.sensors.lookup import MsgFlashLookupSensor

__all__ = ["MsgFlashInstanceReadySensor", "MsgFlashLookupSensor"]

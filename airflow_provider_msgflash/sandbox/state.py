"""The sandbox's state, all in memory: configuration, fault switches, keys, instances, lookups,
contacts and traffic records, with the operations the routes call (they raise
:class:`~airflow_provider_msgflash.sandbox.errors.SandboxError` for API failures).

Everything here runs on the server's event loop thread; nothing is shared with other threads.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_msgflash.sandbox.config import Faults, SandboxConfig
from airflow_provider_msgflash.sandbox.contacts import ContactBook
from airflow_provider_msgflash.sandbox.dialects import parse_dialect
from airflow_provider_msgflash.sandbox.engine import LookupEngine
from airflow_provider_msgflash.sandbox.errors import SandboxError
from airflow_provider_msgflash.sandbox.instances import InstanceRegistry
from airflow_provider_msgflash.sandbox.keys import KeyRing
from airflow_provider_msgflash.sandbox.models import ACTIVE, iso
from airflow_provider_msgflash.sandbox.seeds import SANDBOX_ACCOUNT_ID
from airflow_provider_msgflash.sandbox.traffic import Traffic


class SandboxState:
    """All the sandbox knows. ``reset()`` replaces every part but the configuration (and the fault
    switches, unless asked)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.faults = Faults.from_config(config)
        self.rng = random.Random(config.seed)
        self.dialect: tuple[str, ...] = tuple(config.dialect)
        self._fresh()

    def _fresh(self) -> None:
        self.keys = KeyRing(self.config)
        self.instances = InstanceRegistry(self.config.warmup_delay)
        self.engine = LookupEngine(self.faults)
        self.contacts = ContactBook()
        self.traffic = Traffic(self.faults, self.rng, self.config.request_log_size)
        self.started_at = time.time()

    async def stop(self) -> None:
        await self.engine.stop()

    async def reset(self, faults: bool = False) -> None:
        """Fresh seeded state (keys, instances, no lookups or contacts, counters and logs cleared).
        With ``faults``, the fault switches and the dialect go back to the configuration the sandbox
        started with."""
        await self.engine.stop()
        if faults:
            self.faults = Faults.from_config(self.config)
            self.rng = random.Random(self.config.seed)
            self.dialect = tuple(self.config.dialect)
        self._fresh()

    def set_dialect(self, value: Any) -> tuple[str, ...]:
        """Answer in dialect ``value`` from the next request on; raises ValueError naming a bad name."""
        self.dialect = parse_dialect(value)
        return self.dialect

    def set_faults(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change fault switches (all or nothing); raises ValueError naming a bad one. A new ``pace``
        applies to running lookups too, from their next step."""
        self.faults.update(changes)
        if "pace" in changes:
            self.engine.pace_changed()
        return self.faults.to_dict()

    def create_lookup(self, instance_id: str, numbers: list[str]) -> tuple[int, dict[str, Any]]:
        return self.engine.create(self.instances.get(instance_id), numbers)

    def create_other_lookup(self, ref: str, numbers: list[str]) -> dict[str, Any]:
        """A lookup by another client of the account on instance ``ref`` (id or name): like any other,
        but no fault switch applies to it and no request is logged; its create answer."""
        return self.engine.create(self.instances.find(ref), numbers, origin="other")[1]

    def import_contacts(self, lookup_id: str, tag: str) -> dict[str, Any]:
        lk = self.engine.get(lookup_id)
        if lk.status != "done":
            raise SandboxError(
                409,
                "CONFLICT",
                f"Number lookup {lk.id} is {lk.status}; contacts can be imported only from a done lookup "
                + ("(wait until it is done)." if lk.status in ACTIVE else "(it will never be done)."),
            )
        on = lk.result()["onWhatsApp"]
        imported, existing = self.contacts.import_numbers(on, tag)
        return {
            "lookupId": lk.id,
            "tag": tag,
            "imported": imported,
            "alreadyExisting": existing,
            "skipped": len(lk.numbers) - len(on),
        }

    def me(self) -> dict[str, Any]:
        return {
            "id": SANDBOX_ACCOUNT_ID,
            "name": "MsgFlash sandbox",
            "email": "sandbox@localhost",
            "plan": "sandbox",
            "monthlyRequestQuota": self.faults.monthly_quota,
            "monthlyRequestsUsed": self.traffic.quota_used,
        }

    def summary(self) -> dict[str, Any]:
        """``GET /_sandbox/state``."""
        return {
            "instances": self.instances.summary(),
            "lookups": self.engine.summary(),
            "contacts": len(self.contacts),
            **self.traffic.summary(),
            "faults": self.faults.to_dict(),
            "dialect": list(self.dialect),
            "keys": self.keys.summary(),
            "started_at": iso(self.started_at),
        }

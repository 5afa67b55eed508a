"""The account's contacts: unique by phone, listed with search, sort and cursor paging, and created one
by one or imported from a lookup's on-WhatsApp numbers with a tag."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

from airflow_provider_msgflash.sandbox.errors import SandboxError, not_found
from airflow_provider_msgflash.sandbox.models import Contact
from airflow_provider_msgflash.sandbox.paging import SortKey, page, paged

#: ``sort`` values of ``GET /contacts``: the sort key and whether it is descending.
CONTACT_SORTS: dict[str, tuple[Callable[[Contact], SortKey], bool]] = {
    "-createdAt": (lambda c: ("", c.seq), True),
    "createdAt": (lambda c: ("", c.seq), False),
    "name": (lambda c: (c.name.lower(), c.seq), False),
    "-name": (lambda c: (c.name.lower(), c.seq), True),
    "phone": (lambda c: (c.phone, c.seq), False),
    "-phone": (lambda c: (c.phone, c.seq), True),
}


class ContactBook:
    def __init__(self) -> None:
        self.by_id: dict[str, Contact] = {}
        self.by_phone: dict[str, Contact] = {}
        self._seq = itertools.count(1)

    def __len__(self) -> int:
        return len(self.by_id)

    def _add(self, name: str, phone: str, tags: list[str], meta: Any, now: float) -> Contact:
        c = Contact(str(uuid.uuid4()), next(self._seq), name, phone, tags, meta, now, now)
        self.by_id[c.id] = c
        self.by_phone[phone] = c
        return c

    def create(self, name: str, phone: str, tags: list[str] | None, meta: Any) -> dict[str, Any]:
        if phone in self.by_phone:
            raise SandboxError(409, "CONFLICT", f"A contact with phone {phone} already exists.")
        return self._add(name, phone, list(dict.fromkeys(tags or [])), meta, time.time()).public()

    def import_numbers(self, phones: list[str], tag: str) -> tuple[int, int]:
        """Create a contact (named after its phone) per new phone, tag the existing ones:
        ``(imported, already existing)``."""
        now = time.time()
        imported = existing = 0
        for phone in phones:
            c = self.by_phone.get(phone)
            if c is None:
                self._add(phone, phone, [tag], None, now)
                imported += 1
                continue
            existing += 1
            if tag not in c.tags:
                c.tags.append(tag)
                c.updated_at = now
        return imported, existing

    def get(self, contact_id: str) -> dict[str, Any]:
        c = self.by_id.get(contact_id)
        if c is None:
            raise not_found("Contact", contact_id)
        return c.public()

    def list_page(self, limit: int, cursor: str | None, search: str | None, sort: str) -> dict[str, Any]:
        key, desc = CONTACT_SORTS[sort]
        items = list(self.by_id.values())
        if search:
            needle = search.lower()
            items = [
                c
                for c in items
                if needle in c.name.lower() or needle in c.phone or any(needle in t.lower() for t in c.tags)
            ]
        chosen, nxt = page("contacts" + sort, items, key, desc, cursor, limit)
        listed = paged("contacts", [c.public() for c in chosen], nxt)
        return {"total": len(items), "limit": limit, "sort": sort, **listed}

    def dump(self) -> list[dict[str, Any]]:
        """Every contact, oldest first (admin ``contacts``)."""
        return [c.public() for c in sorted(self.by_id.values(), key=lambda c: c.seq)]

"""Big lookups stream their results: each lookup's result is written to the file as soon as it is
fetched, and nothing keeps every result in memory (what bench_big_lookup.py's memory figure relies on)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow_provider_msgflash.operators._numbers import PreparedNumbers, ResultWriter
from airflow_provider_msgflash.operators.msgflash import MsgFlashNumberLookupOperator


def test_result_writer_file_grows_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    writer = ResultWriter(str(path))
    part = str(path) + ".part"
    sizes = []
    for i in range(3):
        writer.write([f"+4179{i}{n:06d}" for n in range(5_000)], "on_whatsapp", f"lk{i}")
        sizes.append(os.path.getsize(part))
    assert sizes[0] > 0 and sizes[0] < sizes[1] < sizes[2]  # on disk while writing, not at close
    assert not path.exists()  # readers never see a half-written file
    writer.close()
    assert sum(1 for _ in path.open()) == 15_000


class _FakeHook:
    """Hands out one big result per lookup and records how much of the file existed at each fetch."""

    def __init__(self, part: str, per_lookup: int) -> None:
        self.part = part
        self.per_lookup = per_lookup
        self.sizes_at_fetch: list[int] = []

    def get_number_lookup(self, lookup_id: str) -> dict[str, Any]:
        self.sizes_at_fetch.append(os.path.getsize(self.part) if os.path.exists(self.part) else -1)
        base = int(lookup_id[2:]) * self.per_lookup
        nums = [f"+41795{base + i:06d}" for i in range(self.per_lookup)]
        return {
            "id": lookup_id,
            "status": "done",
            "instanceId": "inst",
            "requestedCount": self.per_lookup,
            "normalizedCount": self.per_lookup,
            "checkedCount": self.per_lookup,
            "onWhatsAppCount": self.per_lookup // 2,
            "notOnWhatsAppCount": self.per_lookup - self.per_lookup // 2,
            "invalidCount": 0,
            "result": {
                "onWhatsApp": [n for n in nums if n[-1] in "02468"],
                "notOnWhatsApp": [n for n in nums if n[-1] not in "02468"],
                "invalid": [],
            },
        }


def test_operator_writes_each_lookup_before_fetching_the_next(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    per_lookup, lookups = 10_000, 4
    op = MsgFlashNumberLookupOperator(
        task_id="t", instance_id="inst", numbers=["+41790000000"], result_path=str(path), xcom_numbers_limit=100
    )
    fake = _FakeHook(str(path) + ".part", per_lookup)
    op.__dict__["hook"] = fake  # the cached_property's slot
    ids = [f"lk{i}" for i in range(lookups)]
    prepared = PreparedNumbers(inputs=per_lookup * lookups, to_send=["x"] * (per_lookup * lookups))
    summary = op._finish(ids, {}, "inst", prepared)
    # The file held each earlier lookup's lines before the next result was fetched.
    assert fake.sizes_at_fetch[1] > 0
    assert fake.sizes_at_fetch == sorted(fake.sizes_at_fetch)
    assert len(set(fake.sizes_at_fetch[1:])) == lookups - 1
    # Only counts in XCom: the on-WhatsApp list is dropped past xcom_numbers_limit, not accumulated.
    assert summary["on_whatsapp"] is None
    assert summary["counts"]["checked"] == per_lookup * lookups
    lines = path.read_text().splitlines()
    assert len(lines) == per_lookup * lookups
    assert json.loads(lines[0])["lookup_id"] == "lk0"

"""Results of finished lookups: their counts summed in order, every number streamed to a JSON Lines
file (optional, through :mod:`~airflow_provider_msgflash.storage`), the on-WhatsApp list kept for XCom
while small, and the summary the lookup operator returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from airflow_provider_msgflash.api.lookups import iter_result


class ResultSink(Protocol):
    """Where every number's result goes: :class:`~airflow_provider_msgflash.storage.JsonLinesWriter`."""

    lines: int

    def write(self, numbers: Iterable[str], status: str, lookup_id: str | None, reason: str | None = None) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


#: The summary's counts and the names each has in the API's answers (``requested`` on create,
#: ``requestedCount`` on progress and get).
COUNT_NAMES: dict[str, tuple[str, ...]] = {
    "requested": ("requestedCount", "requested"),
    "normalized": ("normalizedCount", "normalized"),
    "checked": ("checkedCount", "checked"),
    "on_whatsapp": ("onWhatsAppCount",),
    "not_on_whatsapp": ("notOnWhatsAppCount",),
    "invalid": ("invalidCount",),
}


class LookupResults:
    """Collects finished lookups, in order: sums their counts, streams every number to ``writer``
    (when given) and keeps the on-WhatsApp numbers for XCom while there are at most ``xcom_limit``.

    :param writer: where every number's result goes, or None.
    :param xcom_limit: the most on-WhatsApp numbers kept; past it :attr:`on_whatsapp` is None.
    """

    def __init__(self, writer: ResultSink | None, xcom_limit: int) -> None:
        self.writer = writer
        self.xcom_limit = xcom_limit
        self.counts: dict[str, int] = dict.fromkeys(COUNT_NAMES, 0)
        self.on_whatsapp: list[str] | None = []
        self.instance_id: str | None = None

    def __enter__(self) -> LookupResults:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Publish the result file when everything was collected; otherwise remove the partial one."""
        if self.writer is None:
            return
        if exc_type is None:
            self.writer.close()
        else:
            self.writer.abort()

    def add(self, lookup_id: str, data: dict[str, Any]) -> None:
        """Add one finished lookup (the answer of ``GET /number-lookups/{id}``)."""
        self.instance_id = self.instance_id or data.get("instanceId")
        for key, names in COUNT_NAMES.items():
            self.counts[key] += next((data[n] for n in names if isinstance(data.get(n), int)), 0)
        for status, numbers in iter_result(data.get("result")):
            if self.writer:
                self.writer.write(numbers, status, lookup_id)
            if status == "on_whatsapp" and self.on_whatsapp is not None:
                self.on_whatsapp.extend(numbers)
                if len(self.on_whatsapp) > self.xcom_limit:
                    self.on_whatsapp = None

    def add_local_invalid(self, items: Iterable[tuple[str, str]]) -> None:
        """Inputs refused before sending: written to the result file with their reason."""
        if self.writer:
            for number, reason in items:
                self.writer.write([number], "invalid", None, reason)

    def accounted(self) -> int:
        """Numbers the lookups gave a verdict on."""
        return self.counts["on_whatsapp"] + self.counts["not_on_whatsapp"] + self.counts["invalid"]

    def summary(self, lookup_ids: list[str], accounting: dict[str, int], result_path: str | None) -> dict[str, Any]:
        """The lookup operator's XCom summary."""
        counts = dict(self.counts)
        counts["invalid_before_sending"] = accounting["invalid_before_sending"]
        counts["duplicates_removed"] = accounting["duplicates_removed"]
        return {
            "lookup_id": lookup_ids[0],
            "lookup_ids": lookup_ids,
            "instance_id": self.instance_id,
            "status": "done",
            "counts": counts,
            "accounting": accounting,
            "on_whatsapp": self.on_whatsapp,
            "result_path": result_path,
        }

"""Results of finished lookups: their counts summed in order, every number streamed to a JSON Lines
file (optional, through :mod:`~airflow_provider_msgflash.storage`), the on-WhatsApp list kept for XCom
while small, and the summary the lookup operator returns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from airflow_provider_msgflash.api.shapes import (
    LOOKUP_COUNT_NAMES,
    UNEXPECTED_SHAPE,
    keys_of,
    lookup_counts,
    note_shape,
    plus,
)
from airflow_provider_msgflash.exceptions import MsgFlashFinalError

#: The groups of a finished lookup's ``result`` and the status each stands for.
RESULT_GROUPS = (("onWhatsApp", "on_whatsapp"), ("notOnWhatsApp", "not_on_whatsapp"), ("invalid", "invalid"))

#: Fields that may hold the number in a result item given as an object, in the order they are tried.
NUMBER_FIELDS = ("number", "phone", "phoneNumber", "e164", "msisdn", "waNumber")
_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ().-]{5,}$")


def result_number(item: Any) -> str | None:
    """The phone number of one result item: a string, or an object holding it under one of
    :data:`NUMBER_FIELDS` or as its only phone-number-like string; None when there is none."""
    if isinstance(item, str):
        return item
    if not isinstance(item, Mapping):
        return None
    for name in NUMBER_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value:
            return value
    phones = [v for v in item.values() if isinstance(v, str) and _PHONE_LIKE.match(v)]
    return phones[0] if len(phones) == 1 else None


def iter_result(result: Any) -> Iterator[tuple[str, list[str]]]:
    """``(status, numbers)`` pairs from a finished lookup's ``result``, status being ``on_whatsapp``,
    ``not_on_whatsapp`` or ``invalid``. Items are strings, or objects holding the number
    (:func:`result_number`); an item holding no recognisable number raises :class:`MsgFlashFinalError`
    (``UNEXPECTED_SHAPE``) showing it, rather than losing it."""
    if not isinstance(result, Mapping):
        return
    for key, status in RESULT_GROUPS:
        items = result.get(key)
        if not isinstance(items, list):
            continue
        numbers = [result_number(x) for x in items]
        bad = next((x for x, n in zip(items, numbers, strict=True) if n is None), None)
        if bad is not None:
            raise MsgFlashFinalError(
                f"A {key} item of the lookup's result holds no phone number this provider recognises: "
                f"{bad!r:.120}. The lookup itself is fine: read it on GET /api/v1/number-lookups/{{id}} "
                "or the MsgFlash dashboard, and report the shape (see docs/api-assumptions.md).",
                code=UNEXPECTED_SHAPE,
            )
        if any(not isinstance(x, str) for x in items):
            note_shape("GET /number-lookups/{id}", "result items as objects holding the number")
        yield status, [n for n in numbers if n is not None]


def _digits(number: str) -> str:
    d = "".join(ch for ch in number if ch.isdigit())
    return d[2:] if d.startswith("00") else d


def same_numbers(result: Any, numbers: list[str]) -> bool | None:
    """Whether a finished lookup's result holds exactly ``numbers`` (compared by digits): the proof that a
    listed lookup is the one a request created. None when it cannot tell (no result, unreadable items)."""
    if not isinstance(result, Mapping) or not any(isinstance(result.get(k), list) for k, _ in RESULT_GROUPS):
        return None
    try:
        seen = sorted(_digits(n) for _, nums in iter_result(result) for n in nums)
    except MsgFlashFinalError:
        return None
    return seen == sorted(_digits(n) for n in numbers)


class ResultSink(Protocol):
    """Where every number's result goes: :class:`~airflow_provider_msgflash.storage.JsonLinesWriter`."""

    lines: int

    def write(self, numbers: Iterable[str], status: str, lookup_id: str | None, reason: str | None = None) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


#: The summary's counts and the names each has in the API's answers.
COUNT_NAMES = LOOKUP_COUNT_NAMES
#: Counts that a finished lookup's ``result`` lists give too (used when the answer has no counter).
_FROM_RESULT = ("on_whatsapp", "not_on_whatsapp", "invalid")


class LookupResults:
    """Collects finished lookups, in order: sums their counts, streams every number to ``writer``
    (when given) and keeps the on-WhatsApp numbers for XCom while there are at most ``xcom_limit``.

    A count a lookup's answer does not give (nor its ``result`` lists) is unknown: the total is None,
    never a false 0. A finished lookup without a readable ``result`` makes :attr:`on_whatsapp` None
    (unknown), and fails when a result file was asked for (it would be incomplete).

    :param writer: where every number's result goes, or None.
    :param xcom_limit: the most on-WhatsApp numbers kept; past it :attr:`on_whatsapp` is None.
    """

    def __init__(self, writer: ResultSink | None, xcom_limit: int) -> None:
        self.writer = writer
        self.xcom_limit = xcom_limit
        self.counts: dict[str, int | None] = dict.fromkeys(COUNT_NAMES, 0)
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
        """Add one finished lookup (the answer of ``GET /number-lookups/{id}``, or a sync create answer)."""
        self.instance_id = self.instance_id or data.get("instanceId")
        groups = dict(iter_result(data.get("result")))
        if not groups:
            self._no_result(lookup_id, data)
        counts = lookup_counts(data)
        for key in _FROM_RESULT:
            if counts[key] is None and key in groups:
                counts[key] = len(groups[key])
        for key, value in counts.items():
            self.counts[key] = plus(self.counts[key], value)
        for status, numbers in groups.items():
            if self.writer:
                self.writer.write(numbers, status, lookup_id)
            if status == "on_whatsapp" and self.on_whatsapp is not None:
                self.on_whatsapp.extend(numbers)
                if len(self.on_whatsapp) > self.xcom_limit:
                    self.on_whatsapp = None

    def _no_result(self, lookup_id: str, data: dict[str, Any]) -> None:
        where = f"GET /api/v1/number-lookups/{lookup_id}"
        if self.writer:
            raise MsgFlashFinalError(
                f"Lookup {lookup_id} is done but its answer holds no readable result (keys: {keys_of(data)}), "
                f"so result_path would be incomplete. Read it on {where} or the MsgFlash dashboard.",
                code=UNEXPECTED_SHAPE,
            )
        note_shape("GET /number-lookups/{id}", f"a done lookup without a result (keys: {keys_of(data)})")
        self.on_whatsapp = None

    def add_local_invalid(self, items: Iterable[tuple[str, str]]) -> None:
        """Inputs refused before sending: written to the result file with their reason."""
        if self.writer:
            for number, reason in items:
                self.writer.write([number], "invalid", None, reason)

    def accounted(self) -> int | None:
        """Numbers the lookups gave a verdict on (None when a count is unknown)."""
        return plus(plus(self.counts["on_whatsapp"], self.counts["not_on_whatsapp"]), self.counts["invalid"])

    def outcome(self, acc: dict[str, int]) -> tuple[str, str | None]:
        """The log lines of the outcome: what was found, and a warning when the counts do not add up
        (or are unknown), given the operator's ``accounting`` of its inputs."""
        c, accounted = self.counts, self.accounted()
        before = acc["invalid_before_sending"] + acc["duplicates_removed"]
        total = "?" if accounted is None else accounted + before
        line = (
            f"Lookup finished: {c['on_whatsapp']} on WhatsApp, {c['not_on_whatsapp']} not on WhatsApp, "
            f"{c['invalid']} invalid (server) + {acc['invalid_before_sending']} invalid before sending + "
            f"{acc['duplicates_removed']} duplicate(s) = {total} of {acc['inputs']} input(s)."
        )
        unknown = [k for k, v in c.items() if v is None]
        if unknown:
            return line, f"MsgFlash did not give the count(s) {', '.join(unknown)}: they are unknown (None)."
        if accounted != c["requested"] or c["requested"] != acc["sent"]:
            return (
                line,
                f"Counts do not add up: sent {acc['sent']}, MsgFlash requested {c['requested']}, results {accounted}.",
            )
        return line, None

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

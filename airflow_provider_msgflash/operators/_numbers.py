"""Phone-number input for the lookup operator: read, check, normalise, de-duplicate, split, and account
for every input; and stream results to a JSON Lines file.

``phonenumbers`` is imported only when ``normalize=True`` (DAG parsing never pays for it).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_msgflash._api import MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.exceptions import MsgFlashConfigError

_NUMBER_COLUMNS = ("phone", "number", "phone_number", "msisdn", "wa_number", "waNumber")


def _bad(message: str) -> MsgFlashConfigError:
    return MsgFlashConfigError(message, code="BAD_ARGUMENT")


def read_numbers_file(path: str) -> list[str]:
    """Numbers from a file: ``.json`` (a list), ``.csv`` (a ``phone``/``number`` column, else the first
    column) or anything else as text (one number per line; blank lines and ``#`` comments skipped)."""
    if not os.path.isfile(path):
        raise _bad(f"`numbers_file` {path!r} does not exist or is not a file.")
    lower = path.lower()
    with open(path, encoding="utf-8-sig", newline="") as f:
        if lower.endswith(".json"):
            try:
                data = json.load(f)
            except ValueError as e:
                raise _bad(f"`numbers_file` {path!r} is not valid JSON: {e}") from None
            if not isinstance(data, list):
                raise _bad(f"`numbers_file` {path!r} must hold a JSON list of numbers.")
            return data
        if lower.endswith(".csv"):
            rows = list(csv.reader(f))
            if not rows:
                return []
            header = [h.strip() for h in rows[0]]
            col = next((header.index(c) for c in _NUMBER_COLUMNS if c in header), None)
            body = rows[1:] if col is not None else rows
            idx = col if col is not None else 0
            return [r[idx].strip() for r in body if len(r) > idx and r[idx].strip()]
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def load_numbers(numbers: Any, numbers_file: str | None) -> list[Any]:
    """The operator's input list, from ``numbers`` (a list, or a JSON list as a string from a template)
    and/or ``numbers_file``. Items are returned as given; :func:`prepare` checks them."""
    out: list[Any] = []
    if numbers is not None:
        if isinstance(numbers, str):
            text = numbers.strip()
            if text.startswith("["):
                try:
                    numbers = json.loads(text)
                except ValueError:
                    raise _bad(
                        "`numbers` is a string that looks like a list but is not valid JSON; pass a Python "
                        "list, or set render_template_as_native_obj=True on the DAG for templated lists."
                    ) from None
            else:
                raise _bad(
                    f"`numbers` must be a list of phone numbers, got the string {text[:40]!r}. For a file, use "
                    "`numbers_file`; for one number, pass a list of one."
                )
        if isinstance(numbers, dict | set) or not isinstance(numbers, Sequence):
            raise _bad(f"`numbers` must be a list of phone numbers, got {type(numbers).__name__}.")
        out.extend(numbers)
    if numbers_file:
        out.extend(read_numbers_file(numbers_file))
    if numbers is None and not numbers_file:
        raise _bad("Give the numbers to look up: `numbers` (a list) or `numbers_file` (a path).")
    if not out:
        raise _bad(
            "There are no numbers to look up (`numbers`/`numbers_file` is empty). MsgFlash needs 1 to "
            "10,000 numbers per lookup."
        )
    return out


@dataclass
class PreparedNumbers:
    """What will be sent, and what became of every input.

    :ivar to_send: unique numbers to submit, in first-seen order.
    :ivar local_invalid: ``(input, reason)`` for inputs refused before sending (normalize=True only).
    :ivar duplicates: inputs that repeat an earlier one (after normalisation), not sent again.
    """

    inputs: int
    to_send: list[str]
    local_invalid: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0

    def chunks(self, size: int = MAX_NUMBERS_PER_LOOKUP) -> list[list[str]]:
        return [self.to_send[i : i + size] for i in range(0, len(self.to_send), size)]

    def accounting(self) -> dict[str, int]:
        return {
            "inputs": self.inputs,
            "sent": len(self.to_send),
            "invalid_before_sending": len(self.local_invalid),
            "duplicates_removed": self.duplicates,
        }


def prepare(raw: list[Any], *, normalize: bool, default_region: str | None) -> PreparedNumbers:
    """Check every input and, with ``normalize``, turn it into E.164 and drop repeats.

    Without ``normalize`` the numbers are sent as given (MsgFlash normalises and reports invalid
    ones); non-strings are refused either way, naming the first bad index.
    """
    bad = [i for i, n in enumerate(raw) if not isinstance(n, str) or not n.strip()]
    if bad and not normalize:
        i = bad[0]
        raise _bad(
            f"`numbers` must hold non-empty strings; {len(bad)} item(s) do not (first at index {i}: "
            f"{raw[i]!r}, {type(raw[i]).__name__}). Quote numbers as strings in international format, "
            "e.g. '+41791234567', or set normalize=True to have them parsed."
        )
    if not normalize:
        return PreparedNumbers(inputs=len(raw), to_send=[n.strip() for n in raw])

    if default_region is not None and (not isinstance(default_region, str) or len(default_region) != 2):
        raise _bad(f"`default_region` must be a two-letter ISO country code such as 'CH', got {default_region!r}.")
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - depends on the environment
        raise _bad(
            "normalize=True needs the `phonenumbers` package: pip install 'airflow-provider-msgflash[phonenumbers]'."
        ) from None
    region = default_region.upper() if default_region else None
    seen: set[str] = set()
    to_send: list[str] = []
    invalid: list[tuple[str, str]] = []
    duplicates = 0
    for item in raw:
        text = str(item).strip() if isinstance(item, str | int) and not isinstance(item, bool) else ""
        if not text:
            invalid.append((repr(item), "not a phone number"))
            continue
        if text.startswith("00"):
            text = "+" + text[2:]
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as e:
            invalid.append((text, f"unparseable: {e}"))
            continue
        if not phonenumbers.is_valid_number(parsed):
            invalid.append((text, "not a valid number" + ("" if region else " (no default_region for local numbers)")))
            continue
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if e164 in seen:
            duplicates += 1
            continue
        seen.add(e164)
        to_send.append(e164)
    return PreparedNumbers(inputs=len(raw), to_send=to_send, local_invalid=invalid, duplicates=duplicates)


class ResultWriter:
    """Streams lookup results to a JSON Lines file, one line per number, without holding them all.

    Lines: ``{"number", "status": "on_whatsapp"|"not_on_whatsapp"|"invalid", "lookup_id", "reason"?}``.
    The file is written to ``path + ".part"`` and renamed on :meth:`close`, so a reader never sees a
    half-written file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self._tmp = path + ".part"
        self._f: IO[str] | None = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115
        self.lines = 0

    def write(self, numbers: Iterable[str], status: str, lookup_id: str | None, reason: str | None = None) -> None:
        assert self._f is not None
        for n in numbers:
            rec: dict[str, Any] = {"number": n, "status": status, "lookup_id": lookup_id}
            if reason:
                rec["reason"] = reason
            self._f.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self.lines += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
            try:
                os.remove(self._tmp)
            except OSError:
                pass


def iter_result(result: Any) -> Iterator[tuple[str, list[str]]]:
    """``(status, numbers)`` pairs from a lookup's ``result`` object."""
    if not isinstance(result, dict):
        return
    for key, status in (
        ("onWhatsApp", "on_whatsapp"),
        ("notOnWhatsApp", "not_on_whatsapp"),
        ("invalid", "invalid"),
    ):
        items = result.get(key)
        if isinstance(items, list):
            yield status, [str(x) for x in items]

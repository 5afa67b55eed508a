"""Phone numbers going into a lookup: read them (a list, a file), check, normalise, de-duplicate and
split them, and account for every input.

``phonenumbers`` is imported only when ``normalize=True`` (DAG parsing never pays for it).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_msgflash.api.defaults import MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.exceptions import MsgFlashConfigError

#: Error code of an empty input (the lookup operator may skip instead, with ``if_empty="skip"``).
NO_NUMBERS = "NO_NUMBERS"

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
        raise MsgFlashConfigError(
            "There are no numbers to look up (`numbers`/`numbers_file` is empty). MsgFlash needs 1 to "
            "10,000 numbers per lookup; set if_empty='skip' to skip the task on days without numbers.",
            code=NO_NUMBERS,
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


def _refuse_non_strings(raw: list[Any], *, allow_empty: bool) -> None:
    """Numbers must be strings: an int has lost its ``+`` and leading zeros, so it is refused, never
    converted. The message names the first bad index and the fix."""
    bad = [i for i, n in enumerate(raw) if not isinstance(n, str) or (not allow_empty and not n.strip())]
    if bad:
        i = bad[0]
        raise _bad(
            f"`numbers` must hold non-empty strings; {len(bad)} item(s) do not (first at index {i}: "
            f"{raw[i]!r}, {type(raw[i]).__name__}). Quote numbers as strings in international format, "
            "e.g. '+41791234567' (a number written as an int loses its '+' and leading zeros)."
        )


def _normalizer(default_region: str | None) -> Any:
    """``phonenumbers`` and the region, checked (imported only when ``normalize=True``)."""
    if default_region is not None and (not isinstance(default_region, str) or len(default_region) != 2):
        raise _bad(f"`default_region` must be a two-letter ISO country code such as 'CH', got {default_region!r}.")
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - depends on the environment
        raise _bad(
            "normalize=True needs the `phonenumbers` package: pip install 'airflow-provider-msgflash[phonenumbers]'."
        ) from None
    return phonenumbers


def to_e164(phonenumbers: Any, text: str, region: str | None) -> tuple[str | None, str]:
    """``(E.164 number, "")``, or ``(None, why not)``."""
    text = text.strip()
    if not text:
        return None, "empty"
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as e:
        return None, f"unparseable: {e}"
    if not phonenumbers.is_valid_number(parsed):
        return None, "not a valid number" + ("" if region else " (no default_region for local numbers)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), ""


def prepare(raw: list[Any], *, normalize: bool, default_region: str | None) -> PreparedNumbers:
    """Check every input and, with ``normalize``, turn it into E.164 and drop repeats.

    Without ``normalize`` the numbers are sent as given (MsgFlash normalises and reports invalid
    ones). Non-strings are refused either way, naming the first bad index.
    """
    _refuse_non_strings(raw, allow_empty=normalize)
    if not normalize:
        return PreparedNumbers(inputs=len(raw), to_send=[n.strip() for n in raw])
    phonenumbers = _normalizer(default_region)
    region = default_region.upper() if default_region else None
    seen: set[str] = set()
    out = PreparedNumbers(inputs=len(raw), to_send=[])
    for item in raw:
        e164, why = to_e164(phonenumbers, item, region)
        if e164 is None:
            out.local_invalid.append((item.strip() or repr(item), why))
        elif e164 in seen:
            out.duplicates += 1
        else:
            seen.add(e164)
            out.to_send.append(e164)
    return out

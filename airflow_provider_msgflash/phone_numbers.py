"""Phone numbers going into a lookup: take them (a list, a file or an object in storage), check,
normalise, de-duplicate and split them, and account for every input.

``phonenumbers`` is imported only when ``normalize=True`` (DAG parsing never pays for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_msgflash.api.defaults import MAX_NUMBERS_PER_LOOKUP
from airflow_provider_msgflash.arguments import parse_text_value
from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.storage import read_numbers

#: Error code of an empty input (the lookup operator may skip instead, with ``if_empty="skip"``).
NO_NUMBERS = "NO_NUMBERS"


def _bad(message: str) -> MsgFlashConfigError:
    return MsgFlashConfigError(message, code="BAD_ARGUMENT")


def _as_list(numbers: Any) -> list[Any]:
    """``numbers`` as a list: a list or tuple, or its text form as a template renders it (JSON, or
    Python's ``['+41...', ...]``)."""
    if isinstance(numbers, str):
        parsed = parse_text_value(numbers)
        if not isinstance(parsed, list):
            raise _bad(
                f"`numbers` must be a list of phone numbers, got the string {numbers.strip()[:40]!r}. For a file, "
                "use `numbers_file`; for one number, pass a list of one."
            )
        numbers = parsed
    if isinstance(numbers, dict | set | str) or not isinstance(numbers, Sequence):
        raise _bad(f"`numbers` must be a list of phone numbers, got {type(numbers).__name__}.")
    return list(numbers)


def load_numbers(numbers: Any, numbers_file: str | None, conn_id: str | None = None) -> list[Any]:
    """The operator's input list, from ``numbers`` and/or ``numbers_file`` (a local path or an object
    storage URL, read with the Airflow connection ``conn_id``). Items are returned as given;
    :func:`prepare` checks them."""
    if numbers is None and not numbers_file:
        raise _bad("Give the numbers to look up: `numbers` (a list) or `numbers_file` (a path or URL).")
    out = _as_list(numbers) if numbers is not None else []
    if numbers_file:
        out.extend(read_numbers(numbers_file, conn_id))
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

"""The sandbox's deterministic rules: number normalisation, the on-WhatsApp rule, key and tag formats,
pace presets and the key fingerprint used in logs.

Nothing here talks to the network; tests import these functions to predict the sandbox's answers.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterable

#: Lookups of fewer numbers are answered synchronously (200); from this many on, asynchronously (202).
ASYNC_THRESHOLD = 100
#: The most numbers one lookup accepts.
MAX_NUMBERS = 10_000
#: Valid numbers checked per provider batch (async lookups advance one batch per ``pace`` seconds).
BATCH_SIZE = 20

#: ``pace`` presets: seconds per batch of 20 numbers.
PACE_PRESETS: dict[str, float] = {"fast": 0.02, "realistic": 1.0, "instant": 0.0}

PERSONAL_KEY_RE = re.compile(r"^msgf_live_[0-9a-f]{64}$")
TEAM_KEY_PREFIX = "msgf_team_"
TAG_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
_STRIP_RE = re.compile(r"[\s\-.()]")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def normalize_number(raw: str) -> str | None:
    """The E.164 form of ``raw``, or None when it is invalid.

    Spaces (any whitespace), dashes, dots and parentheses are removed; a leading ``00`` becomes ``+``;
    the result is valid when it is ``+`` followed by 8 to 15 digits, the first of them not ``0``.
    ``"0041 79 123-45.67"`` → ``"+41791234567"``; ``"079 123 45 67"`` (no country code) → None.
    """
    if not isinstance(raw, str):
        return None
    s = _STRIP_RE.sub("", raw)
    if s.startswith("00"):
        s = "+" + s[2:]
    return s if E164_RE.match(s) else None


def e164_on_whatsapp(e164: str) -> bool:
    """The sandbox's on-WhatsApp rule, the only place it is written: a valid number is on WhatsApp iff
    its last digit is even. ``e164`` must already be normalised (see :func:`is_on_whatsapp` for raw input)."""
    return e164[-1] in "02468"


def is_on_whatsapp(number: str) -> bool:
    """Whether the sandbox reports ``number`` on WhatsApp: valid and last digit even.

    ``number`` may be raw (it is normalised first); an invalid number is never on WhatsApp.
    """
    e164 = normalize_number(number)
    return e164 is not None and e164_on_whatsapp(e164)


def split_numbers(numbers: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(normalized, invalid)``: the E.164 forms of the valid inputs (in input order, duplicates kept)
    and the invalid inputs as given. ``len(normalized) + len(invalid)`` is the number of inputs."""
    normalized: list[str] = []
    invalid: list[str] = []
    for raw in numbers:
        e164 = normalize_number(raw)
        if e164 is None:
            invalid.append(raw)
        else:
            normalized.append(e164)
    return normalized, invalid


def safety_state_for(score: int) -> str:
    """The ``safetyState`` the sandbox gives a ``safetyScore``: ``healthy`` from 80, ``warning`` from 50,
    else ``at_risk`` (the seeded instances follow it)."""
    return "healthy" if score >= 80 else "warning" if score >= 50 else "at_risk"


def is_valid_tag(tag: object) -> bool:
    """Tags are 1 to 64 characters of letters, digits and ``- _ . :``."""
    return isinstance(tag, str) and TAG_RE.match(tag) is not None


def is_personal_key(key: str) -> bool:
    """``msgf_live_`` followed by 64 lowercase hex characters."""
    return PERSONAL_KEY_RE.match(key) is not None


def is_team_key(key: str) -> bool:
    """Team keys start with ``msgf_team_`` (and have something after it)."""
    return key.startswith(TEAM_KEY_PREFIX) and len(key) > len(TEAM_KEY_PREFIX) and key.isprintable()


def is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def key_fingerprint(key: str | None) -> str | None:
    """A short, non-reversible fingerprint of a key for logs and ``/_sandbox/requests``
    (``"sha256:1a2b3c4d"``); never the key itself."""
    if not key:
        return None
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def parse_pace(value: object) -> float:
    """Seconds per batch of 20 numbers from a preset name (``fast`` 0.02, ``realistic`` 1.0,
    ``instant`` 0) or a number of seconds (``0`` = as fast as possible). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"pace must be a preset ({', '.join(PACE_PRESETS)}) or seconds, got {value!r}")
    if isinstance(value, str):
        name = value.strip().lower()
        if name in PACE_PRESETS:
            return PACE_PRESETS[name]
        try:
            value = float(name)
        except ValueError:
            raise ValueError(
                f"pace must be a preset ({', '.join(PACE_PRESETS)}) or seconds per batch, got {value!r}"
            ) from None
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0 or value > 3600:
        raise ValueError(f"pace must be a preset or a number of seconds from 0 to 3600, got {value!r}")
    return float(value)


def check_host(host: str) -> str:
    """The host the sandbox may listen on: loopback only. Raises ValueError otherwise."""
    h = host.strip().strip("[]").lower()
    if h not in LOOPBACK_HOSTS:
        raise ValueError(f"the sandbox listens on loopback only (127.0.0.1, localhost or ::1), not {host!r}")
    return "127.0.0.1" if h == "localhost" else h

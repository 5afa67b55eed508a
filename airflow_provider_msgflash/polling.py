"""When to poll a lookup's progress, and how to read what it says.

Used by the lookup trigger, whether it runs in the triggerer (deferrable tasks) or inline in a worker
(non-deferrable tasks): one schedule, equally frugal either way.

Every progress call counts against the account's monthly quota and the key's 10 requests/second, so
the schedule predicts the end of a lookup instead of polling on a fixed clock:

- Before any number has been checked, the first poll comes after a quarter of the time a lookup of
  that size takes at the typical pace (20 numbers a second: one provider batch), and never sooner
  than the docs' 2 s. While nothing moves, the pause grows with the time already waited.
- Once numbers have been checked, the pace is measured from the server's own timestamps
  (``createdAt``/``updatedAt`` and the counters at two polls), which is exact for a steady pace,
  and the next poll is placed just after the predicted end. If the lookup is not done then, the
  prediction is made again from the newer figures.
- Pauses never go below ``min_interval`` (2 s by default, as the docs advise) nor above
  ``max_interval``, and never past the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL, PROVIDER_BATCH_SIZE
from airflow_provider_msgflash.api.lookups import parse_time
from airflow_provider_msgflash.exceptions import MsgFlashLookupError
from airflow_provider_msgflash.statuses import LOOKUP_ACTIVE, LOOKUP_TERMINAL

#: The assumed pace before anything is measured (numbers checked per second).
TYPICAL_RATE = 20.0
#: Share of the typical duration waited before the first poll, and its cap in seconds (a service
#: faster than typical is then measured early, not noticed late).
FIRST_POLL_SHARE = 0.25
FIRST_POLL_MAX = 30.0
#: Default longest pause between two polls of one lookup.
DEFAULT_MAX_INTERVAL = 300.0

#: The counters kept from a progress answer (everything else is dropped to keep events small).
COUNT_FIELDS = (
    "requestedCount",
    "normalizedCount",
    "checkedCount",
    "onWhatsAppCount",
    "notOnWhatsAppCount",
    "invalidCount",
)


def lookup_status(progress: Mapping[str, Any]) -> str:
    """The lookup's status, checked against the documented set; an unknown status is an error."""
    status = progress.get("status")
    if status in LOOKUP_TERMINAL or status in LOOKUP_ACTIVE:
        return str(status)
    raise MsgFlashLookupError(
        f"Lookup {progress.get('id')!r} has status {status!r}, which this provider does not know "
        f"(known: {', '.join(sorted(LOOKUP_ACTIVE | LOOKUP_TERMINAL))}).",
        code="UNKNOWN_STATUS",
    )


def small_progress(progress: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a progress answer worth carrying in an event or XCom."""
    out: dict[str, Any] = {"id": progress.get("id"), "status": progress.get("status")}
    for k in COUNT_FIELDS:
        v = progress.get(k)
        if isinstance(v, int):
            out[k] = v
    if progress.get("error"):
        out["error"] = str(progress.get("error"))[:500]
    return out


def describe_progress(progress: Mapping[str, Any]) -> str:
    """One log line's worth: ``processing 45% (checked 120 of 250 valid; 60 on WhatsApp, 3 invalid)``."""
    pct = progress.get("progress")
    pct_s = f" {pct:.0f}%" if isinstance(pct, int | float) else ""
    return (
        f"{progress.get('status')}{pct_s} (checked {progress.get('checkedCount', '?')} of "
        f"{progress.get('normalizedCount', '?')} valid; {progress.get('onWhatsAppCount', '?')} on WhatsApp, "
        f"{progress.get('invalidCount', '?')} invalid)"
    )


@dataclass
class PollSchedule:
    """Decides when to poll one lookup next, from what the previous polls saw.

    :param requested: numbers requested in the lookup.
    :param started_at: local epoch seconds when the lookup was submitted.
    :param min_interval: shortest pause between polls (the docs' 2 s).
    :param max_interval: longest pause between polls.
    :param deadline: local epoch seconds after which no poll is scheduled (None: none).
    """

    requested: int
    started_at: float
    min_interval: float = MIN_POLL_INTERVAL
    max_interval: float = DEFAULT_MAX_INTERVAL
    deadline: float | None = None
    #: (server time of the observation's last update, checked count) for observations with progress.
    _marks: list[tuple[float, int]] = field(default_factory=list)
    _created: float | None = None
    _total: int | None = None
    polls: int = 0

    def observe(self, progress: Mapping[str, Any]) -> None:
        """Record one progress answer."""
        self.polls += 1
        created = parse_time(progress.get("createdAt"))
        if created is not None and self._created is None:
            self._created = created.timestamp()
        total = progress.get("normalizedCount")
        if isinstance(total, int):
            self._total = total
        checked = progress.get("checkedCount")
        updated = parse_time(progress.get("updatedAt"))
        if isinstance(checked, int) and checked > 0 and updated is not None:
            mark = (updated.timestamp(), checked)
            if not self._marks or mark[1] > self._marks[-1][1]:
                self._marks.append(mark)
                del self._marks[:-2]

    def predicted_end(self) -> float | None:
        """Local epoch seconds at which the lookup should finish, or None if nothing is measured."""
        if not self._marks:
            return None
        total = self._total if self._total is not None else self.requested
        last_t, last_c = self._marks[-1]
        if len(self._marks) == 2:
            first_t, first_c = self._marks[0]
            span, done = last_t - first_t, last_c - first_c
        elif self._created is not None:
            span, done = last_t - self._created, last_c
        else:
            return None
        if span <= 0 or done <= 0:
            return None
        rate = done / span
        if len(self._marks) == 1:
            # createdAt→updatedAt also spans the pending phase, so one observation only bounds the
            # pace from below: assume no slower than typical (an early poll just measures it again).
            rate = max(rate, TYPICAL_RATE)
        # Numbers are checked in provider batches: a last partial batch takes a whole batch's time.
        left = max(0, total - last_c)
        left = -(-left // PROVIDER_BATCH_SIZE) * PROVIDER_BATCH_SIZE
        end_server = last_t + left / rate
        # Server timestamps → local clock: the lookup was created (server) when we submitted (local).
        offset = self.started_at - self._created if self._created is not None else time.time() - last_t
        return end_server + offset

    def next_delay(self, now: float | None = None) -> float:
        """Seconds to wait before the next poll."""
        now = time.time() if now is None else now
        elapsed = max(0.0, now - self.started_at)
        end = self.predicted_end()
        if end is not None:
            duration = max(0.0, end - self.started_at)
            # Land just after the predicted end (a little slack for the last batch to be saved).
            delay = end - now + 0.2 + 0.02 * duration
        elif self.polls <= 1:
            typical = self.requested / TYPICAL_RATE
            delay = min(FIRST_POLL_SHARE * typical, FIRST_POLL_MAX) - elapsed
        else:
            delay = 0.25 * elapsed
        delay = min(self.max_interval, max(self.min_interval, delay))
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - now))
        return delay

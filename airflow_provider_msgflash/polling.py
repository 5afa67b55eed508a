"""Every polling loop's pace, in one place: :class:`Poller` (pauses, deadline and failed reads, for every
trigger and every inline wait, with one set of constants) and :class:`PollSchedule` (when to poll a lookup's
progress next), and how to read what a progress answer says.

The lookup trigger uses both, whether it runs in the triggerer (deferrable tasks) or inline in a worker
(non-deferrable tasks): one schedule, equally frugal either way.

Every progress call counts against the account's monthly quota and the key's 10 requests/second, so
the schedule predicts the end of a lookup instead of polling on a fixed clock:

- Before any number has been checked, the first poll comes after a quarter of the time a lookup of
  that size takes at the typical pace (20 numbers a second: one provider batch), and never sooner
  than the docs' 2 s. While nothing moves, the pause grows with the time already waited.
- Once numbers have been checked, the pace is measured from two polls' counters, and the next poll is
  placed just after the predicted end; if the lookup is not done then, the prediction is made again.
- The pace is timed by the server's ``updatedAt`` (the time of the last progress: exact for a steady
  pace), mapped to our clock by an offset measured from the reads (never taken as our time as such:
  the server's clock may be minutes off). When ``updatedAt`` is unusable (missing, moving with each
  read, going backwards, or at odds with our clock), the pace is timed by our own clock at each read.
- While the counter stands still past the predicted end (a stalled lookup), the pause grows with the time
  it has stood still (a tenth of it), and the fast pace returns as soon as it moves.
- Pauses never go below ``min_interval`` (2 s by default, as the docs advise) nor above
  ``max_interval``, and never past the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_msgflash.api.defaults import MIN_POLL_INTERVAL, PROVIDER_BATCH_SIZE
from airflow_provider_msgflash.api.shapes import lookup_error, note_shape, parse_time
from airflow_provider_msgflash.exceptions import MsgFlashError, MsgFlashLookupError
from airflow_provider_msgflash.statuses import LOOKUP_ACTIVE, LOOKUP_TERMINAL

#: The assumed pace before anything is measured (numbers checked per second).
TYPICAL_RATE = 20.0
#: Share of the typical duration waited before the first poll, and its cap in seconds (a service
#: faster than typical is then measured early, not noticed late).
FIRST_POLL_SHARE = 0.25
FIRST_POLL_MAX = 30.0
#: Default longest pause between two polls of one lookup.
DEFAULT_MAX_INTERVAL = 300.0
#: Failed reads in a row (each after the hook's own retries) before a polling loop gives up.
MAX_CONSECUTIVE_ERRORS = 5
#: Default pause between two reads of an instance's state: the readiness sensor and trigger, and the event
#: trigger (which runs for days: one read a minute).
READY_POLL_INTERVAL = 10.0
EVENT_POLL_INTERVAL = 60.0
#: Share of the time nothing has moved waited before the next poll: a lookup still pending, a lookup whose
#: counter stands still past its predicted end (a stall: polls at 1.1x the time stood still, so completion
#: is seen at most a tenth of the stall late).
PENDING_SHARE = 0.25
STALL_SHARE = 0.1
#: Seconds by which the server's and our measures of the time between two polls may differ (the
#: server's ``updatedAt`` lags a read by up to one batch).
CLOCK_TOLERANCE = 5.0

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
    error = lookup_error(progress)
    if error:
        out["error"] = error
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


@dataclass(frozen=True)
class _Read:
    """One progress answer: when we read it (our epoch seconds), its status and counter, and its
    ``updatedAt`` (server epoch seconds, None when absent)."""

    local: float
    status: Any
    checked: int
    server: float | None


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
    polls: int = 0
    #: The last two reads at which the counter had risen (the pace is measured between them).
    _marks: list[_Read] = field(default_factory=list)
    _last: _Read | None = None
    _created: float | None = None  # server clock
    _total: int | None = None
    #: Whether ``updatedAt`` still times the pace, and our clock minus the server's (an upper bound:
    #: the smallest "read time - updatedAt" seen, updatedAt being at or before the read).
    _server_clock: bool = True
    _offset: float | None = None

    def observe(self, progress: Mapping[str, Any], now: float | None = None) -> None:
        """Record one progress answer, read at ``now`` (local epoch seconds; default: the current time)."""
        self.polls += 1
        created, updated = parse_time(progress.get("createdAt")), parse_time(progress.get("updatedAt"))
        if created is not None and self._created is None:
            self._created = created.timestamp()
        total, checked = progress.get("normalizedCount"), progress.get("checkedCount")
        if isinstance(total, int):
            self._total = total
        checked = checked if isinstance(checked, int) else 0
        server = updated.timestamp() if updated is not None else None
        read = _Read(time.time() if now is None else now, progress.get("status"), checked, server)
        if checked > 0 and (not self._marks or checked > self._marks[-1].checked):
            # After a stall the pace before it says nothing of the pace now: measure it again from here. And a
            # lookup found short of where its pace said it would be may have stood still in between: look again
            # soon (a tenth of the time elapsed), before trusting the slower pace.
            expected = self.predicted_end()
            self._marks = [read] if self._stood_still(read.local) else [*self._marks[-1:], read]
            late = expected is not None and read.local > expected
            self._recheck = (
                read.local + max(self.min_interval, STALL_SHARE * (read.local - self.started_at)) if late else None
            )
        self._judge_server_clock(read)
        self._last = read

    def _judge_server_clock(self, read: _Read) -> None:
        """Stop timing by ``updatedAt`` for good when it cannot mean "the time of the last progress"."""
        if not self._server_clock:
            return
        why = _server_clock_problem(read, self._last, self._marks, self._created)
        if why is None and read.server is not None:
            gap = read.local - read.server
            self._offset = gap if self._offset is None else min(self._offset, gap)
            return
        self._server_clock = False
        note_shape("GET /number-lookups/{id}/progress", f"{why}; the pace is timed by our own clock")

    def predicted_end(self) -> float | None:
        """Local epoch seconds at which the lookup should finish, or None if nothing is measured."""
        if not self._marks:
            return None
        offset, at = self._offset if self._server_clock else None, self._at
        last = self._marks[-1]
        if len(self._marks) == 2:
            span, done = at(last) - at(self._marks[0]), last.checked - self._marks[0].checked
        else:
            # From creation to the last progress also spans the pending phase, so one observation only
            # bounds the pace from below: assume no slower than typical (an early poll just measures again).
            since = self._created + offset if offset is not None and self._created is not None else self.started_at
            span, done = at(last) - since, last.checked
        if span <= 0 or done <= 0:
            return None
        rate = done / span if len(self._marks) == 2 else max(done / span, TYPICAL_RATE)
        total = self._total if self._total is not None else self.requested
        # Numbers are checked in provider batches: a last partial batch takes a whole batch's time.
        left = -(-max(0, total - last.checked) // PROVIDER_BATCH_SIZE) * PROVIDER_BATCH_SIZE
        return float(at(last) + left / rate)

    def _at(self, read: _Read) -> float:
        """When ``read``'s progress happened on our clock: its ``updatedAt`` mapped by the measured offset while
        the server's clock is usable, else the time we read it."""
        offset = self._offset if self._server_clock else None
        return read.server + offset if offset is not None and read.server is not None else read.local

    def _stood_still(self, now: float) -> float | None:
        """Seconds the counter has stood still (since its last progress), when ``now`` is well past the predicted
        end (a stall: the landing's slack and one more pause); None otherwise."""
        end = self.predicted_end()
        if end is None:
            return None
        slack = 0.2 + 0.02 * max(0.0, end - self.started_at) + self.min_interval
        return now - self._at(self._marks[-1]) if now > end + slack else None

    def next_delay(self, now: float | None = None) -> float:
        """Seconds to wait before the next poll."""
        now = time.time() if now is None else now
        elapsed = max(0.0, now - self.started_at)
        end = self.predicted_end()
        still = self._stood_still(now)
        if still is not None:
            delay = STALL_SHARE * still
        elif end is not None:
            duration = max(0.0, end - self.started_at)
            # Land just after the predicted end (a little slack for the last batch to be saved).
            delay = end - now + 0.2 + 0.02 * duration
        elif self.polls <= 1:
            typical = self.requested / TYPICAL_RATE
            delay = min(FIRST_POLL_SHARE * typical, FIRST_POLL_MAX) - elapsed
        else:
            delay = PENDING_SHARE * elapsed
        delay = min(self.max_interval, max(self.min_interval, delay))
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - now))
        return delay


def _server_clock_problem(read: _Read, last: _Read | None, marks: list[_Read], created: float | None) -> str | None:
    """Why ``updatedAt`` cannot time the pace, judging the newest read; None when nothing says so."""
    if read.server is None:
        return "no updatedAt"
    if created is not None and (read.server < created or (read.checked > 0 and read.server == created)):
        return "updatedAt not after createdAt though numbers were checked"
    if last is not None and last.server is not None:
        if read.server < last.server:
            return "updatedAt going backwards"
        if read.server != last.server and (read.status, read.checked) == (last.status, last.checked):
            return "updatedAt moving with each read, not with progress"
    if len(marks) == 2 and marks[-1] is read and marks[0].server is not None:
        server_span, local_span = read.server - marks[0].server, read.local - marks[0].local
        if server_span <= 0 or abs(server_span - local_span) > max(CLOCK_TOLERANCE, 0.5 * local_span):
            return f"updatedAt moved {server_span:.1f} s while our clock moved {local_span:.1f} s"
    return None


@dataclass
class Poller:
    """The pace and patience of one polling loop, for every trigger and every inline wait: the pause before
    the next read (never below ``min_pause``, never past ``deadline``), and the failed reads tolerated in a
    row (:data:`MAX_CONSECUTIVE_ERRORS`, each after the hook's own retries), backing off between them.

    :param deadline: local epoch seconds after which no read is scheduled (None: none).
    :param min_pause: shortest pause (the docs' 2 s).
    :param max_pause: longest pause.
    """

    deadline: float | None = None
    min_pause: float = MIN_POLL_INTERVAL
    max_pause: float = DEFAULT_MAX_INTERVAL
    #: Failed reads in a row.
    errors: int = 0

    @property
    def past_deadline(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def pause(self, wanted: float) -> float:
        """``wanted`` seconds, kept between ``min_pause`` and ``max_pause`` and not past the deadline."""
        delay = min(self.max_pause, max(self.min_pause, wanted))
        return delay if self.deadline is None else min(delay, max(0.0, self.deadline - time.time()))

    def succeeded(self) -> None:
        """A read succeeded: the count of failures in a row starts again."""
        self.errors = 0

    def failed(self, error: MsgFlashError) -> float:
        """Count a failed read; return the pause before the next one (``min_pause``, doubling). Raises ``error``
        when no further read can help: it is final, or the :data:`MAX_CONSECUTIVE_ERRORS` th in a row (with the
        2 s minimum, after about 30 s of failed reads)."""
        self.errors += 1
        if not error.retryable or self.errors >= MAX_CONSECUTIVE_ERRORS:
            raise error
        return self.pause(self.min_pause * 2 ** (self.errors - 1))

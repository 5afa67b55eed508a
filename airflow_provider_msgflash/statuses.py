"""The status vocabulary shared by the API layer, the triggers, the operators and the sensors.

Each enum is a ``str`` subclass, so a member compares equal to the plain string the API sends
(``LookupStatus.DONE == "done"``). Events and XCom carry the plain ``.value``, never the enum.
"""

from __future__ import annotations

from enum import Enum


class _StrEnum(str, Enum):
    """``enum.StrEnum`` (Python 3.11+) for Python 3.10 too: ``str(member)`` is its value."""

    def __str__(self) -> str:
        return str(self.value)


class LookupStatus(_StrEnum):
    """A number lookup's status, as ``/number-lookups/{id}/progress`` reports it."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Statuses of a lookup that is still running.
LOOKUP_ACTIVE = frozenset({LookupStatus.PENDING.value, LookupStatus.PROCESSING.value})
#: Statuses a lookup never leaves.
LOOKUP_TERMINAL = frozenset({LookupStatus.DONE.value, LookupStatus.FAILED.value, LookupStatus.CANCELLED.value})


class InstanceStatus(_StrEnum):
    """A WhatsApp instance's connection status; only ``connected`` can look numbers up."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"


INSTANCE_STATUSES = frozenset(s.value for s in InstanceStatus)


class EventStatus(_StrEnum):
    """The ``status`` of an event a MsgFlash trigger yields, as the operators and sensors read it.

    - ``success``: every lookup is done (or the instance is ready);
    - ``failed`` / ``cancelled``: a lookup ended so (the others may still run);
    - ``timeout``: the deadline passed (checked once more first);
    - ``error``: the objects could not be followed (not found, refused key, quota, repeated failures,
      or an unexpected exception inside the trigger).
    """

    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    ERROR = "error"


EVENT_STATUSES = frozenset(s.value for s in EventStatus)

"""Where a limiter's :class:`~._rules.State` lives: in memory (one process) or in a file (every process on
one machine). Each store runs ``fn(state, now)`` atomically and hands back its result; ``now`` is the
store's own clock, the one every user of the store shares.

**The host file's clock is CLOCK_MONOTONIC** (``time.monotonic()``), which every process on one boot
shares and which never jumps: setting the wall clock back or forth (NTP step, a user, a VM resumed)
cannot move a booking. The only way that clock "goes back" is a new boot (a file left in the temp
directory across a reboot): the file records the boot id (Linux) and the monotonic time of its last
write, and a file from another boot, or written "in the future" of this clock, is read as empty.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import uuid
from array import array
from collections.abc import Callable
from typing import TypeVar

from airflow_provider_msgflash.ratelimit._rules import State

try:  # POSIX only; elsewhere the limiter is per process.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
Clock = Callable[[], float]

_MAGIC = b"MFRL"
_VERSION = 2
_PREFIX = struct.Struct("<4sB16sd")  # magic, version, boot id, clock at the last write
_FIELDS = struct.Struct("<dddqI")  # limit, grow_at, hold_until, gen, number of entries


def encode_state(st: State) -> bytes:
    """The state as bytes (the log as native doubles: exact round trips, no parsing)."""
    return _FIELDS.pack(st.limit, st.grow_at, st.hold_until, st.gen, len(st.sent)) + st.sent.tobytes()


def decode_state(data: bytes) -> State | None:
    """The state from :func:`encode_state`'s bytes; None when they are not that (torn, foreign)."""
    if len(data) < _FIELDS.size:
        return None
    limit, grow_at, hold_until, gen, n = _FIELDS.unpack_from(data)
    log = array("d")
    if len(data) != _FIELDS.size + n * log.itemsize:
        return None
    log.frombytes(data[_FIELDS.size :])
    return State(sent=log, limit=limit, gen=gen, grow_at=grow_at, hold_until=hold_until)


def boot_id() -> bytes:
    """This boot's id (Linux), 16 zero bytes elsewhere."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return uuid.UUID(f.read().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)


class MemoryStore:
    """The state in this process's memory, under a lock (threads and event loops of one process)."""

    #: Whether ``run`` may block on I/O (then the async path runs it in a thread).
    blocking = False

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.state = State()
        self._lock = threading.Lock()

    def run(self, fn: Callable[[State, float], T]) -> T:
        with self._lock:
            return fn(self.state, self.clock())


class FileStore:
    """The state in a file under an exclusive ``flock`` (every process on this machine that opens it).

    :param path: the file (created with mode 0600).
    :param clock: the clock (default ``time.monotonic``: shared by all processes, never jumps).
    :param boot: this boot's id (default: read from the kernel).
    """

    blocking = False

    def __init__(self, path: str, clock: Clock = time.monotonic, boot: bytes | None = None) -> None:
        if fcntl is None:  # pragma: no cover
            raise RuntimeError("a host-wide limiter file needs fcntl (POSIX)")
        self.path = path
        self.clock = clock
        self.boot = boot_id() if boot is None else boot
        #: How many times a file from another boot (or unreadable) was read as empty.
        self.resets = 0
        self._lock = threading.Lock()  # flock is per open file: threads need their own lock

    def run(self, fn: Callable[[State, float], T]) -> T:
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                raw = _read_all(fd)
                now = self.clock()
                st, valid = self._load(raw, now)
                before = encode_state(st)
                result = fn(st, now)
                after = encode_state(st)
                if after != before or not valid:
                    data = _PREFIX.pack(_MAGIC, _VERSION, self.boot, now) + after
                    os.pwrite(fd, data, 0)
                    os.ftruncate(fd, len(data))
                return result
            finally:
                os.close(fd)  # also releases the flock

    def _load(self, raw: bytes, now: float) -> tuple[State, bool]:
        """The file's state and whether the file held a valid one."""
        if not raw:
            return State(), False
        st = None
        if len(raw) >= _PREFIX.size:
            magic, version, boot, written = _PREFIX.unpack_from(raw)
            # Another boot, or a clock behind the last write (only another boot does that): stale.
            if magic == _MAGIC and version == _VERSION and boot == self.boot and written <= now + 1.0:
                st = decode_state(raw[_PREFIX.size :])
        if st is None:
            self.resets += 1
            return State(), False
        return st, True


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)

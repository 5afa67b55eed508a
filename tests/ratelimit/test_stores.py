"""The host file: a clock that cannot jump, a state from another boot read as empty, a torn file survived,
and the registry that names files and limiters by a key's fingerprint only."""

from __future__ import annotations

import os
import time

import pytest

from airflow_provider_msgflash import ratelimit
from airflow_provider_msgflash.ratelimit import (
    FileStore,
    KeyRateLimiter,
    Policy,
    State,
    book,
    decode_state,
    encode_state,
    key_fingerprint,
    limiter_for,
)
from tests.hooks.msgflash_hookkit import personal_key
from tests.ratelimit.ratelimit_kit import FakeClock, busiest

POL = Policy(rate=10)
BOOT_A, BOOT_B = b"A" * 16, b"B" * 16


def book_n(store: FileStore, n: int) -> list[float]:
    return [store.run(lambda st, now: book(st, POL, now)) for _ in range(n)]


def test_the_state_round_trips_exactly() -> None:
    st = State(limit=7.25, gen=3, grow_at=12.5, hold_until=13.0)
    for _ in range(50):
        book(st, POL, 1000.0)
    again = decode_state(encode_state(st))
    assert again == st
    assert decode_state(encode_state(st)[:-3]) is None  # torn


def test_setting_the_wall_clock_back_moves_no_booking(tmp_path, monkeypatch) -> None:
    store = FileStore(str(tmp_path / "k.state"))  # the real monotonic clock
    first = book_n(store, 30)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 3600)  # NTP steps the clock back an hour
    later = book_n(store, 30)
    monkeypatch.setattr(time, "time", lambda: real_time() + 86400)  # and a day forward
    last = book_n(store, 30)
    slots = first + later + last
    assert slots == sorted(slots)
    assert busiest(slots, POL.window(10)) == 10
    assert slots[-1] - slots[0] >= 8 * POL.window(10)  # one chain of nine windows
    assert store.resets == 0


def test_a_file_from_another_boot_is_read_as_empty(tmp_path) -> None:
    path = str(tmp_path / "k.state")
    clock = FakeClock(start=500_000.0)  # a long uptime
    book_n(FileStore(path, clock=clock, boot=BOOT_A), 100)  # ten seconds of bookings ahead
    clock.now = 30.0  # rebooted: the monotonic clock started again
    after = FileStore(path, clock=clock, boot=BOOT_B)
    assert book_n(after, 1) == [30.0]  # not ~500,000 s in the future
    assert after.resets == 1
    assert book_n(after, 1) == [30.0]  # and the file is this boot's now
    assert after.resets == 1


def test_without_a_boot_id_a_clock_behind_the_last_write_means_another_boot(tmp_path) -> None:
    path = str(tmp_path / "k.state")
    clock = FakeClock(start=500_000.0)
    store = FileStore(path, clock=clock, boot=bytes(16))
    book_n(store, 100)
    clock.now = 30.0
    assert book_n(store, 1) == [30.0]
    assert store.resets == 1


def test_a_long_queue_is_never_mistaken_for_a_clock_jump(tmp_path) -> None:
    clock = FakeClock()
    store = FileStore(str(tmp_path / "k.state"), clock=clock, boot=BOOT_A)
    slots = book_n(store, 3000)  # 312 s of bookings ahead of "now"
    clock.now += 100.0
    slots += book_n(store, 10)
    assert slots[-1] == pytest.approx(1000.0 + 300 * POL.window(10))
    assert store.resets == 0


@pytest.mark.parametrize("junk", [b"", b"1700000000.123 1700000000.456", b"MFRL\x02" + b"\x00" * 40])
def test_a_torn_or_foreign_file_starts_afresh(tmp_path, junk) -> None:
    path = tmp_path / "k.state"
    path.write_bytes(junk)
    clock = FakeClock()
    store = FileStore(str(path), clock=clock, boot=BOOT_A)
    assert book_n(store, 11)[-1] == pytest.approx(1000.0 + POL.window(10))
    assert FileStore(str(path), clock=clock, boot=BOOT_A).run(lambda st, now: len(st.sent)) == 11


def test_limiter_for_shares_per_key_and_rate_and_knows_keys_by_fingerprint_only() -> None:
    k1, k2 = personal_key(), personal_key()
    a = limiter_for(k1, 10)
    assert limiter_for(k1, 10) is a
    assert limiter_for(k1, 10.0) is a
    assert limiter_for(k2, 10) is not a
    assert limiter_for(k1, 5) is not a
    assert limiter_for(k1, 5).rate == 5
    assert limiter_for(k1, 0).rate == 0
    assert limiter_for(k1, 10, scope="process") is not a
    assert limiter_for(k1, 10, scope="process").shared_file is None
    # Host scope: a file every process on the machine shares, named by the fingerprint, mode 0600.
    assert a.shared_file and key_fingerprint(k1) in a.shared_file and k1 not in a.shared_file
    a.reserve()
    assert os.stat(a.shared_file).st_mode & 0o777 == 0o600
    with open(a.shared_file, "rb") as f:
        assert k1.encode() not in f.read()
    assert not any(k1 in repr(k) for k in ratelimit._registry)
    assert k1 not in repr(vars(a))
    assert key_fingerprint(k1) != key_fingerprint(k2) and len(key_fingerprint(k1)) == 12


def test_two_limiters_on_one_file_are_one_limit(tmp_path) -> None:
    path, clock = str(tmp_path / "k.state"), FakeClock()
    a, b = (KeyRateLimiter(10, store=FileStore(path, clock=clock)) for _ in range(2))  # two "processes"
    slots = [clock.now + (a if i % 2 else b).reserve() for i in range(200)]
    assert busiest(slots, a.window) == 10
    assert max(slots) - clock.now == pytest.approx(19 * a.window)

"""Scenario 99 (runs last): no API key used by any connection appears in any file under the Airflow
home (task logs, trigger logs, component logs), in the XCom table, in the trigger table (decrypted, and
as seen while tasks were deferred), or anywhere else in the metadata database (where the connection
table holds it only encrypted)."""

from __future__ import annotations

import contextlib
import time

import pytest
from cryptography.fernet import Fernet, InvalidToken

from tests.e2e._stack import TERMINAL_RUN

pytestmark = pytest.mark.e2e


def _secrets(keys: list[str]) -> list[str]:
    """Each key, and its secret part without the public prefix."""
    out = set(keys)
    for k in keys:
        for prefix in ("msgf_live_", "msgf_team_"):
            if k.startswith(prefix):
                out.add(k[len(prefix) :])
    return sorted(out)


def test_no_api_key_in_logs_xcom_or_triggers(e2e, background: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    airflow = e2e.airflow
    client = airflow.client
    # Everything launched must be finished (bounded); keep what the trigger table holds meanwhile.
    deadline = time.monotonic() + 300
    for dag_id, run_id in background.items():
        while client.dag_run(dag_id, run_id)["state"] not in TERMINAL_RUN:
            assert time.monotonic() < deadline, f"{dag_id} {run_id} did not finish"
            airflow.snapshot_triggers()
            time.sleep(1)

    needles = _secrets(e2e.keys)
    assert len(e2e.keys) >= 4

    # 1. Files: task logs (every try), trigger logs, component logs, configuration.
    hits = []
    scanned = 0
    for path in airflow.home.rglob("*"):
        if not path.is_file() or path.name.startswith("airflow.db"):
            continue
        data = path.read_bytes()
        scanned += 1
        hits += [f"{path.relative_to(airflow.home)}: {n[:14]}..." for n in needles if n.encode() in data]
    assert not hits, hits
    task_logs = list((airflow.home / "logs").rglob("attempt=*.log*"))
    assert len(task_logs) >= 10, f"only {len(task_logs)} task logs: did the runs happen?"

    fernet = Fernet(e2e.fernet_key.encode())

    def decrypted(value: object) -> str:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        with contextlib.suppress(InvalidToken, ValueError):
            return fernet.decrypt(text.encode()).decode("utf-8", "replace")
        return text

    # 2. Trigger kwargs: those seen while tasks were deferred, and what is left now.
    with contextlib.closing(airflow.db()) as con:
        cols = [c[1] for c in con.execute("PRAGMA table_info(trigger)")]
        now = [tuple(zip(cols, row, strict=True)) for row in con.execute("select * from trigger")]
        snapshots = airflow.trigger_snapshots + now
        trigger_texts = [" ".join(f"{k}={decrypted(v) if k == 'kwargs' else v}" for k, v in row) for row in snapshots]
        assert any("MsgFlashLookupTrigger" in t and "msgflash_conn_id" in t for t in trigger_texts), (
            "no lookup trigger row was ever seen: the check below would prove nothing"
        )
        assert not [t for t in trigger_texts if any(n in t for n in needles)]

        # 3. XCom values.
        xcoms = [str(v) for (v,) in con.execute("select value from xcom")]
        assert any("lookup_id" in x for x in xcoms), "no lookup summary in XCom: nothing to check"
        assert not [x for x in xcoms if any(n in x for n in needles)]

        # 4. Every text/blob cell of every table. The connection table is where Airflow keeps a
        # connection created through the REST API (scenario 7): there the key must be encrypted at rest.
        leaks = []
        tables = [t for (t,) in con.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in con.execute(f'select * from "{table}"'):
                for cell in row:
                    if isinstance(cell, str | bytes):
                        text = cell.decode("utf-8", "replace") if isinstance(cell, bytes) else cell
                        text = text if table == "connection" else decrypted(cell)
                        leaks += [f"{table}: {n[:14]}..." for n in needles if n in text]
        assert not leaks, leaks
    print(f"\nsecrets clean: {scanned} files, {len(snapshots)} trigger rows, {len(xcoms)} xcoms")

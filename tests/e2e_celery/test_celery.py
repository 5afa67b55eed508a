"""The example DAG on Airflow's CeleryExecutor, two hosts, one key (issue 23).

One batch: ``RUNS`` runs of ``msgflash_lookup_and_import`` triggered at once, all on the sandbox's one key,
whose limit is kept in Redis (the deployment guide's configuration). As soon as a ``lookup_numbers`` task is
running on a host, that host's worker is SIGKILLed with every process under it; the other host carries on.
The tests then read the batch:

- every run green; one lookup per run, created once (no duplicate), no run reading another's lookup;
- at most 5 % of the sandbox's answers are 429 (its request log);
- the killed task was retried on the other host and resumed its own lookup (kept in its task state), never a
  lookup found in the list (another run's: same numbers);
- the readiness sensors never took a worker slot (started and ended in the triggerer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e._celery_stack import alive
from tests.e2e._shared import EXAMPLE_DAG
from tests.e2e._stack import TERMINAL_RUN
from tests.e2e_celery.conftest import HOSTS, Celery

pytestmark = pytest.mark.e2e

RUNS = 5
MAX_429_SHARE = 0.05


@dataclass
class Batch:
    run_ids: list[str]
    killed_host: str
    killed_run: str
    killed_pids: set[int]
    tis: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    hosts_seen: dict[str, set[str]] = field(default_factory=dict)
    wall: float = 0.0


def _kill_a_running_lookup(c: Celery, run_ids: list[str], hosts_seen: dict[str, set[str]]) -> tuple[str, str, set]:
    """Poll the runs' lookup tasks; SIGKILL the worker of the first one seen running. (host, run id, pids)"""
    client = c.airflow.client
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for run_id in run_ids:
            ti = client.ti(EXAMPLE_DAG, run_id, "lookup_numbers")
            host = ti.get("hostname") or ""
            if host:
                hosts_seen[run_id].add(host)
            if ti.get("state") == "running" and host in HOSTS:
                return host, run_id, c.airflow.kill_host(host)
        time.sleep(0.2)
    raise AssertionError("no lookup task was seen running on a worker within 180 s")


@pytest.fixture(scope="module")
def batch(celery: Celery) -> Batch:
    client = celery.airflow.client
    t0 = time.monotonic()
    run_ids = [client.trigger(EXAMPLE_DAG) for _ in range(RUNS)]
    hosts_seen: dict[str, set[str]] = {r: set() for r in run_ids}
    host, killed_run, pids = _kill_a_running_lookup(celery, run_ids, hosts_seen)
    b = Batch(run_ids, host, killed_run, pids, hosts_seen=hosts_seen)
    deadline = time.monotonic() + 420
    pending = set(run_ids)
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            ti = client.ti(EXAMPLE_DAG, run_id, "lookup_numbers")
            if ti.get("hostname"):
                hosts_seen[run_id].add(ti["hostname"])
            if client.dag_run(EXAMPLE_DAG, run_id).get("state") in TERMINAL_RUN:
                pending.discard(run_id)
        time.sleep(1.0)
    b.wall = time.monotonic() - t0
    b.tis = {r: client.task_instances(EXAMPLE_DAG, r) for r in run_ids}
    print(
        f"\ne2e_celery: {RUNS} runs in {b.wall:.0f} s; killed {host} (pids {sorted(pids)}) while running "
        f"lookup_numbers of {killed_run}; hosts per run's lookup task: {hosts_seen}"
    )
    return b


def test_every_run_green_with_its_own_single_lookup(celery: Celery, batch: Batch) -> None:
    states = {r: {t: ti["state"] for t, ti in tis.items()} for r, tis in batch.tis.items()}
    assert all(s == dict.fromkeys(s, "success") for s in states.values()), states
    sb = celery.sandbox
    lookups = {x["id"] for x in sb.state()["lookups"]}
    creates = [r for r in sb.requests(limit=20_000) if r["method"] == "POST" and r["route"].endswith("/number-lookups")]
    assert len(lookups) == RUNS, lookups  # lookups = runs
    assert len([r for r in creates if r["status"] < 300]) == RUNS, creates  # each created once: no duplicate
    used = [celery.airflow.client.xcom(EXAMPLE_DAG, r, "lookup_numbers")["lookup_ids"] for r in batch.run_ids]
    assert all(len(ids) == 1 for ids in used), used
    assert sorted(ids[0] for ids in used) == sorted(lookups), used  # no run reads another run's lookup
    # Every run imports the same 125 numbers found on WhatsApp: each becomes a contact once, whichever run is first.
    imported = [celery.airflow.client.xcom(EXAMPLE_DAG, r, "import_contacts")["imported"] for r in batch.run_ids]
    assert sum(imported) == 125 and sb.state()["contacts"] == 125, imported


def test_one_key_shared_through_redis_stays_under_its_limit(celery: Celery, batch: Batch) -> None:
    answers = celery.sandbox.requests(limit=20_000)
    n429 = sum(1 for r in answers if r["status"] == 429)
    print(f"\ne2e_celery: {len(answers)} answers, {n429} of them 429 ({n429 / max(1, len(answers)):.1%})")
    assert len(answers) >= RUNS * 8, "too few requests to judge"
    assert n429 <= MAX_429_SHARE * len(answers), f"{n429} of {len(answers)} answers were 429"


def test_a_killed_host_s_lookup_task_resumes_its_own_lookup_elsewhere(celery: Celery, batch: Batch) -> None:
    assert not any(alive(p) for p in batch.killed_pids), "a process of the killed worker survived"
    client = celery.airflow.client
    ti = batch.tis[batch.killed_run]["lookup_numbers"]
    survivor = next(h for h in HOSTS if h != batch.killed_host)
    assert ti["try_number"] == 2, ti  # the killed try failed (heartbeat timeout), the retry succeeded
    assert ti["hostname"] == survivor, ti
    lookup_id = client.xcom(EXAMPLE_DAG, batch.killed_run, "lookup_numbers")["lookup_id"]
    log1 = client.log(EXAMPLE_DAG, batch.killed_run, "lookup_numbers", 1)
    log2 = client.log(EXAMPLE_DAG, batch.killed_run, "lookup_numbers", 2)
    assert "reusing lookup" not in log2.lower(), log2[-3000:]  # never adopted from the list
    if f"Submitted lookup {lookup_id}" in log1:  # killed after submitting: the retry resumes that lookup
        assert f"Resuming lookup {lookup_id}" in log2, log2[-3000:]
    else:  # killed before submitting: the retry submits it (still one lookup per run, checked above)
        assert f"Submitted lookup {lookup_id}" in log2, log2[-3000:]


def test_readiness_sensors_never_take_a_worker_slot(celery: Celery, batch: Batch) -> None:
    workers = [f"worker-{h}" for h in HOSTS]
    for run_id, tis in batch.tis.items():
        sensor = tis["instance_ready"]
        assert sensor["queued_when"] is None and not sensor["hostname"], sensor
        assert celery.airflow.lines_about(EXAMPLE_DAG, run_id, "instance_ready", [*workers, "scheduler"]) == []
        assert celery.airflow.lines_about(EXAMPLE_DAG, run_id, "lookup_numbers", workers), "no worker log names"

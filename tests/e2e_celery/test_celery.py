"""The example DAG on Airflow's CeleryExecutor, two hosts, one key (issue 23).

One batch: ``RUNS`` runs of ``msgflash_lookup_and_import`` triggered at once, all on the sandbox's one key,
whose limit is kept in Redis (the deployment guide's configuration). As soon as a ``lookup_numbers`` task is
running on a host, before it defers, that host's worker is SIGKILLed with every process under it; the host
comes back (a new worker); then the host running another run's lookup task resumed after its deferral is
killed the same way. The tests then read the batch:

- every run green; one lookup per run, created once (no duplicate), no run reading another's lookup;
- at most 5 % of the sandbox's answers are 429 (its request log);
- each killed task was retried and went on with its own lookup: resumed from its task state when the killed try
  had submitted it, submitted when it had not; never a lookup found in the list (another run's: same numbers);
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
class Kill:
    """One worker killed while a lookup task ran on it: before deferring (its first part) or after (resumed)."""

    host: str
    run_id: str
    resumed: bool
    pids: set[int]


@dataclass
class Batch:
    run_ids: list[str]
    kills: list[Kill]
    tis: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    hosts_seen: dict[str, set[str]] = field(default_factory=dict)
    wall: float = 0.0


class Watch:
    """The runs' lookup tasks, read in one request: their states so far and the hosts they ran on."""

    def __init__(self, c: Celery, run_ids: list[str]) -> None:
        self.c, self.run_ids = c, run_ids
        self.hosts: dict[str, set[str]] = {r: set() for r in run_ids}
        self.deferred: set[str] = set()

    def lookups(self) -> dict[str, dict[str, Any]]:
        data = self.c.airflow.client.call(
            "GET", f"/api/v2/dags/{EXAMPLE_DAG}/dagRuns/~/taskInstances", params={"limit": 100}
        )
        tis = {t["dag_run_id"]: t for t in data["task_instances"] if t["task_id"] == "lookup_numbers"}
        for run_id, ti in tis.items():
            if ti.get("hostname") and run_id in self.hosts:
                self.hosts[run_id].add(ti["hostname"])
            if ti.get("state") == "deferred":
                self.deferred.add(run_id)
        return tis

    def kill_when_running(self, resumed: bool, spare: set[str]) -> Kill:
        """SIGKILL the worker of the first lookup task seen running on try 1, in its first part (``resumed``
        False) or resumed after its deferral; not in the runs of ``spare``."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            for run_id, ti in self.lookups().items():
                host = ti.get("hostname") or ""
                if run_id in spare or ti.get("state") != "running" or ti.get("try_number") != 1 or host not in HOSTS:
                    continue
                if (run_id in self.deferred) == resumed:
                    return Kill(host, run_id, resumed, self.c.airflow.kill_host(host))
            time.sleep(0.1)
        raise AssertionError(f"no lookup task seen running ({'resumed' if resumed else 'first part'}) within 180 s")


@pytest.fixture(scope="module")
def batch(celery: Celery) -> Batch:
    client = celery.airflow.client
    t0 = time.monotonic()
    run_ids = [client.trigger(EXAMPLE_DAG) for _ in range(RUNS)]
    watch = Watch(celery, run_ids)
    first = watch.kill_when_running(resumed=False, spare=set())
    celery.airflow.start_worker(first.host)  # the host comes back (a new worker process, an empty slot list)
    second = watch.kill_when_running(resumed=True, spare={first.run_id})
    b = Batch(run_ids, [first, second], hosts_seen=watch.hosts)
    deadline = time.monotonic() + 420
    pending = set(run_ids)
    while pending and time.monotonic() < deadline:
        watch.lookups()
        pending = {r for r in pending if client.dag_run(EXAMPLE_DAG, r).get("state") not in TERMINAL_RUN}
        time.sleep(1.0)
    b.wall = time.monotonic() - t0
    b.tis = {r: client.task_instances(EXAMPLE_DAG, r) for r in run_ids}
    kills = "; ".join(f"{k.host} ({len(k.pids)} processes) under {k.run_id}, resumed={k.resumed}" for k in b.kills)
    print(f"\ne2e_celery: {RUNS} runs in {b.wall:.0f} s; killed {kills}; hosts per lookup task: {watch.hosts}")
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


def test_a_killed_host_s_lookup_task_resumes_its_own_lookup(celery: Celery, batch: Batch) -> None:
    client = celery.airflow.client
    for kill in batch.kills:
        assert not any(alive(p) for p in kill.pids), f"a process of the killed worker {kill.host} survived"
        ti = batch.tis[kill.run_id]["lookup_numbers"]
        assert ti["try_number"] == 2, ti  # the killed try failed (heartbeat timeout), the retry succeeded
        lookup_id = client.xcom(EXAMPLE_DAG, kill.run_id, "lookup_numbers")["lookup_id"]
        log1 = client.log(EXAMPLE_DAG, kill.run_id, "lookup_numbers", 1)
        log2 = client.log(EXAMPLE_DAG, kill.run_id, "lookup_numbers", 2)
        assert "reusing lookup" not in log2.lower(), log2[-3000:]  # never adopted from the list
        if kill.resumed or f"Submitted lookup {lookup_id}" in log1:  # try 1 submitted: the retry resumes it
            assert f"Submitted lookup {lookup_id}" in log1, log1[-3000:]
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

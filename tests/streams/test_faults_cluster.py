"""Fault test: one broker of a three-node cluster killed mid-stream (see test_faults.py)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from faults import N_REPORTS, RUNS, Feeder, audit_agrees, free_ports, stream
from test_worker import encode_stream, wait_for_tables

from schemas.topics import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("run", RUNS)
def test_one_broker_of_three_killed_mid_stream(tmp_path: Path, unique_name, worker_factory, run: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Replication 3, min ISR 2: a node SIGKILLed mid-stream loses nothing acknowledged, doubles nothing."""
    from deploy.local.broker import LocalCluster

    base = free_ports(6)
    cluster = LocalCluster(tmp_path / "cluster", size=3, base_port=base, heap="384m")
    cluster.start()
    try:
        bootstrap = cluster.bootstrap
        admin = cluster.admin_credentials()  # this cluster is secured with its own secrets: log in as its admin
        if admin is not None:
            monkeypatch.setenv("CSHUB_PRINCIPAL", admin.principal)
            monkeypatch.setenv("CSHUB_PASSWORD_FILE", str(cluster.secrets.path(admin.principal)))
        names = TopicNames(unique_name("f8b"))
        records, truth = stream(seed=8400 + run, n=N_REPORTS // 2)
        worker = worker_factory(bootstrap, names.root, CSHUB_REPLICATION="3")
        worker.start()
        worker.wait_ready(120)
        feeder = Feeder(bootstrap, encode_stream(names, records), chunk=1000).start()
        time.sleep(random.Random(run).uniform(2.0, 5.0))
        victim = cluster.nodes[1 + run % 2]  # a node that is not the clients' first bootstrap address
        cluster.stop_node(victim, kill=True)
        feeder.join()
        assert worker.alive(), worker.log_tail()
        wait_for_tables(bootstrap, names, truth, [worker], timeout_s=180)
        audit_agrees(bootstrap, names)
    finally:
        cluster.stop()

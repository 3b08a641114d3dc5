"""The local broker (deploy/local): idempotent start, data kept across restarts, clusters, clean stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from deploy.local.broker import BrokerError, LocalCluster
from schemas.kafka_config import KafkaConnection, kafka_python_config

pytestmark = pytest.mark.integration

BASE = int(os.environ.get("CSHUB_TEST_BROKER_PORT", "19092"))
"""This run's ports are BASE..BASE+19 (the session broker has BASE, BASE+1): never another engineer's."""


def _conn(cluster: LocalCluster, bootstrap: str | None = None) -> KafkaConnection:
    """The cluster's admin (its own secrets folder: each test cluster is formatted with its own users)."""
    admin = cluster.admin_credentials()
    assert admin is not None
    return KafkaConnection(bootstrap or cluster.bootstrap, admin.principal, cluster.secrets.path(admin.principal))


def _produce(bootstrap: KafkaConnection, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(**kafka_python_config(bootstrap, client_id="cshub-test"), acks="all")
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()


def _read_all(bootstrap: KafkaConnection, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(**kafka_python_config(bootstrap, client_id="cshub-test"), enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    values = []
    while consumer.position(tp) < end:
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(r.value for r in records)
    consumer.close()
    return values


def test_start_is_idempotent_and_data_survives_a_restart(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "b", base_port=BASE + 14)
    cluster.start()
    try:
        first_pid = cluster.pid(cluster.nodes[0])
        cluster.start()  # already running: leaves it alone
        assert cluster.pid(cluster.nodes[0]) == first_pid
        _produce(_conn(cluster), "kept", ["社区服务".encode(), b"two"])
        cluster.stop()
        assert cluster.pid(cluster.nodes[0]) is None
        assert not any(answers for _, _, answers in cluster.status())
        cluster.start()
        assert cluster.pid(cluster.nodes[0]) != first_pid
        assert _read_all(_conn(cluster), "kept") == ["社区服务".encode(), b"two"]
    finally:
        cluster.stop()


def test_stop_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        cluster = LocalCluster(tmp_path / "c", base_port=BASE + 16)
        cluster.nodes[0].home.mkdir(parents=True)
        cluster.nodes[0].pid_file.write_text(str(stranger.pid))  # a stale pid file naming someone else
        cluster.stop()
        assert stranger.poll() is None, "stop() killed a process that is not its broker"
    finally:
        stranger.kill()
        stranger.wait()


def test_port_taken_by_another_broker_is_a_clear_error(tmp_path: Path, kafka_bootstrap: str) -> None:
    port = int(kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])
    intruder = LocalCluster(tmp_path / "d", base_port=port)
    try:
        with pytest.raises(BrokerError, match=f"port {port} is taken"):
            intruder.start()
    finally:
        intruder.stop()


def test_three_node_cluster_replicates_and_survives_one_node_down(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "three", size=3, base_port=BASE + 8, heap="384m")
    cluster.start()
    try:
        admin = KafkaAdminClient(**kafka_python_config(_conn(cluster), client_id="cshub-test"))
        admin.create_topics([NewTopic("replicated", num_partitions=1, replication_factor=3,
                                      topic_configs={"min.insync.replicas": "2"})])
        admin.close()
        _produce(_conn(cluster), "replicated", [b"before"])
        cluster.stop_node(cluster.nodes[2], kill=True)
        live = _conn(cluster, ",".join(n.bootstrap for n in cluster.nodes[:2]))
        _produce(live, "replicated", [b"while-one-down"])
        assert _read_all(live, "replicated") == [b"before", b"while-one-down"]
    finally:
        cluster.stop()


def test_cli_start_status_stop(tmp_path: Path) -> None:
    cshub = [sys.executable, "-m", "cshub.cli", "broker"]
    where = ["--home", str(tmp_path / "cli"), "--port", str(BASE + 16)]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "CSHUB_HOME": str(tmp_path / "hub")}  # its secrets go there
    assert subprocess.run([*cshub, "status", *where], env=env, capture_output=True).returncode == 3
    started = subprocess.run([*cshub, "start", *where], env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"up at 127.0.0.1:{BASE + 16}" in started.stdout
        status = subprocess.run([*cshub, "status", *where], env=env, capture_output=True, text=True)
        assert status.returncode == 0 and "running" in status.stdout
    finally:
        stopped = subprocess.run([*cshub, "stop", *where], env=env, capture_output=True, text=True)
    assert stopped.returncode == 0
    assert subprocess.run([*cshub, "status", *where], env=env, capture_output=True).returncode == 3


def test_cluster_ids_never_look_like_an_option() -> None:
    from deploy.local.broker import _new_cluster_id

    ids = [_new_cluster_id() for _ in range(5000)]  # ~1 in 64 would start with "-" without the guard
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_a_cluster_id_starting_with_a_dash_still_formats(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "dash", base_port=BASE + 18)
    cluster.home.mkdir(parents=True)
    (cluster.home / "cluster.id").write_text("-" + "A" * 21)  # a folder formatted by an older version
    try:
        cluster.start()
        assert cluster.pid(cluster.nodes[0]) is not None
    finally:
        cluster.stop()

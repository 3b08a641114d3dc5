"""Bug 1 of issue 9: every subcommand goes where CSHUB_BOOTSTRAP and CSHUB_TOPIC_ROOT say, with no flag.

On main, `publish`, `subscribe`, `audit` and `topics` hard-coded 127.0.0.1:9092 and `cshub`: with only
the environment set they silently went elsewhere. Each command here runs with only CSHUB_* variables
(no --bootstrap, no --topic-root) against the test broker under a unique root, and the test checks on
that broker, under that root, that the command did its job there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from core import HubConfig, build_row, encode_row
from schemas.kafka_config import kafka_python_config
from schemas.topics import TopicNames

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "connectors" / "samples" / "facility_320000.csv"


def cshub(*argv: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cshub.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _credentials() -> dict[str, str]:
    """The session's login (tests/conftest.py: the admin of the secured test broker), also by environment only, and
    the public-keys file its workers and audits check signatures against (required: the default)."""
    return {k: os.environ[k] for k in ("CSHUB_PRINCIPAL", "CSHUB_PASSWORD_FILE", "CSHUB_PUBLIC_KEYS_FILE")
            if k in os.environ}


def only_env(**values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSHUB_")}
    return {**base, **values}


def count(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(**kafka_python_config(bootstrap, client_id="cshub-test"))
    try:
        from kafka import TopicPartition

        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values()) if parts else 0
    finally:
        consumer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env_root(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> tuple[dict[str, str], TopicNames]:
    root = unique_name("env")
    return only_env(CSHUB_BOOTSTRAP=kafka_bootstrap, CSHUB_TOPIC_ROOT=root, CSHUB_APP_ID=f"{root}-worker",
                    **_credentials()), \
        TopicNames(root)


def test_topics_publish_subscribe_audit_and_demo_go_where_the_environment_says(
        kafka_bootstrap: str, env_root: tuple[dict[str, str], TopicNames]) -> None:
    env, names = env_root

    created = cshub("topics", "create", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    admin = KafkaAdminClient(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"))
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert names.inbound("320000", "facility") in topics and f"{names.root}-worker-hub-state-changelog" in topics

    listed = cshub("topics", "list", env=env)
    assert listed.returncode == 0 and f"on {kafka_bootstrap}" in listed.stdout, listed.stdout
    assert ": 0 missing, 0 differ" in listed.stdout, listed.stdout

    published = cshub("publish", "--province", "320000", "--kind", "facility", str(SAMPLE), "--no-progress", env=env)
    assert published.returncode == 0, published.stdout + published.stderr
    rows = sum(1 for line in SAMPLE.read_text(encoding="utf-8").splitlines()[1:] if line.strip())
    assert count(kafka_bootstrap, names.inbound("320000", "facility")) == rows

    row = build_row("coverage", "320000", {"urban_communities": 10, "urban_covered": 7, "rural_communities": 0,
                                           "rural_covered": 0}, HubConfig.from_reference(), {})
    producer = KafkaProducer(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"), acks="all")
    try:
        producer.send(names.national("coverage"), key=b"320000", value=encode_row("coverage", row)).get(timeout=30)
    finally:
        producer.close()
    read = cshub("subscribe", "national", "--table", "coverage", "--format", "jsonl", env=env)
    assert read.returncode == 0, read.stderr
    assert [json.loads(line)["urban_covered"] for line in read.stdout.splitlines()] == [7]

    audited = cshub("audit", "replay", env=env)
    assert f"replayed {rows} input records from Kafka at {kafka_bootstrap}" in audited.stdout, audited.stdout

    demo = cshub("demo", "--fast", "--months", "2", "--quiet", env=env, timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert count(kafka_bootstrap, names.inbound("110000", "facility")) > 0


def test_worker_and_run_go_where_the_environment_says(kafka_bootstrap: str, tmp_path: Path,
                                                      env_root: tuple[dict[str, str], TopicNames]) -> None:
    env, names = env_root
    web, gateway = free_port(), free_port()
    env = {**env, "CSHUB_WEB_PORT": str(web), "CSHUB_GATEWAY_PORT": str(gateway), "CSHUB_HOME": str(tmp_path)}
    run = subprocess.Popen([sys.executable, "-m", "cshub.cli", "run", "--no-demo"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline and run.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/health", timeout=2) as resp:
                    health = json.loads(resp.read())
                if health.get("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert health and health.get("ready"), health
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway}/health", timeout=5) as resp:
            assert json.loads(resp.read())["topic_root"] == names.root
        assert (tmp_path / "worker").is_dir()  # CSHUB_HOME: the worker's state lives under it
        assert not (tmp_path / "broker").exists()  # CSHUB_BOOTSTRAP given: no local broker started
    finally:
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=60)
    assert "topics:    " in out and f"under '{names.root}'" in out, out
    assert "broker:" not in out, out


def test_broker_status_looks_where_the_environment_says(tmp_path: Path) -> None:
    port = free_port()
    env = only_env(CSHUB_BROKER_HOME=str(tmp_path / "b"), CSHUB_BROKER_PORT=str(port))
    status = cshub("broker", "status", env=env)
    assert status.returncode == 3 and status.stdout.strip() == f"node 1 127.0.0.1:{port} stopped", status.stdout

"""Session-wide fixtures: a real Kafka broker, and per-test unique names.

The broker comes from, in order: CSHUB_TEST_BOOTSTRAP (a broker someone already runs); a
testcontainers Kafka when a Docker engine answers; else the project's own local broker from the
Apache Kafka jars (deploy/local), on ports 19092/19093 with its data under .cshub/test-broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.local.broker import LocalCluster

ROOT = Path(__file__).resolve().parents[1]
TEST_BROKER_HOME = ROOT / ".cshub" / "test-broker"
KAFKA_IMAGE = "apache/kafka:4.1.1"


def docker_engine_answers() -> bool:
    try:
        import docker  # testcontainers' dependency
        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker for the whole test run."""
    if addr := os.environ.get("CSHUB_TEST_BOOTSTRAP"):
        yield addr
        return
    if os.environ.get("CSHUB_TEST_DOCKER") == "1" and docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    cluster = LocalCluster(TEST_BROKER_HOME, base_port=19092)
    cluster.start()
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Factory of names no other test uses (topics, groups, app ids)."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make

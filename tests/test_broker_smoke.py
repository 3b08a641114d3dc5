"""The broker the suite runs against answers real Kafka requests (kafka-python)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from schemas.kafka_config import kafka_python_config

pytestmark = pytest.mark.integration


def test_produce_and_consume_in_a_group(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    topic, group = unique_name("smoke"), unique_name("group")
    admin = KafkaAdminClient(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"))
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"), acks="all")
    for i in range(30):
        producer.send(topic, key=str(i % 3).encode(), value=f"社区{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(topic, **kafka_python_config(kafka_bootstrap, client_id="cshub-test"), group_id=group,
                             auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    values = sorted(int(m.value.decode()[2:]) for _, m in zip(range(30), consumer, strict=False))
    consumer.close()
    assert values == list(range(30))

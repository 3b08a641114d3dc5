"""Both Kafka clients the hub uses work against the pinned broker (Kafka 4.4.0, KRaft).

Kafka 4 dropped old protocol versions (KIP-896), so this is checked, not assumed: kafka-python
(connectors) creates plain and compacted topics and reads their configs back; aiokafka (under
faust-streaming) produces and consumes in a consumer group with committed offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from schemas.kafka_config import aiokafka_config, kafka_python_config

pytestmark = pytest.mark.integration


def test_kafka_python_creates_compacted_topics(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    topic = unique_name("compacted")
    admin = KafkaAdminClient(**kafka_python_config(kafka_bootstrap, client_id="cshub-test"))
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                      topic_configs={"cleanup.policy": "compact"})])
        deadline = time.monotonic() + 15  # a just-created topic's configs can read empty for a moment
        text = ""
        while "cleanup.policy" not in text and time.monotonic() < deadline:
            text = repr(admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]))
            time.sleep(0.2)
        assert "cleanup.policy" in text and "compact" in text, text
        assert topic in admin.list_topics()
    finally:
        admin.close()


def test_aiokafka_consumes_in_a_group_and_commits(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    topic, group = unique_name("aio"), unique_name("group")

    async def scenario() -> tuple[list[bytes], int | None]:
        producer = AIOKafkaProducer(**aiokafka_config(kafka_bootstrap, client_id="cshub-test"), acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait(topic, key=b"k", value=f"省{i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, **aiokafka_config(kafka_bootstrap, client_id="cshub-test"), group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        got: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                while len(got) < 20:
                    batch = await consumer.getmany(timeout_ms=1000)
                    for records in batch.values():
                        got.extend(r.value for r in records)
            await consumer.commit()
            committed = await consumer.committed(next(iter(consumer.assignment())))
        finally:
            await consumer.stop()
        return got, committed

    got, committed = asyncio.run(scenario())
    assert got == [f"省{i}".encode() for i in range(20)]
    assert committed == 20

"""Read-only Kafka helpers shared by the subscriber and the auditor (kafka-python).

Everything here uses manual partition assignment and no consumer group: readers never commit offsets
and never write, so any number of them can read the same topics without disturbing the hub.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from connectors.errors import BrokerUnreachable, ConnectorError
from schemas import registry
from schemas.kafka_config import Target, kafka_python_config

FAST_FETCH: dict[str, Any] = {
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_poll_records": 10_000,
    "fetch_min_bytes": 1,
    "check_crcs": False,
    "receive_buffer_bytes": 4 * 1024 * 1024,
}
"""Settings for bulk replay: big fetches, many records per poll, no client-side CRC (TCP and the broker
already check it); the auditor's throughput depends on them (bench/audit_bench.py measured these).
Client-side buffering is bounded by the partitions assigned at once times max_partition_fetch_bytes."""


def make_consumer(bootstrap: Target, *, client_id: str = "cshub-reader", **overrides: Any) -> KafkaConsumer:
    """A consumer without a group (no commits, no rebalances) for manual assignment."""
    config = kafka_python_config(bootstrap, client_id=client_id, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", request_timeout_ms=30_000, **overrides)
    try:
        consumer = KafkaConsumer(**config)
    except (KafkaError, OSError) as exc:
        raise BrokerUnreachable(bootstrap, exc) from exc
    consumer.cshub_principal = config.get("sasl_plain_username")  # for the "may not read it" hint
    return consumer


def partitions_of(consumer: KafkaConsumer, topic: str, *, wait_s: float = 10.0,
                  missing_ok: bool = False) -> list[TopicPartition]:
    """Every partition of `topic`, waiting briefly for metadata; [] when absent and `missing_ok`."""
    deadline = time.monotonic() + wait_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() >= deadline:
            if missing_ok:
                return []
            who = getattr(consumer, "cshub_principal", None)
            denied = f", or {who} may not read it (`cshub security list` shows each role's rights)" if who else ""
            raise ConnectorError(f"topic {topic} does not exist on the broker{denied}; create the hub's topics first"
                                 " (`cshub topics create`) or check --topic-root")
        consumer.topics()  # refresh metadata
        time.sleep(0.2)


def read_to_end(consumer: KafkaConsumer, partitions: list[TopicPartition], *,
                start: dict[TopicPartition, int] | None = None, poll_ms: int = 500,
                idle_timeout_s: float = 60.0) -> Iterator[Any]:
    """Yield every record of `partitions` from `start` (else the beginning) up to the end offsets taken now.

    Records come partition-interleaved but in offset order within each partition. Stops when every
    partition reached its end offset; raises ConnectorError when nothing arrives for `idle_timeout_s`.
    """
    if not partitions:
        return
    consumer.assign(partitions)
    ends = consumer.end_offsets(partitions)
    for tp in partitions:
        if start and tp in start:
            consumer.seek(tp, start[tp])
        else:
            consumer.seek_to_beginning(tp)
    pending = {tp for tp in partitions if ends[tp] > (start or {}).get(tp, 0)}
    # A partition whose beginning is past 0 (retention) may also already be at its end.
    pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
    done = [tp for tp in partitions if tp not in pending]
    if done:
        consumer.pause(*done)  # nothing to read: no fetches (and no long polls) for them
    last_progress = time.monotonic()
    while pending:
        batch = consumer.poll(timeout_ms=poll_ms)
        if not batch:
            if time.monotonic() - last_progress > idle_timeout_s:
                raise ConnectorError(f"no records for {idle_timeout_s:.0f} s while reading"
                                     f" {sorted(str(tp) for tp in pending)} to its end; is the broker up?")
            continue
        last_progress = time.monotonic()
        for tp, records in batch.items():
            end = ends[tp]
            for rec in records:
                if rec.offset >= end:
                    break
                yield rec
            if consumer.position(tp) >= end:
                pending.discard(tp)
                consumer.pause(tp)


def load_schema_history(bootstrap: Target, schemas_topic: str, consumer: KafkaConsumer | None = None) -> int:
    """Register every writer schema on the compacted schemas topic with the codec's registry.

    Returns how many schema records were read; a missing topic counts as none (the repo's files remain).
    """
    own = consumer is None
    consumer = consumer or make_consumer(bootstrap, client_id="cshub-schema-history")
    try:
        count = 0
        for rec in read_to_end(consumer, partitions_of(consumer, schemas_topic, wait_s=2.0, missing_ok=True)):
            if rec.value is None:
                continue
            try:
                registry.register(rec.value.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ConnectorError(f"{schemas_topic} offset {rec.offset}: not a valid writer schema: {exc}") from exc
            count += 1
        return count
    finally:
        if own:
            consumer.close()

"""Create the hub's topics idempotently, with the right configs: compacted tables and schemas.

Uses kafka-python's admin client (synchronous), before the Faust app starts, so the app never
auto-creates a topic with default settings. Existing topics are left as they are.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.topics import KINDS, TABLES, TopicNames

log = logging.getLogger(__name__)
COMPACTED = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def hub_topics(names: TopicNames, provinces: list[str], partitions: int, inbound_partitions: int) -> list[TopicSpec]:
    """Every topic the worker reads or writes (Faust's own changelog topic excepted)."""
    specs = [TopicSpec(names.inbound(p, k), inbound_partitions, {}) for p in provinces for k in KINDS]
    specs += [TopicSpec(names.validated(k), partitions, {}) for k in KINDS]
    specs += [TopicSpec(names.national(t), 1, dict(COMPACTED)) for t in TABLES]
    specs.append(TopicSpec(names.national_parts, 1, dict(COMPACTED)))
    specs += [TopicSpec(names.rejected, 1, {}), TopicSpec(names.notifications, 1, {}),
              TopicSpec(names.schemas, 1, dict(COMPACTED))]
    specs += [TopicSpec(names.feedback(p), 1, {}) for p in provinces]
    return specs


def ensure_topics(bootstrap: str, specs: list[TopicSpec], replication: int = 1) -> list[str]:
    """Create the missing topics; return the names created. Safe to run any number of times."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cshub-worker-admin")
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created = []
        for start in range(0, len(missing), 50):
            chunk = missing[start:start + 50]
            try:
                admin.create_topics([NewTopic(s.name, s.partitions, replication, topic_configs=s.config)
                                     for s in chunk])
                created += [s.name for s in chunk]
            except TopicAlreadyExistsError:  # another worker raced us: create one by one
                for s in chunk:
                    try:
                        admin.create_topics([NewTopic(s.name, s.partitions, replication, topic_configs=s.config)])
                        created.append(s.name)
                    except TopicAlreadyExistsError:
                        pass
        log.info("created %d topic(s)", len(created))
        return created
    finally:
        admin.close()


def wait_for_metadata(bootstrap: str, topics: list[str], timeout_s: float = 30.0) -> None:
    """Until the broker's metadata lists every topic with its partitions (or `timeout_s`).

    Just-created topics can be missing from the metadata for a moment; a consumer group that
    rebalances then leaves them unassigned until its next metadata refresh.
    """
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="cshub-worker-admin")
    try:
        deadline = time.monotonic() + timeout_s
        missing = list(topics)
        while missing and time.monotonic() < deadline:
            known = consumer.topics()  # fresh metadata request
            missing = [t for t in missing if t not in known or not consumer.partitions_for_topic(t)]
            if missing:
                time.sleep(0.2)
        if missing:
            log.warning("%d topic(s) still missing from the metadata after %.0f s, e.g. %s", len(missing),
                        timeout_s, missing[:3])
    finally:
        consumer.close()

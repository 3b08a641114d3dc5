"""The worker's view of the topic plan (`schemas.topics.TopicPlan`), before the Faust app starts.

`cshub worker` prepares the topics itself (`connectors.admin.ensure_plan`: create the missing ones,
refuse to start when one differs from the plan) before it calls `streams.worker.run_worker`. What is
here is kept for `run_worker`, which still creates the hub's topics: it builds them from the same plan,
so a worker started without `cshub worker` (a bench) gets the same topics. Lead: once `run_worker` no
longer calls `ensure_topics`, this module can go (`Settings.topic_plan()` is the plan).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.kafka_config import Target, kafka_python_config
from schemas.topics import TopicNames, TopicPlan, TopicSpec

log = logging.getLogger(__name__)


def hub_topics(names: TopicNames, provinces: Iterable[str], partitions: int, inbound_partitions: int,
               replication: int = 1) -> list[TopicSpec]:
    """The hub's own topics of the plan (Faust's internal topics are created by `cshub worker`)."""
    return TopicPlan(names, tuple(provinces), partitions=partitions, inbound_partitions=inbound_partitions,
                     replication=replication).hub_specs()


def ensure_topics(target: Target, specs: list[TopicSpec], replication: int | None = None) -> list[str]:
    """Create the missing topics of `specs` one by one; return the names created. Safe to run any number of times."""
    admin = KafkaAdminClient(**kafka_python_config(target, client_id="cshub-worker-admin"))
    try:
        existing = set(admin.list_topics())
        created = []
        for spec in (s for s in specs if s.name not in existing):
            topic = NewTopic(spec.name, spec.partitions, replication or spec.replication, topic_configs=spec.configs)
            try:
                admin.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:  # another worker raced us
                pass
        log.info("created %d topic(s)", len(created))
        return created
    finally:
        admin.close()


def wait_for_metadata(target: Target, topics: list[str], timeout_s: float = 30.0) -> None:
    """Until the broker's metadata lists every topic with its partitions (or `timeout_s`)."""
    consumer = KafkaConsumer(**kafka_python_config(target, client_id="cshub-worker-admin"))
    try:
        deadline = time.monotonic() + timeout_s
        missing = list(topics)
        while missing and time.monotonic() < deadline:
            known = consumer.topics()
            missing = [t for t in missing if t not in known or not consumer.partitions_for_topic(t)]
            time.sleep(0.2 if missing else 0)
        if missing:
            log.warning("%d topic(s) still missing from the metadata after %.0f s, e.g. %s", len(missing),
                        timeout_s, missing[:3])
    finally:
        consumer.close()

"""Create the hub's topics, idempotently, under one TopicNames root.

Why a module of its own: the publisher, the worker and the tests all need the same topics with the
same settings (compacted national tables and schema history), and creating them twice must be
harmless. A topic that already exists is left as it is (its partitions are not changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from connectors.errors import ConnectorError
from schemas.topics import KINDS, TABLES, Kind, TopicNames

COMPACTED = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}
"""National tables and the schema history: the latest value per key is the content."""

KEPT_FOREVER = {"retention.ms": "-1"}
"""The inputs (inbound and validated reports): the auditor replays them from offset 0 and history and
point-in-time tables are computed from them, so they are never deleted by age. (Their Kafka timestamps
are when a province sent them, which may be long ago: with a time-based retention they would go at once.)"""


@dataclass(frozen=True)
class TopicSpec:
    """One topic to create: its name, partitions, replication and topic configs."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicPlan:
    """How many partitions each family of hub topics gets.

    Inbound topics are one per province and kind, so one partition keeps each province's reports in
    order; validated topics are keyed by province and spread over `validated_partitions`.
    """

    inbound_partitions: int = 1
    validated_partitions: int = 6
    national_partitions: int = 1
    other_partitions: int = 3
    replication: int = 1

    def specs(self, names: TopicNames, provinces: Iterable[str], kinds: Sequence[Kind] = KINDS,
              tables: Sequence[str] = TABLES) -> list[TopicSpec]:
        """Every hub topic for these provinces, kinds and tables."""
        provinces = list(provinces)
        r = self.replication
        specs = [TopicSpec(names.inbound(p, k), self.inbound_partitions, r, dict(KEPT_FOREVER))
                 for p in provinces for k in kinds]
        specs += [TopicSpec(names.validated(k), self.validated_partitions, r, dict(KEPT_FOREVER)) for k in kinds]
        specs.append(TopicSpec(names.rejected, self.other_partitions, r))
        specs += [TopicSpec(names.national(t), self.national_partitions, r, dict(COMPACTED)) for t in tables]
        specs.append(TopicSpec(names.national_parts, 1, r, dict(COMPACTED)))  # one partition: one national stage
        specs.append(TopicSpec(names.notifications, self.other_partitions, r))
        specs += [TopicSpec(names.feedback(p), 1, r) for p in provinces]
        specs.append(TopicSpec(names.schemas, 1, r, dict(COMPACTED)))
        return specs


def all_provinces() -> list[str]:
    """Province codes from the reference data (schemas/data/provinces.csv)."""
    import csv
    from importlib import resources

    with resources.files("schemas").joinpath("data/provinces.csv").open(encoding="utf-8") as fh:
        return [row["code"] for row in csv.DictReader(fh)]


def ensure_topics(bootstrap: str, specs: Sequence[TopicSpec], *, timeout_ms: int = 30_000) -> list[str]:
    """Create every topic in `specs` that does not exist yet; return the names it created.

    Idempotent: existing topics are left alone, so two processes (or the worker) may race safely.
    """
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cshub-admin", request_timeout_ms=timeout_ms)
    except (KafkaError, OSError) as exc:
        raise ConnectorError(f"cannot reach Kafka at {bootstrap}: {exc}; is the broker running"
                             " (`cshub broker status`)?") from exc
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for start in range(0, len(missing), 50):
            batch = missing[start:start + 50]
            request = {s.name: {"num_partitions": s.partitions, "replication_factor": s.replication,
                                "configs": s.configs} for s in batch}
            result = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
            for topic in result["topics"]:
                code = topic.get("error_code", 0)
                if code == 0:
                    created.append(topic["name"])
                elif code != TopicAlreadyExistsError.errno:
                    raise ConnectorError(f"cannot create topic {topic['name']}: error {code}"
                                         f" {topic.get('error_message') or ''}".rstrip())
        if created:
            admin.wait_for_topics(created, timeout_ms=timeout_ms)
        return created
    except KafkaError as exc:
        raise ConnectorError(f"creating topics on {bootstrap} failed: {exc}") from exc
    finally:
        admin.close()

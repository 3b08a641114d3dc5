"""Put the topic plan (`schemas.topics.TopicPlan`) onto a cluster, and say where a cluster differs from it.

The one place that creates the hub's topics: `cshub topics create`, `cshub run`, `cshub worker` (before the
Faust app starts, so Faust never auto-creates a topic with its own defaults), compose and k8s (through
`cshub topics create`) and the tests. Creation is idempotent; a topic that already exists is left as it is
(its partitions are never changed), and `check` says how it differs from the plan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, TopicAlreadyExistsError, TopicAuthorizationFailedError

from connectors.errors import BrokerUnreachable, ConnectorError, TopicPlanMismatch
from schemas.credentials import AccessRefused, refused
from schemas.kafka_config import Target, connection, kafka_python_config
from schemas.topics import CHECKED_CONFIGS, TopicDifference, TopicSpec, TopicState, differences


@contextmanager
def _admin(target: Target, timeout_ms: int, doing: str) -> Iterator[KafkaAdminClient]:
    """An admin client for one job; a Kafka error on the way is a ConnectorError saying what was being done."""
    try:
        admin = KafkaAdminClient(**kafka_python_config(target, client_id="cshub-admin", request_timeout_ms=timeout_ms))
    except (KafkaError, OSError) as exc:
        raise BrokerUnreachable(connection(target), exc) from exc
    try:
        yield admin
    except KafkaError as exc:
        conn = connection(target)
        denial = refused(exc, conn.principal, conn.bootstrap, doing.replace("creating", "create").replace(
            "reading", "read"))
        if denial is not None:  # refused by the broker's ACLs: one line, exit 77
            raise denial from None
        raise ConnectorError(f"{doing} on {connection(target)} failed: {exc}",
                             "check that the broker is up (`cshub broker status`)") from exc
    finally:
        admin.close()


def ensure_topics(target: Target, specs: Sequence[TopicSpec], *, timeout_ms: int = 30_000) -> list[str]:
    """Create every topic in `specs` that does not exist yet; return the names it created.

    Idempotent: existing topics are left alone, so two processes (or two workers) may race safely.
    """
    with _admin(target, timeout_ms, "creating topics") as admin:
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
                elif code == TopicAuthorizationFailedError.errno:
                    conn = connection(target)
                    raise AccessRefused(f"the broker refused {conn.principal or 'an anonymous client'} to create"
                                        f" topic {topic['name']}: only the hub's admin creates topics.",
                                        "run `cshub topics create` as cshub-admin (CSHUB_PRINCIPAL=cshub-admin)")
                elif code != TopicAlreadyExistsError.errno:
                    raise ConnectorError(f"cannot create topic {topic['name']}: error {code}"
                                         f" {topic.get('error_message') or ''}".rstrip(),
                                         "check the broker's log and that this client may create topics")
        if created:
            admin.wait_for_topics(created, timeout_ms=timeout_ms)
        return created


def describe(target: Target, names: Sequence[str], *, timeout_ms: int = 30_000) -> dict[str, TopicState]:
    """What the broker has of these topics (absent ones are left out): partitions, replication, checked configs."""
    with _admin(target, timeout_ms, "reading topic metadata") as admin:
        existing = set(admin.list_topics())
        present = [n for n in names if n in existing]
        out: dict[str, TopicState] = {}
        for start in range(0, len(present), 100):
            chunk = present[start:start + 100]
            configs = _configs(admin, chunk)
            for topic in admin.describe_topics(chunk):
                name, parts = topic["name"], topic["partitions"]
                replication = max((len(p["replica_nodes"]) for p in parts), default=0)
                out[name] = TopicState(name, len(parts), replication, configs.get(name, {}))
        return out


def _configs(admin: KafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """The values of `CHECKED_CONFIGS` of each topic (defaults included)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, configs=None) for t in topics]
    found = admin.describe_configs(resources, config_filter="all")
    out: dict[str, dict[str, str]] = {}
    for name, entries in found.get("topic", {}).items():
        out[name] = {k: str(v["value"]) for k, v in entries.items() if k in CHECKED_CONFIGS}
    return out


@dataclass(frozen=True)
class PlanCheck:
    """The plan against the broker: what it has of the planned topics, which are missing, how the rest differ."""

    states: dict[str, TopicState]
    missing: list[str]
    differences: list[TopicDifference]

    @property
    def blocking(self) -> list[TopicDifference]:
        return [d for d in self.differences if d.blocking]


def check(target: Target, specs: Sequence[TopicSpec], *, timeout_ms: int = 30_000) -> PlanCheck:
    """Compare the broker's topics with the plan."""
    states = describe(target, [s.name for s in specs], timeout_ms=timeout_ms)
    missing = [s.name for s in specs if s.name not in states]
    found = [d for s in specs if s.name in states for d in differences(s, states[s.name])]
    return PlanCheck(states, missing, found)


def ensure_plan(target: Target, specs: Sequence[TopicSpec], *, timeout_ms: int = 30_000) -> list[str]:
    """Create the missing topics, then refuse (TopicPlanMismatch) when an existing one differs from the plan.

    What the worker runs before Faust starts: with a validated topic whose partitions differ from the
    state table's, Faust's agent dies (`PartitionsMismatch`) while the process lives on.
    """
    created = ensure_topics(target, specs, timeout_ms=timeout_ms)
    result = check(target, specs, timeout_ms=timeout_ms)
    if result.blocking:
        raise TopicPlanMismatch(result.blocking)
    return created

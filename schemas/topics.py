"""Every Kafka topic name the hub uses, in one place: the names are a contract (docs/design.md).

All names hang off one root, `cshub` in production. Tests give each run its own root (for
example `t3f9c2a`) so that they share one broker without seeing each other's records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from schemas.kinds import KINDS, Kind
from schemas.tables import REPORT_TABLES, TABLES

__all__ = ["KINDS", "NATIONAL_CODE", "REPORT_TABLES", "TABLES", "Kind", "TopicNames", "TopicPlan", "TopicSpec"]

NATIONAL_CODE = "000000"
"""Province code of the national row in every national table."""



@dataclass(frozen=True)
class TopicNames:
    """The hub's topic names under one root (`cshub` unless a test or a tenant says otherwise)."""

    root: str = "cshub"

    def inbound(self, province: str, kind: Kind) -> str:
        """Where a province publishes its reports of one kind: `cshub.in.<province>.<kind>`."""
        return f"{self.root}.in.{province}.{kind}"

    def parse_inbound(self, topic: str) -> tuple[str, Kind] | None:
        """(province, kind) of an inbound topic name under this root, or None when it is not one."""
        head = f"{self.root}.in."
        if not topic.startswith(head):
            return None
        parts = topic[len(head):].split(".")
        if len(parts) != 2 or parts[1] not in KINDS:
            return None
        return parts[0], parts[1]  # type: ignore[return-value]  # checked against KINDS above

    def validated(self, kind: Kind) -> str:
        """What passed validation, keyed by province code + report id: `cshub.validated.<kind>`."""
        return f"{self.root}.validated.{kind}"

    def national(self, table: str) -> str:
        """A compacted national progress table, keyed by province code: `cshub.national.<table>`."""
        return f"{self.root}.national.{table}"

    def feedback(self, province: str) -> str:
        """Data returned to the province that sent it (回流): `cshub.feedback.<province>`."""
        return f"{self.root}.feedback.{province}"

    def inbound_prefix(self, province: str | None = None) -> str:
        """Prefix of every inbound topic, or of one province's (`cshub.in.` / `cshub.in.<province>.`):
        prefixed ACLs, which must end with the separator."""
        return f"{self.root}.in." + (f"{province}." if province is not None else "")

    @property
    def validated_prefix(self) -> str:
        return f"{self.root}.validated."

    @property
    def national_prefix(self) -> str:
        return f"{self.root}.national."

    @property
    def feedback_prefix(self) -> str:
        return f"{self.root}.feedback."

    @property
    def every_prefix(self) -> str:
        """Prefix of every topic under this root (`cshub.`)."""
        return f"{self.root}."

    @property
    def rejected(self) -> str:
        """The dead-letter topic: every rejected record with its reason."""
        return f"{self.root}.rejected"

    @property
    def national_parts(self) -> str:
        """Internal, compacted, one partition: each worker's province totals per table, keyed `<table>|<province>`,
        from which the one consumer of this topic (the national stage) computes the 000000 rows."""
        return f"{self.root}.national-parts"

    @property
    def validated_batches(self) -> str:
        """Internal: what passed validation, as envelopes of many reports' fold entries, one per state partition
        and ingress poll (streams/ingress.py); co-partitioned with the worker's state table."""
        return f"{self.root}.validated-batches"

    @property
    def verdicts(self) -> str:
        """Internal, one partition, kept: the worker's verdict on every inbound record, in offset order per inbound
        partition (docs/evidence.md §4); the log service's input."""
        return f"{self.root}.verdicts"

    @property
    def notifications(self) -> str:
        return f"{self.root}.notifications"

    @property
    def log(self) -> str:
        """The transparency log's entries, one partition, kept forever, one writer (docs/evidence.md §5)."""
        return f"{self.root}.log"

    @property
    def checkpoints(self) -> str:
        """The log's signed checkpoints (C2SP notes), one partition, kept forever."""
        return f"{self.root}.checkpoints"

    def receipts(self, province: str) -> str:
        """The hub-signed receipts of every record a province sent, readable by that province only."""
        return f"{self.root}.receipts.{province}"

    @property
    def receipts_prefix(self) -> str:
        return f"{self.root}.receipts."

    @property
    def schemas(self) -> str:
        """Compacted: every writer schema ever used, keyed by fingerprint."""
        return f"{self.root}.schemas"


TOPICS = TopicNames()
"""The production names."""


# ---- the topic plan: every topic, its partitions and configs ---------------------------------------

COMPACTED: dict[str, str] = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}
"""National tables, the schema history and the worker's changelogs: the latest value per key is the content."""

DELETE: dict[str, str] = {"cleanup.policy": "delete"}
"""Streams of events, kept for the cluster's default retention (`log.retention.hours`, 7 days by default)."""

KEPT: dict[str, str] = {"cleanup.policy": "delete", "retention.ms": "-1"}
"""Evidence kept forever: what the provinces sent (the auditor replays it from offset 0), what passed validation
(the gateway folds it into history, as-of tables and explanations) and what was rejected. The demo's records carry
the moments a province would have sent them, months ago: a time-based retention would delete them at once."""

CHECKED_CONFIGS: dict[str, bool] = {"cleanup.policy": True, "retention.ms": False}
"""The topic configs `cshub topics list` and the worker compare with the plan, and whether a difference
blocks the worker: compaction does (a table topic that deletes old rows loses provinces), retention does
not (it only limits how far back an audit can go)."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the plan: its name, partitions, replication and topic configs.

    `owner` says who reads it by partition: "faust" for the worker's internal topics (Faust refuses to
    start, `PartitionsMismatch`, when a changelog's partitions differ from its table's).
    """

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)
    owner: Literal["hub", "faust"] = "hub"
    setting: str | None = None
    """The settings field that decides `partitions` (`partitions`, `inbound_partitions`), if one does."""

    @property
    def compacted(self) -> bool:
        return self.configs.get("cleanup.policy") == "compact"


@dataclass(frozen=True)
class TopicPlan:
    """Every topic the hub uses under one root, with its partitions and configs: the only place that says so.

    `cshub topics create|list`, `cshub run`, the worker (before Faust starts), compose and k8s (through
    `cshub topics create`) all build their topics from `specs()`. Validated topics and the worker's state
    changelog share `partitions` (Faust co-partitions them: partition N of both goes to one worker);
    national tables, national parts and the schema history are single-partition and compacted.
    """

    names: TopicNames
    provinces: tuple[str, ...]
    partitions: int = 4
    inbound_partitions: int = 1
    replication: int = 1
    app_id: str = "cshub-worker"

    def specs(self) -> list[TopicSpec]:
        """Every topic: the hub's own, then Faust's internal ones."""
        return self.hub_specs() + self.faust_specs()

    def hub_specs(self, kinds: Iterable[Kind] = KINDS, tables: Iterable[str] = TABLES) -> list[TopicSpec]:
        """The hub's own topics (of these kinds and tables: a test may want fewer)."""
        names, r = self.names, self.replication
        specs = [TopicSpec(names.inbound(p, k), self.inbound_partitions, r, dict(KEPT), setting="inbound_partitions")
                 for p in self.provinces for k in kinds]
        specs += [TopicSpec(names.validated(k), self.partitions, r, dict(KEPT), setting="partitions") for k in kinds]
        specs.append(TopicSpec(names.validated_batches, self.partitions, r, dict(DELETE), setting="partitions"))
        specs.append(TopicSpec(names.rejected, 1, r, dict(KEPT)))
        specs.append(TopicSpec(names.verdicts, 1, r, dict(KEPT)))  # one partition: one total order for the log
        specs += [TopicSpec(names.national(t), 1, r, dict(COMPACTED)) for t in tables]
        # One partition: one national stage. A record holds many parts (a worker's publish), so it is a stream
        # of events, not a table: the stage keeps the latest part per (table, province) in its own changelog.
        specs.append(TopicSpec(names.national_parts, 1, r, dict(DELETE)))
        specs.append(TopicSpec(names.notifications, 1, r, dict(DELETE)))
        specs += [TopicSpec(names.feedback(p), 1, r, dict(DELETE)) for p in self.provinces]
        specs.append(TopicSpec(names.schemas, 1, r, dict(COMPACTED)))
        specs += self.notary_specs()
        return specs

    def notary_specs(self) -> list[TopicSpec]:
        """The log service's outputs (its input, the worker's verdicts, is planned with the worker's topics): the
        log, its checkpoints, the receipts; one partition each (one writer, one total order), kept forever."""
        names, r = self.names, self.replication
        specs = [TopicSpec(names.log, 1, r, dict(KEPT)), TopicSpec(names.checkpoints, 1, r, dict(KEPT))]
        specs += [TopicSpec(names.receipts(p), 1, r, dict(KEPT)) for p in self.provinces]
        return specs

    def faust_specs(self) -> list[TopicSpec]:
        """The worker's internal topics, named as Faust names them (`<app_id>-<table>-changelog`)."""
        r = self.replication
        return [TopicSpec(f"{self.app_id}-hub-state-changelog", self.partitions, r, dict(COMPACTED), "faust",
                          setting="partitions"),
                TopicSpec(f"{self.app_id}-national-parts-changelog", 1, r, dict(COMPACTED), "faust"),
                TopicSpec(f"{self.app_id}-__assignor-__leader", 1, r, dict(DELETE), "faust")]


@dataclass(frozen=True)
class TopicDifference:
    """Where a topic on the broker differs from the plan; `blocking` when the hub would be wrong with it."""

    topic: str
    what: str
    planned: object
    actual: object
    blocking: bool
    advice: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.what} is {self.actual}, the plan says {self.planned}"


@dataclass(frozen=True)
class TopicState:
    """What the broker says about one topic: partitions, replication, the values of `CHECKED_CONFIGS`."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str]


def differences(spec: TopicSpec, actual: TopicState) -> list[TopicDifference]:
    """How `actual` differs from `spec`: partitions and compaction block the worker; replication, retention do not."""
    out: list[TopicDifference] = []
    if actual.partitions != spec.partitions:
        if spec.setting is not None:
            advice = (f"set CSHUB_{spec.setting.upper()}={actual.partitions} (or --{spec.setting.replace('_', '-')}"
                      f" {actual.partitions}) to use the topics as they are, or delete the hub's topics and run"
                      " `cshub topics create` again")
        else:
            advice = "delete this topic and run `cshub topics create` to recreate it as planned"
        out.append(TopicDifference(spec.name, "partitions", spec.partitions, actual.partitions, True, advice))
    for key, blocking in CHECKED_CONFIGS.items():
        planned = spec.configs.get(key)
        found = actual.configs.get(key)
        if planned is not None and found is not None and found != planned:
            out.append(TopicDifference(spec.name, key, planned, found, blocking,
                                       f"set it with `kafka-configs --alter --entity-type topics --entity-name"
                                       f" {spec.name} --add-config {key}={planned}`"))
    if actual.replication != spec.replication:
        out.append(TopicDifference(spec.name, "replication", spec.replication, actual.replication, False,
                                   f"harmless for correctness; CSHUB_REPLICATION={actual.replication} matches it"))
    return out

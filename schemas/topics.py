"""Every Kafka topic name the hub uses, in one place: the names are a contract (DESIGN.md).

All names hang off one root, `cshub` in production. Tests give each run its own root (for
example `t3f9c2a`) so that they share one broker without seeing each other's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["facility", "funding", "policy"]
KINDS: tuple[Kind, ...] = ("facility", "funding", "policy")

NATIONAL_CODE = "000000"
"""Province code of the national row in every national table."""

TABLES: tuple[str, ...] = ("coverage", "facilities", "funding", "policy", "services", "obligations")
"""The national progress tables, each a compacted topic `cshub.national.<table>` keyed by province:
coverage (urban/rural facility coverage), facilities (by status, area standard), funding (by source),
policy (items by status), services (big-city elderly-care/childcare coverage, monthly visit rate),
obligations (reporting deadlines: on time, late, missing)."""


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
    def notifications(self) -> str:
        return f"{self.root}.notifications"

    @property
    def schemas(self) -> str:
        """Compacted: every writer schema ever used, keyed by fingerprint."""
        return f"{self.root}.schemas"


TOPICS = TopicNames()
"""The production names."""

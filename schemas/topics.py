"""Every Kafka topic name the hub uses, in one place: the names are a contract (DESIGN.md)."""

from __future__ import annotations

from typing import Literal

Kind = Literal["facility", "funding", "policy"]
KINDS: tuple[Kind, ...] = ("facility", "funding", "policy")

NATIONAL_CODE = "000000"
"""Province code of the national row in every national table."""

REJECTED = "cshub.rejected"
NOTIFICATIONS = "cshub.notifications"
SCHEMAS = "cshub.schemas"
PREFIX = "cshub."


def inbound(province: str, kind: Kind) -> str:
    """Where a province publishes its reports of one kind: `cshub.in.<province>.<kind>`."""
    return f"cshub.in.{province}.{kind}"


def parse_inbound(topic: str) -> tuple[str, Kind] | None:
    """(province, kind) of an inbound topic name, or None when the name is not one."""
    parts = topic.split(".")
    if len(parts) != 4 or parts[0] != "cshub" or parts[1] != "in" or parts[3] not in KINDS:
        return None
    return parts[2], parts[3]  # type: ignore[return-value]  # checked against KINDS above


def validated(kind: Kind) -> str:
    """What passed validation, keyed by province code + report id: `cshub.validated.<kind>`."""
    return f"cshub.validated.{kind}"


def national(table: str) -> str:
    """A compacted national progress table, keyed by province code: `cshub.national.<table>`."""
    return f"cshub.national.{table}"


def feedback(province: str) -> str:
    """Data returned to the province that sent it (回流): `cshub.feedback.<province>`."""
    return f"cshub.feedback.{province}"

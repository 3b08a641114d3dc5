"""Validation of decoded records and the records that report a failure: rejections and feedback.

Business rules come from `schemas.rules.check`; this module adds what only the hub knows: the
record's kind and province must match the topic it came from (a province reports about itself,
on its own topics). Reason codes are the codec's (`bad_magic`, `truncated`, `unknown_fingerprint`,
`bad_body`), `wrong_kind`, `wrong_province`, `unknown_topic`, or a business rule's code.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from schemas import rules
from schemas.errors import Problem

KIND_OF_SCHEMA: dict[str, str] = {
    "cshub.FacilityReport": "facility",
    "cshub.FundingReport": "funding",
    "cshub.PolicyReport": "policy",
}
"""Report kind of each report schema name."""

SCHEMA_OF_KIND: dict[str, str] = {kind: name for name, kind in KIND_OF_SCHEMA.items()}


def problems(topic_province: str, topic_kind: str, schema_name: str, record: dict[str, Any],
             provinces: Collection[str]) -> list[Problem]:
    """Everything wrong with a decoded record that arrived on `cshub.in.<topic_province>.<topic_kind>`."""
    kind = KIND_OF_SCHEMA.get(schema_name)
    if kind != topic_kind:
        return [Problem("schema", schema_name, "wrong_kind",
                        f"topic {topic_kind} takes {SCHEMA_OF_KIND.get(topic_kind)} records only")]
    found = record.get("province")
    if found != topic_province:
        return [Problem("province", found, "wrong_province",
                        f"a province reports about itself only: this topic belongs to {topic_province}")]
    return rules.check(kind, record, provinces=provinces)  # type: ignore[arg-type]  # kind checked above


def rejection(data: bytes, topic: str, partition: int, offset: int, key: bytes | None, reason: str,
              message: str, province: str | None, ts_ms: int) -> dict[str, Any]:
    """A `cshub.Rejection` record: the original bytes and where they came from, the reason and message."""
    return {"source_topic": topic, "partition": partition, "offset": offset, "key": key, "original": bytes(data),
            "reason": reason, "message": message, "province": province, "event_time": ts_ms}


def describe(found: list[Problem]) -> tuple[str, str]:
    """(reason code, message) for a list of problems: the first one's code, every problem in the message."""
    return found[0].reason, "; ".join(str(p) for p in found)


def feedback(province: str, report_id: str | None, kind: str, reason: str, message: str,
             source_topic: str, partition: int, offset: int, ts_ms: int) -> dict[str, Any]:
    """A `cshub.Feedback` record for `cshub.feedback.<province>`: a rejection or a late flag (回流)."""
    return {"province": province, "report_id": report_id, "type": kind, "reason": reason, "message": message,
            "source_topic": source_topic, "partition": partition, "offset": offset, "event_time": ts_ms}

"""Validation of decoded records and the records that report a failure: rejections and feedback.

Business rules come from `schemas.rules.check`; this module adds what only the hub knows: the
record's kind and province must match the topic it came from (a province reports about itself,
on its own topics), and, when the hub requires signatures, that the topic's province signed it. Reason codes
are the codec's (`bad_magic`, `truncated`, `unknown_fingerprint`, `bad_body`), `wrong_kind`, `wrong_province`,
`unknown_topic`, a signature's (`unsigned`, `bad_signature`, ...: `core.signing.SIGNATURE_REASONS`), or a
business rule's code.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any, NamedTuple

from core.signing import Headers, SignatureChecker
from schemas import codec, rules
from schemas.errors import CodecError, Problem
from schemas.kinds import KIND_OF_SCHEMA, SCHEMA_OF_KIND, Kind
from schemas.topics import TopicNames


def problems(topic_province: str, topic_kind: Kind, schema_name: str, record: dict[str, Any],
             provinces: Collection[str]) -> list[Problem]:
    """Everything wrong with a decoded record that arrived on `cshub.in.<topic_province>.<topic_kind>`."""
    kind = KIND_OF_SCHEMA.get(schema_name)
    if kind != topic_kind:
        return [Problem("schema", schema_name, "wrong_kind",
                        f"topic {topic_kind} takes {SCHEMA_OF_KIND[topic_kind]} records only")]
    found = record.get("province")
    if found != topic_province:
        return [Problem("province", found, "wrong_province",
                        f"a province reports about itself only: this topic belongs to {topic_province}")]
    return rules.check(topic_kind, record, provinces=provinces)


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


# ---- the one decision about an inbound record (the worker's validator and the auditor's replay) ------


class Source(NamedTuple):
    """Where an inbound record came from: its Kafka coordinate, key and timestamp (epoch ms).

    This and the other per-record values here are NamedTuples, not frozen dataclasses: built for every record,
    a frozen dataclass costs 1-2 µs each (one `object.__setattr__` per field), a NamedTuple a tenth of that.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int


class Accepted(NamedTuple):
    """An inbound record that passed: decoded, of `kind`, from (and about) `province`."""

    decoded: codec.Decoded
    kind: Kind
    province: str

    @property
    def record(self) -> dict[str, Any]:
        return self.decoded.value


class Rejected(NamedTuple):
    """An inbound record that goes to `cshub.rejected`: why (a stable reason code), in words, and whose.

    `unexpected` marks an error no rule foresaw (reason `internal_error`): a bug to log, not the sender's fault.
    """

    reason: str
    message: str
    province: str | None
    report_id: str | None
    unexpected: bool = False


Decision = Accepted | Rejected


@lru_cache(maxsize=4096)
def _inbound(names: TopicNames, provinces: frozenset[str], topic: str) -> tuple[str, Kind] | None:
    """(province, kind) of an inbound topic of a known province, else None (cached: called per record)."""
    where = names.parse_inbound(topic)
    return where if where is not None and where[0] in provinces else None


def decide(source: Source, value: bytes | None, names: TopicNames, provinces: frozenset[str],
           headers: Headers | None = None, keys: SignatureChecker | None = None) -> Decision:
    """Accept or reject one inbound record: signed by the topic's province (when `keys` are given: the hub
    requires signatures), decodable, of the topic's kind, about the topic's province, and within the business
    rules. Never raises: an unexpected error is a rejection (`internal_error`), the same for the worker and the
    auditor, so their tables agree even then.

    The signature is checked first, against the record's broker timestamp (`source.timestamp_ms`: when the hub
    received it), so nothing of an unsigned or forged record is decoded; its reason is one of
    `core.signing.SIGNATURE_REASONS`, and the report id given is the Kafka key (the record is not decoded).
    """
    where = _inbound(names, provinces, source.topic)
    province = where[0] if where else None
    if where is None:
        return Rejected("unknown_topic", f"{source.topic} is not an inbound topic of a province in the reference"
                        " data", None, None)
    if keys is not None:
        try:
            signed = keys.check(source.topic, source.key, value or b"", headers, where[0], source.timestamp_ms)
        except Exception as exc:  # the boundary, as below
            return Rejected("internal_error", repr(exc), province, None, unexpected=True)
        if not signed.ok:
            return Rejected(signed.reason or "bad_signature", signed.message, province, _key_text(source.key))
    try:
        decoded = codec.decode(value or b"")
        found = problems(where[0], where[1], decoded.name, decoded.value, provinces)
    except CodecError as exc:
        return Rejected(exc.reason, str(exc), province, None)
    except Exception as exc:  # the boundary: no input may stop the worker or the audit
        return Rejected("internal_error", repr(exc), province, None, unexpected=True)
    if found:
        reason, message = describe(found)
        report_id = decoded.value.get("report_id")
        return Rejected(reason, message, province, report_id if isinstance(report_id, str) else None)
    return Accepted(decoded, where[1], where[0])


def _key_text(key: bytes | None) -> str | None:
    """The Kafka key as text (the report id, by the contract), for a record that is not decoded."""
    return None if key is None else key.decode("utf-8", "replace")

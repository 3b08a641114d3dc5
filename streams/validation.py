"""Validation: each inbound record goes to validated (original bytes, by province) or to rejected.

Stateless but for a burst detector and the schemas already announced; a redelivered record is
forwarded twice, which aggregation absorbs (latest revision wins).
"""

from __future__ import annotations

import collections
import logging
from typing import Any, NamedTuple

from core import HubConfig, feedback, rejection
from core.contributions import Contribution, contribution
from core.notify import BurstDetector
from core.signing import Headers, SignatureChecker
from core.validation import Rejected, Source, decide
from core.verdicts import key_text, kid_of, value_sha256
from schemas import codec
from schemas.topics import TopicNames
from streams.records import Record

log = logging.getLogger(__name__)


def partition_of_provinces(provinces: list[str], partitions: int) -> dict[str, int]:
    """The validated partition of each province: the i-th province of the reference data goes to i mod N.

    One rule for the validator (where it sends a province's reports) and the aggregator (which
    provinces it holds, given its assigned validated partitions).
    """
    return {p: i % partitions for i, p in enumerate(provinces)}


class Received(NamedTuple):
    """What the verdict of any inbound record repeats about it (docs/evidence.md §4).

    NamedTuples here (built per record), as in core.validation.
    """

    topic: str
    partition: int
    offset: int
    sha256: str
    key: str | None
    kid: str | None

    @classmethod
    def of(cls, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
           headers: Any) -> Received:
        return cls(topic, partition, offset, value_sha256(value), key_text(key), kid_of(headers))


class FoldEntry(NamedTuple):
    """An accepted report reduced to what the fold needs (`core.Hub.apply_entry`), and where it came from."""

    kind: str
    province: str
    report_id: str
    revision: int
    period: str
    contribution: Contribution | None  # None: a withdrawal
    ts_ms: int
    received: Received

    def entry(self) -> list[Any]:
        """The envelope entry; slots 7-9 (the report's validated record: topic, partition, offset) are filled
        in once that record is acknowledged. Layout: `ENTRY_FIELDS`."""
        r = self.received
        return [self.kind, self.province, self.report_id, self.revision, self.period, self.contribution,
                self.ts_ms, None, None, None, r.topic, r.partition, r.offset, r.sha256, r.key, r.kid]


ENTRY_FIELDS = ("kind", "province", "report_id", "revision", "period", "contribution", "ts_ms",
                "validated_topic", "validated_partition", "validated_offset",
                "topic", "partition", "offset", "value_sha256", "key", "kid")
"""An envelope entry, position by position. A rejected record's entry (`rejected_entry`) has kind None,
its reason in the period slot and its message in the contribution slot, and no validated record."""


def rejected_entry(province: str | None, report_id: str | None, reason: str, message: str, ts_ms: int,
                   received: Received) -> list[Any]:
    """The envelope entry of a rejected record: the aggregation writes its verdict in inbound order."""
    r = received
    return [None, province, report_id, None, reason, message, ts_ms, None, None, None, r.topic, r.partition,
            r.offset, r.sha256, r.key, r.kid]


class Routed(NamedTuple):
    """What one inbound record becomes: records to send, and its envelope entry with the envelope partition.

    `accepted` is the accepted report (None if rejected); `rejected` the entry of a rejected one.
    """

    records: list[Record]
    partition: int
    accepted: FoldEntry | None = None
    rejected: list[Any] | None = None


class Validator:
    """Routes one inbound record: to validated, or to rejected (+ feedback, + burst notification)."""

    def __init__(self, names: TopicNames, provinces: list[str], partitions: int, config: HubConfig,
                 keys: SignatureChecker | None = None) -> None:
        self.names = names
        self.keys = keys  # None: signatures not required (settings.require_signatures off)
        self.provinces = provinces
        self.province_set = frozenset(provinces)
        self.partition_of = partition_of_provinces(provinces, partitions)
        self.bursts = BurstDetector(config.burst_threshold, config.burst_window_ms)
        self.seen_schemas: set[bytes] = set()
        self.counts: collections.Counter[str] = collections.Counter()

    def route(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
              ts_ms: int, headers: Headers | None = ()) -> Routed:
        """The records to send for one inbound record (an accepted one's validated record comes last).

        The decision is `core.decide`, the very one the auditor's replay makes.
        """
        data = value or b""
        received = Received.of(topic, partition, offset, key, value, headers)
        decision = decide(Source(topic, partition, offset, key, ts_ms), data, self.names, self.province_set,
                          headers, self.keys)
        if isinstance(decision, Rejected):
            if decision.unexpected:
                log.error("unexpected error validating %s[%d]@%d: %s", topic, partition, offset, decision.message)
            return self._reject(data, received, key, decision.reason, decision.message, decision.province, ts_ms,
                                decision.report_id)
        rec, kind, province = decision.record, decision.kind, decision.province
        try:
            entry = FoldEntry(kind, province, rec["report_id"], int(rec["revision"]), rec["period"],
                              None if rec.get("withdrawn") else contribution(kind, rec), ts_ms, received)
        except Exception as exc:  # process boundary: no input may stop the worker; the record goes to rejected
            log.exception("unexpected error reducing %s[%d]@%d", topic, partition, offset)
            return self._reject(data, received, key, "internal_error", repr(exc), province, ts_ms, None)
        self.counts["validated"] += 1
        out: list[Record] = []
        fingerprint = decision.decoded.fingerprint
        if fingerprint not in self.seen_schemas:
            self.seen_schemas.add(fingerprint)
            out.append((self.names.schemas, fingerprint, codec.schema_json(fingerprint).encode(), 0))
        into = self.partition_of[province]
        out.append((self.names.validated(kind), f"{province}|{rec['report_id']}".encode(), bytes(data), into))
        return Routed(out, into, entry)

    def _reject(self, data: bytes, received: Received, key: bytes | None, reason: str, message: str,
                province: str | None, ts_ms: int, report_id: str | None) -> Routed:
        self.counts["rejected"] += 1
        topic, partition, offset = received.topic, received.partition, received.offset
        rec = rejection(data, topic, partition, offset, key, reason, message, province, ts_ms)
        out: list[Record] = [
            (self.names.rejected, f"{topic}@{offset}".encode(), codec.encode("cshub.Rejection", rec), None)]
        if province is not None:
            fb = feedback(province, report_id, "REJECTED", reason, message, topic, partition, offset, ts_ms)
            out.append((self.names.feedback(province), (report_id or f"{topic}@{offset}").encode(),
                        codec.encode("cshub.Feedback", fb), None))
            burst = self.bursts.observe(province, ts_ms)
            if burst is not None:
                out.append((self.names.notifications, province.encode(), codec.encode("cshub.Notification", burst),
                            None))
        # The verdict goes through the aggregation, in inbound order with the accepted ones: the envelope
        # partition of the topic's province (every inbound topic the ingress reads is a known province's).
        where = self.names.parse_inbound(topic)
        into = self.partition_of.get(where[0], 0) if where else 0
        return Routed(out, into, rejected=rejected_entry(province, report_id, reason, message, ts_ms, received))



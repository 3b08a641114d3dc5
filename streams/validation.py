"""Validation: each inbound record goes to validated (original bytes, by province) or to rejected.

Stateless but for a burst detector and the schemas already announced; a redelivered record is
forwarded twice, which aggregation absorbs (latest revision wins).
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import Any

from core import HubConfig, feedback, rejection
from core.contributions import Contribution, contribution
from core.notify import BurstDetector
from core.signing import Headers, SignatureChecker
from core.validation import Rejected, Source, decide
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


@dataclass(frozen=True, slots=True)
class FoldEntry:
    """An accepted report reduced to what the fold needs (`core.Hub.apply_entry`)."""

    kind: str
    province: str
    report_id: str
    revision: int
    period: str
    contribution: Contribution | None  # None: a withdrawal
    ts_ms: int

    def entry(self, topic: str, partition: int, offset: int) -> list[Any]:
        """The envelope entry, with the coordinates of the report's validated record."""
        return [self.kind, self.province, self.report_id, self.revision, self.period, self.contribution,
                self.ts_ms, topic, partition, offset]


@dataclass(frozen=True, slots=True)
class Routed:
    """What one inbound record becomes: records to send, and the accepted report (None if rejected)."""

    records: list[Record]
    accepted: FoldEntry | None = None


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
              ts_ms: int, headers: Headers | None = None) -> Routed:
        """The records to send for one inbound record (an accepted one's validated record comes last).

        The decision is `core.decide`, the very one the auditor's replay makes.
        """
        data = value or b""
        decision = decide(Source(topic, partition, offset, key, ts_ms), data, self.names, self.province_set,
                          headers, self.keys)
        if isinstance(decision, Rejected):
            if decision.unexpected:
                log.error("unexpected error validating %s[%d]@%d: %s", topic, partition, offset, decision.message)
            return self._reject(data, topic, partition, offset, key, decision.reason, decision.message,
                                decision.province, ts_ms, decision.report_id)
        rec, kind, province = decision.record, decision.kind, decision.province
        try:
            entry = FoldEntry(kind, province, rec["report_id"], int(rec["revision"]), rec["period"],
                              None if rec.get("withdrawn") else contribution(kind, rec), ts_ms)
        except Exception as exc:  # process boundary: no input may stop the worker; the record goes to rejected
            log.exception("unexpected error reducing %s[%d]@%d", topic, partition, offset)
            return self._reject(data, topic, partition, offset, key, "internal_error", repr(exc), province, ts_ms,
                                None)
        self.counts["validated"] += 1
        out: list[Record] = []
        fingerprint = decision.decoded.fingerprint
        if fingerprint not in self.seen_schemas:
            self.seen_schemas.add(fingerprint)
            out.append((self.names.schemas, fingerprint, codec.schema_json(fingerprint).encode(), 0))
        out.append((self.names.validated(kind), f"{province}|{rec['report_id']}".encode(), bytes(data),
                    self.partition_of[province]))
        return Routed(out, entry)

    def _reject(self, data: bytes, topic: str, partition: int, offset: int, key: bytes | None, reason: str,
                message: str, province: str | None, ts_ms: int, report_id: str | None) -> Routed:
        self.counts["rejected"] += 1
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
        return Routed(out)



"""Aggregation: validated reports folded by the core into the held provinces' rows and parts.

The fold is pure (core.Hub); this class only decides what to publish when. It returns the state
writes the fold wants, grouped by the validated partition they belong to (the state table's
changelog is co-partitioned with the validated topics and the envelopes), so the caller can persist them
changelog-first (streams/state.py); it never touches Faust.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core import (
    Hub,
    HubConfig,
    Part,
    PublishedTables,
    build_row,
    encode_parts,
    encode_row,
    feedback,
    newly_missing,
    obligation_counts,
)
from core.obligations import ObligationRule
from core.verdicts import REJECTED, encode_verdict, verdict_record
from schemas import codec
from schemas.topics import TopicNames
from streams.records import Record

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    """What one batch asks for: state writes per state partition, then records to publish."""

    writes: dict[int, list[tuple[bytes, bytes]]] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    verdicts: list[tuple[bytes, bytes]] = field(default_factory=list)
    """(key, value) of `<root>.verdicts` records, one per entry, in entry order: sent, and acknowledged,
    before the state writes (docs/exactness.md, invariant V)."""


class Aggregator:
    """Holds the Hub and the last published rows of the provinces this worker holds; one per worker process.

    With several workers in one consumer group, each holds the provinces of its assigned validated
    partitions (`assign`): it publishes their rows, and sends their totals to the national stage
    (`<root>.national-parts`), which alone publishes the 000000 rows. A province it does not hold is
    never published by it (its totals here would be zeros or stale).
    """

    def __init__(self, config: HubConfig, rules: tuple[ObligationRule, ...], names: TopicNames,
                 publish_interval_s: float = 0.2, partition_of: dict[str, int] | None = None) -> None:
        self.config = config
        self.publish_interval_s = publish_interval_s
        self.published_at = 0.0
        self.publish_cost_s = 0.0  # how long the last publish took: the interval is at least 4x that
        self.last_ms = 0
        self.rules = rules
        self.names = names
        self.partition_of = partition_of
        self.held: tuple[str, ...] = ()  # nothing until an assignment and its rebuild
        self.hub = Hub(config, rules, keep_writes=True)
        self.published = PublishedTables()
        self.needs_rebuild = True
        self.ready = False
        self.statuses: dict | None = None
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.counts: collections.Counter[str] = collections.Counter()

    def revoke(self) -> None:
        """Partitions are being taken away: publish nothing until the new assignment is rebuilt."""
        self.ready = False
        self.needs_rebuild = True
        self.held = ()

    def assign(self, partitions: set[int] | None) -> None:
        """The validated partitions this worker now holds (None: all); rows wait for the next `rebuild`."""
        if partitions is None or self.partition_of is None:
            self.held = self.config.provinces
        else:
            self.held = tuple(p for p in self.config.provinces if self.partition_of.get(p) in partitions)
        self.needs_rebuild = True
        self.ready = False

    def rebuild(self, stored: Iterable[tuple[str, bytes]]) -> list[Record]:
        """Fresh Hub from the state table; every held row is republished (without notifications)."""
        hub = Hub(self.config, self.rules, keep_writes=True)
        entries = list(stored)
        hub.load(entries)
        self.hub = hub
        self.published = PublishedTables()
        self.statuses = None  # provinces may have moved between workers: only new deadlines are news
        rows = hub.rows(self.held, national=False)
        changed, _notes = self.published.changes(rows, 0)
        self.needs_rebuild = False
        self.ready = True
        self.counts["rebuilds"] += 1
        log.info("rebuilt totals of %d province(s) from %d stored entries", len(self.held), len(entries))
        return self._row_records(changed)

    def _row_records(self, rows: dict, counts: dict[str, dict[str, int]] | None = None,
                     as_of_ms: int = 0) -> list[Record]:
        """Each changed province row to its table topic, and their totals (parts) to the national stage, all in
        one record: one Faust event there per publish, not per row (one per part made the stage's events
        outnumber the envelopes, and the envelopes queued behind them in Faust's one delivery loop)."""
        out: list[Record] = []
        parts: list[tuple[str, str, Part]] = []
        positions = dict(self.hub.positions)
        for (table, province), row in rows.items():
            out.append((self.names.national(table), province.encode(), encode_row(table, row), None))
            if table == "obligations":
                totals = counts[province] if counts is not None else {}
            else:
                totals = self.hub.province_totals(table, province)
            parts.append((table, province, Part(totals, positions, as_of_ms)))
        if parts:
            out.append((self.names.national_parts, None, encode_parts(parts), 0))
        return out

    def note_records(self, notes: list[dict[str, Any]]) -> list[Record]:
        out: list[Record] = []
        for note in notes:
            self.recent.append(note)
            out.append((self.names.notifications, note["province"].encode(), codec.encode("cshub.Notification", note),
                        None))
            if note["type"] == "OBLIGATION_MET_LATE":
                fb = feedback(note["province"], None, "LATE", "late", note["message"], "", -1, -1, note["event_time"])
                out.append((self.names.feedback(note["province"]), note["subject"].encode(),
                            codec.encode("cshub.Feedback", fb), None))
        return out

    def fold_entries(self, entries: list[list[Any]], now_s: float) -> FoldResult:
        """Apply the entries of one or more envelopes (streams/ingress.py): the state writes they make,
        the verdict of each, and the records to publish. No decoding here: validation reduced each report once.

        Rows are recomputed when `publish_due`, not per batch: with a trickle of small batches,
        recomputing 31 provinces x 5 tables per batch cost more than the records themselves. The
        timer catches up when the stream goes idle.

        An entry is laid out as `streams.validation.ENTRY_FIELDS`: the state write of a report goes to
        the state partition of its validated record (co-partitioned), and only the last write of a key in
        the batch is kept (each is a whole value, so the last one is the state). A rejected record's entry
        (kind None) only gets its verdict.
        """
        hub = self.hub
        apply = hub.apply_entry
        result = FoldResult()
        coalesced: dict[int, dict[bytes, bytes]] = {}
        notes: list[dict[str, Any]] = []
        verdicts = result.verdicts
        last_ms = self.last_ms
        rejected = 0
        for (kind, province, report_id, revision, period, new, ts_ms, topic, partition, offset,
             source, source_partition, source_offset, sha256, key, kid) in entries:
            if kind is None:  # rejected by validation: period holds the reason, new the message
                verdicts.append((source.encode(), encode_verdict(verdict_record(
                    source, source_partition, source_offset, ts_ms, sha256, key, kid, province,
                    self._kind_of(source), report_id, revision, REJECTED, False, period, new))))
                rejected += 1
                continue
            found = apply(kind, province, report_id, revision, period, new, ts_ms, topic, partition, offset)
            if found:
                notes += found
            verdicts.append((source.encode(), encode_verdict(verdict_record(
                source, source_partition, source_offset, ts_ms, sha256, key, kid, province, kind, report_id,
                revision, hub.verdict, hub.late))))
            writes = hub.take_writes()
            if writes:
                into = coalesced.get(partition)
                if into is None:
                    into = coalesced[partition] = {}
                for wkey, value in writes:
                    into[wkey.encode()] = value
            if ts_ms > last_ms:
                last_ms = ts_ms
        self.counts["applied"] += len(entries) - rejected
        self.last_ms = last_ms
        result.writes = {p: list(w.items()) for p, w in coalesced.items()}
        result.records = self.note_records(notes)
        if not self.needs_rebuild and self.publish_due(now_s):
            result.records += self.publish_rows(now_s)
        return result

    def _kind_of(self, topic: str) -> str | None:
        where = self.names.parse_inbound(topic)
        return where[1] if where else None

    def publish_due(self, now_s: float) -> bool:
        """Rows are due every `publish_interval_s`, but publishing takes at most a fifth of the time:
        31 provinces' rows cost milliseconds, which at a 20 ms interval under load would starve the fold."""
        return now_s - self.published_at >= max(self.publish_interval_s, 4 * self.publish_cost_s)

    def publish_rows(self, now_s: float) -> list[Record]:
        """Rows (and parts) of the held provinces changed since the last publish, with their notifications: only
        the tables their reports feed (a funding report leaves the coverage row as it was)."""
        self.published_at = now_s
        held = set(self.held)
        held_dirty = sorted(pair for pair in self.hub.take_dirty() if pair[1] in held)
        if not held_dirty:
            return []
        started = time.perf_counter()
        changed, notes = self.published.changes(self.hub.province_rows(held_dirty), self.last_ms)
        out = self._row_records(changed) + self.note_records(notes)
        self.publish_cost_s = time.perf_counter() - started
        return out

    def deadlines(self, now_ms: int) -> list[Record]:
        """The held provinces' obligations rows (and parts) at `now_ms` that changed, and their notifications."""
        counts, statuses = obligation_counts(self.hub, now_ms, self.held)
        rows = {("obligations", p): build_row("obligations", p, c, self.config, self.hub.positions, now_ms)
                for p, c in counts.items()}
        changed, notes = self.published.changes(rows, now_ms)
        notes += newly_missing(self.statuses, statuses, self.hub, now_ms)  # first start too: ids repeat
        self.statuses = statuses
        return self._row_records(changed, counts, now_ms) + self.note_records(notes)

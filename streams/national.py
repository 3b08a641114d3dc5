"""The national stage: the 000000 rows, from the latest part (totals) of each (table, province).

Runs on the one worker that holds the single partition of `<root>.national-parts`. The parts
live in a Faust table (changelog-backed, written changelog-first like the report state), so a new
owner rebuilds them after a rebalance or a crash. A national row is published only once every
province of the reference data has a part for that table, so a consumer never sees a partial
national row.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable
from typing import Any

from core import (
    NATIONAL,
    REPORT_TABLES,
    HubConfig,
    Part,
    PublishedTables,
    decode_parts,
    encode_part,
    encode_row,
    national_row,
)
from core import part_key as make_part_key
from schemas.topics import TopicNames
from streams.records import Record

log = logging.getLogger(__name__)


class NationalStage:
    """Keeps the latest part per (table, province) and publishes the national rows that changed."""

    def __init__(self, config: HubConfig, names: TopicNames,
                 note_records: Callable[[list[dict[str, Any]]], list[Record]]) -> None:
        self.config = config
        self.names = names
        self.note_records = note_records
        self.parts: dict[tuple[str, str], Part] = {}
        self.published = PublishedTables()
        self.dirty: set[str] = set()
        self.active = False  # holds the parts partition
        self.needs_rebuild = False
        self.counts: collections.Counter[str] = collections.Counter()

    def rebuild(self, stored: Iterable[tuple[bytes, bytes]]) -> list[Record]:
        """Parts from the stage's table; every complete national row is republished (without notifications)."""
        self.parts = {}
        self.published = PublishedTables()
        for _key, value in stored:
            self._take(value)
        self.needs_rebuild = False
        self.counts["rebuilds"] += 1
        rows = self._rows(set(REPORT_TABLES) | {"obligations"})
        changed, _notes = self.published.changes(rows, 0)
        return self._records(changed)

    def _take(self, value: bytes) -> list[tuple[str, str, Part]]:
        """The parts of one value (a stored part, or a parts record of `encode_parts`), each now the latest of
        its (table, province); a value not from our aggregator gives none, loudly."""
        try:
            parts = decode_parts(value)
        except ValueError as exc:
            self.counts["skipped"] += 1
            log.error("skipping a national parts record: %s", exc)
            return []
        for table, province, part in parts:
            self.parts[(table, province)] = part
            self.dirty.add(table)
        return parts

    def fold(self, values: list[bytes], event_ms: int) -> tuple[list[tuple[bytes, bytes]], list[Record]]:
        """Take a batch of parts records (`encode_parts`; latest part per key wins); the state writes (one per
        part, coalesced), and the national rows that changed."""
        writes: dict[bytes, bytes] = {}
        for value in values:
            parts = self._take(value)
            for table, province, part in parts:
                writes[make_part_key(table, province)] = encode_part(table, province, part)  # only the latest
            self.counts["parts"] += len(parts)
        dirty, self.dirty = self.dirty, set()
        changed, notes = self.published.changes(self._rows(dirty), event_ms)
        return list(writes.items()), self._records(changed) + self.note_records(notes)

    def _rows(self, tables: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
        out = {}
        for table in sorted(tables):
            parts = [self.parts.get((table, p)) for p in self.config.provinces]
            if any(part is None for part in parts):
                continue  # not every province has reported its totals yet: no partial national row
            out[(table, NATIONAL)] = national_row(table, parts, self.config)  # type: ignore[arg-type]
        return out

    def _records(self, rows: dict) -> list[Record]:
        return [(self.names.national(table), province.encode(), encode_row(table, row), None)
                for (table, province), row in rows.items()]

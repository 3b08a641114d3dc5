"""The fold: validated reports in, per-report state and per-province totals out.

`Hub.apply` is the one function both shells call per record: the live worker over each batch,
the auditor over every record in offset order. Its state is

- per report (kind, province, report id): the latest revision and its contribution
  (None once withdrawn). A revision not above the stored one changes nothing, so a duplicate,
  an older revision or an at-least-once redelivery is a no-op: the state is idempotent without
  any transaction.
- per (province, kind, period): the earliest timestamp of a valid report (the deadline ledger).
  A min, so again idempotent.
- per province: running totals (`ProvinceTotals`), a pure function of the per-report state,
  kept up to date by delta and rebuildable from the stored entries (`Hub.load`).

With `keep_writes=True` every state change is also kept as a (key, compact bytes) write, which
`take_writes()` hands out: the live worker persists them (one write per applied report, to the
changelog first: streams/state.py) and rebuilds after a crash by `Hub.load`ing the entries. The
fold itself never does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from core.config import HubConfig
from core.contributions import Contribution, contribution
from core.national import NATIONAL, Part, national_row
from core.notify import Notification, notification, record_anomalies
from core.obligations import ObligationRule
from core.rows import Offsets, Row, build_row
from core.totals import ProvinceTotals
from core.verdicts import ACCEPTED, DUPLICATE, SUPERSEDED
from schemas.beijing import show_minute
from schemas.tables import TABLES_OF_KIND
from schemas.topics import REPORT_TABLES

__all__ = ["NATIONAL", "Hub", "received_key", "report_key"]
_SEP = "|"

def report_key(kind: str, province: str, report_id: str) -> str:
    """Store key of one report's state."""
    return f"r{_SEP}{kind}{_SEP}{province}{_SEP}{report_id}"


def received_key(province: str, kind: str, period: str) -> str:
    """Store key of the earliest arrival of a (province, kind, period)."""
    return f"o{_SEP}{province}{_SEP}{kind}{_SEP}{period}"


def _dump(value: list[Any]) -> bytes:
    """Compact JSON of a state value (orjson: ~20x json.dumps; the same text for these lists of str/int/None)."""
    return orjson.dumps(value)


class Hub:
    """The whole state of the national tables; feed it validated records, read rows out."""

    def __init__(self, config: HubConfig, rules: tuple[ObligationRule, ...] = (),
                 keep_writes: bool = False) -> None:
        self.config = config
        self.rules = {r.kind: r for r in rules}
        self.writes: list[tuple[str, bytes]] | None = [] if keep_writes else None
        self.standard_centi = int(config.targets.floor_area_per_100_households.value * 100)
        self.entries: dict[str, list[Any]] = {}  # report key -> [revision, contribution | None]
        self.received: dict[tuple[str, str, str], int] = {}  # (province, kind, period) -> earliest ms
        self.totals: dict[str, ProvinceTotals] = {p: ProvinceTotals() for p in config.provinces}
        self.positions: Offsets = {}  # (topic, partition) -> next offset reflected
        self.dirty: set[tuple[str, str]] = {(t, p) for t in REPORT_TABLES for p in config.provinces}
        """(table, province) rows that may have changed: only the tables a report's kind feeds (TABLES_OF_KIND)."""
        self.verdict = ACCEPTED  # what the last `apply_entry` made of its report (`core.verdicts`)
        self.late = False  # whether that report was the first of its period, after the period's due time

    def apply(self, kind: str, record: dict[str, Any], ts_ms: int, topic: str, partition: int,
              offset: int) -> list[Notification]:
        """Fold one validated record (decoded dict of report `kind`) at input position (topic, partition, offset).

        `ts_ms` is the record's Kafka timestamp (ms): the arrival time the deadline ledger uses.
        Returns per-record notifications (anomalies, a period met late); usually [].
        Afterwards `verdict` says whether the report was accepted (a new latest revision), a duplicate (its
        revision was already applied) or superseded (a later one was), and `late` whether it met its period late.
        """
        new = None if record.get("withdrawn") else contribution(kind, record)
        return self.apply_entry(kind, record["province"], record["report_id"], int(record["revision"]),
                                record["period"], new, ts_ms, topic, partition, offset)

    def apply_entry(self, kind: str, province: str, report_id: str, revision: int, period: str,
                    new: Contribution | None, ts_ms: int, topic: str, partition: int,
                    offset: int) -> list[Notification]:
        """`apply` for a report already reduced to its key fields and contribution (None: withdrawn).

        The live worker's validation computes the contribution once and hands the aggregation these
        fields (streams/ingress.py); the auditor goes through `apply`. Same fold either way.
        """
        tp = (topic, partition)
        if offset >= self.positions.get(tp, 0):
            self.positions[tp] = offset + 1
        notes: list[Notification] = []
        rkey = (province, kind, period)
        earliest = self.received.get(rkey)
        self.late = False
        if earliest is None or ts_ms < earliest:
            self.received[rkey] = ts_ms
            if self.writes is not None:
                self.writes.append((received_key(*rkey), _dump([ts_ms, topic, partition, offset])))
            if earliest is None:
                late = self._late(rkey, ts_ms)
                if late:
                    self.late = True
                    notes.extend(late)
        key = report_key(kind, province, report_id)
        old = self.entries.get(key)
        if old is not None and old[0] >= revision:
            self.verdict = DUPLICATE if old[0] == revision else SUPERSEDED
            return notes  # duplicate or older revision: latest revision wins
        self.verdict = ACCEPTED
        totals = self.totals.get(province)
        if totals is None:
            totals = self.totals[province] = ProvinceTotals()
        if old is not None and old[1] is not None:
            totals.apply(kind, report_id, old[1], -1, self.standard_centi)
        if new is not None:
            totals.apply(kind, report_id, new, 1, self.standard_centi)
        self.entries[key] = [revision, new]
        if self.writes is not None:
            self.writes.append((key, _dump([revision, new, topic, partition, offset])))
        for table in TABLES_OF_KIND[kind]:
            self.dirty.add((table, province))
        notes.extend(record_anomalies(kind, province, report_id, revision, new, self.standard_centi, ts_ms))
        return notes

    def _late(self, rkey: tuple[str, str, str], ts_ms: int) -> list[Notification]:
        province, kind, period = rkey
        rule = self.rules.get(kind)
        if rule is None or period < rule.first_period:
            return []
        due = rule.due_ms(period)
        if ts_ms < due:
            return []
        return [notification(
            "OBLIGATION_MET_LATE", province, f"{kind}:{period}",
            f"{province} reported {kind} for {period} late: due {show_minute(due)}, first report at "
            f"{show_minute(ts_ms)} (Beijing time)",
            ts_ms, table="obligations", value=str(ts_ms), target=str(due), id_suffix="late")]

    def load(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Rebuild from stored entries (as handed out by `take_writes`), e.g. a Faust table after recovery.

        Adds to the current state; call on a fresh Hub. Entries are independent, so order does not matter.
        """
        for key, raw in items:
            value = orjson.loads(raw)
            kind_tag, rest = key.split(_SEP, 1)
            if kind_tag == "o":
                province, kind, period = rest.split(_SEP, 2)
                ts, topic, partition, offset = value
                rkey = (province, kind, period)
                if rkey not in self.received or ts < self.received[rkey]:
                    self.received[rkey] = ts
            elif kind_tag == "r":
                kind, province, report_id = rest.split(_SEP, 2)
                revision, new, topic, partition, offset = value
                self.entries[key] = [revision, new]
                if new is not None:
                    totals = self.totals.setdefault(province, ProvinceTotals())
                    totals.apply(kind, report_id, new, 1, self.standard_centi)
                self.dirty.update((table, province) for table in TABLES_OF_KIND[kind])
            else:
                raise ValueError(f"unknown state key {key!r}: expected r|... or o|...")
            tp = (topic, partition)
            if offset + 1 > self.positions.get(tp, 0):
                self.positions[tp] = offset + 1

    def take_writes(self) -> list[tuple[str, bytes]]:
        """The state writes made since the last call (always [] unless built with `keep_writes=True`)."""
        if not self.writes:
            return []
        writes, self.writes = self.writes, []
        return writes

    def province_totals(self, table: str, province: str) -> dict[str, int]:
        totals = self.totals.get(province) or ProvinceTotals()
        return totals.table_totals(table, self.config.policy_items)

    def province_rows(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Row]:
        """The rows of these (table, province) pairs alone (no national row): what a worker republishes."""
        return {(table, p): build_row(table, p, self.province_totals(table, p), self.config, self.positions)
                for table, p in pairs}

    def rows(self, provinces: Iterable[str] | None = None, tables: tuple[str, ...] = REPORT_TABLES,
             national: bool = True) -> dict[tuple[str, str], Row]:
        """Rows (table, province) -> row for `provinces` (default all) and the national row (000000).

        The national row is `core.national_row` over every province's totals (a part each), i.e.
        from the province rows, so it is always consistent with them. `national=False` leaves it
        out: a worker holding only some provinces sends their parts to the national stage instead.
        """
        wanted = list(self.totals) if provinces is None else list(provinces)
        out: dict[tuple[str, str], Row] = {}
        for table in tables:
            if not national:
                for p in wanted:
                    out[(table, p)] = build_row(table, p, self.province_totals(table, p), self.config,
                                                self.positions)
                continue
            per = {p: self.province_totals(table, p) for p in self.totals}
            for p in wanted:
                out[(table, p)] = build_row(table, p, per[p], self.config, self.positions)
            out[(table, NATIONAL)] = national_row(table, [Part(t, self.positions) for t in per.values()],
                                                  self.config)
        return out

    def take_dirty(self) -> set[tuple[str, str]]:
        """(table, province) rows changed since the last call (every report table's row after construction)."""
        dirty, self.dirty = self.dirty, set()
        return dirty

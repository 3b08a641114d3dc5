"""Where a number comes from: every revision of every report, with its Kafka coordinates, and the share
of each report in a table cell.

`Provenance.observe` is called with each validated record, next to `Hub.apply` (same arguments), and
remembers every revision seen. `explain(hub, provenance, table, province)` lists, for each report that
counts in the province's row (or every province's, for 000000), the revision in force, its period and
coordinates and its share of each additive field (`core.reconcile.ADDITIVE`), and the revisions that do
not count (superseded, duplicates, arrived after a newer one, withdrawn). The shares sum exactly to the
row's cells: a report's share is the row `build_row` makes of that report alone, except where a row is
not a sum over reports (a community with two facilities counts once: the first report by id has it;
the denominators and policy items come from the current policy report only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.contributions import IN_SERVICE, Contribution
from core.hub import Hub, report_key
from core.national import NATIONAL
from core.reconcile import additive_values
from core.rows import build_row
from core.totals import ProvinceTotals
from schemas.topics import Kind

TABLE_KINDS: dict[str, tuple[Kind, ...]] = {
    "coverage": ("facility", "policy"), "facilities": ("facility",), "funding": ("funding",),
    "policy": ("policy",), "services": ("policy",),
}
"""Which report kinds each report table is computed from."""

NOT_FROM_REPORTS: frozenset[str] = frozenset({"urban_excess", "rural_excess", "units"})
"""Additive fields that are not sums over reports: the surplus over a cap, and the one unit a province is."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One revision of a report as it arrived: where (topic, partition, offset) and when (ts_ms)."""

    revision: int
    period: str
    withdrawn: bool
    ts_ms: int
    topic: str
    partition: int
    offset: int

    def coordinates(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass
class Provenance:
    """Every revision of every report, by report key (`core.report_key`), in arrival order."""

    seen: dict[str, list[Seen]] = field(default_factory=dict)
    kinds: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # key -> (kind, province, report id)

    def observe(self, kind: str, record: dict[str, Any], ts_ms: int, topic: str, partition: int,
                offset: int) -> None:
        key = report_key(kind, record["province"], record["report_id"])
        self.kinds[key] = (kind, record["province"], record["report_id"])
        self.seen.setdefault(key, []).append(Seen(int(record["revision"]), str(record["period"]),
                                                  bool(record.get("withdrawn")), ts_ms, topic, partition, offset))


def _fate(seen: Seen, in_force: int, withdrawn: bool, first_of_revision: bool) -> str:
    if seen.revision == in_force:
        if withdrawn:
            return "withdrawal in force: the report counts for nothing"
        return "in force" if first_of_revision else "duplicate of the revision in force (no effect)"
    if seen.revision < in_force:
        return f"superseded by revision {in_force}"
    return "ignored"  # cannot happen: the in-force revision is the highest seen


def explain(hub: Hub, provenance: Provenance, table: str, province: str,
            only_field: str | None = None) -> dict[str, Any]:
    """The reports behind each additive cell of (table, province): a JSON-ready dict.

    {"table", "province", "cells": {field: value}, "reports": [{"report_id", "kind", "province",
    "revision", "period", "coordinates", "arrived_ms", "shares": {field: value}, "note", "revisions":
    [{"revision", "period", "coordinates", "arrived_ms", "fate"}]}], "not_counted": [...same, no shares]}
    """
    if table not in TABLE_KINDS:
        raise ValueError(f"table {table!r} is not computed from reports; expected one of {sorted(TABLE_KINDS)}")
    provinces = set(hub.config.provinces) | set(hub.totals) if province == NATIONAL else {province}
    row = hub.rows([province] if province != NATIONAL else [], (table,))[(table, province)]
    cells = {k: v for k, v in additive_values(table, row).items() if k.split(".")[-1] not in NOT_FROM_REPORTS
             and k not in NOT_FROM_REPORTS}
    if only_field is not None:
        if only_field not in cells:
            raise ValueError(f"{table} has no field {only_field!r} that sums over reports; choose one of"
                             f" {', '.join(cells)}")
        cells = {only_field: cells[only_field]}
    counted: list[dict[str, Any]] = []
    not_counted: list[dict[str, Any]] = []
    for p in sorted(provinces):
        counted_p, not_counted_p = _province_reports(hub, provenance, table, p, set(cells))
        counted += counted_p
        not_counted += not_counted_p
    return {"table": table, "province": province, "cells": cells, "reports": counted, "not_counted": not_counted}


def _province_reports(hub: Hub, provenance: Provenance, table: str, province: str,
                      fields: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    standard = hub.standard_centi
    items = hub.config.policy_items
    kinds = TABLE_KINDS[table]
    totals = hub.totals.get(province) or ProvinceTotals()
    policies = totals.policy_reports
    current_policy = max(policies, key=lambda r: (policies[r][0], r)) if policies else None  # as ProvinceTotals
    covered_by: dict[tuple[str, str], str] = {}  # (area, community) -> first report id with it in service
    keys = sorted(k for k, (kind, p, _rid) in provenance.kinds.items() if p == province and kind in kinds)
    for key in keys:
        kind, _p, rid = provenance.kinds[key]
        entry = hub.entries.get(key)
        if kind == "facility" and entry is not None and entry[1] is not None and entry[1][1] in IN_SERVICE:
            covered_by.setdefault((entry[1][0], entry[1][4]), rid)
    counted, not_counted = [], []
    for key in keys:
        kind, _p, rid = provenance.kinds[key]
        entry = hub.entries.get(key)
        if entry is None:
            continue
        in_force, contribution = int(entry[0]), entry[1]
        revisions, current, first = [], None, True
        for seen in provenance.seen[key]:
            fate = _fate(seen, in_force, contribution is None, first)
            if seen.revision == in_force and first:
                current, first = seen, False
            revisions.append({"revision": seen.revision, "period": seen.period, "coordinates": seen.coordinates(),
                              "arrived_ms": seen.ts_ms, "fate": fate})
        line: dict[str, Any] = {"report_id": rid, "kind": kind, "province": province, "revision": in_force,
                                "period": current.period if current else "",
                                "arrived_ms": current.ts_ms if current else 0,
                                "coordinates": current.coordinates() if current else "", "revisions": revisions}
        note = ""
        if contribution is None:
            line["note"] = "withdrawn"
            not_counted.append(line)
            continue
        if kind == "policy" and rid != current_policy:
            line["note"] = "not the current policy report (a later period's report is)"
            not_counted.append(line)
            continue
        shares = _shares(table, province, kind, rid, contribution, standard, items, hub)
        if kind == "facility" and contribution[1] in IN_SERVICE:
            first_id = covered_by.get((contribution[0], contribution[4]))
            if first_id != rid:
                area = "urban" if contribution[0] == "U" else "rural"
                shares[f"{area}_covered"] = 0
                note = f"community {contribution[4]} is already counted as covered by {first_id}"
        line["shares"] = {k: v for k, v in shares.items() if k in fields}
        if not any(line["shares"].values()):
            line["note"] = note or "adds nothing to these cells" + (f" (status {contribution[1]})"
                                                                   if kind == "facility" else "")
            del line["shares"]
            not_counted.append(line)
            continue
        line["note"] = note
        counted.append(line)
    return counted, not_counted


def _shares(table: str, province: str, kind: str, report_id: str, contribution: Contribution, standard: int,
            items: tuple[str, ...], hub: Hub) -> dict[str, int | Decimal]:
    alone = ProvinceTotals()
    alone.apply(kind, report_id, contribution, 1, standard)
    totals = alone.table_totals(table, items)
    if table == "policy":
        totals["units"] = 0
    row = build_row(table, province, totals, hub.config, {})
    return additive_values(table, row)

"""The national tables, once: each table's name, its row schema, and the target flags its rows carry.

Everything that needs "which tables are there" looks here: the topic plan (`cshub.national.<table>`),
the core (`core.rows` builds and encodes the rows, `core.notify` watches the flags), the auditor, the
subscriber and the CLI's `--table` choices. How a table's values are computed is the core's
(`core/totals.py` sums the contributions, `core/rows.py` turns totals into the row).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A national table: `cshub.national.<name>`, rows `row_schema`, `met_flags` the row's target flags."""

    name: str
    row_schema: str
    met_flags: tuple[str, ...]
    kinds: tuple[str, ...]
    """The report kinds its rows are folded from: a report of another kind leaves them as they are, so they are
    not rebuilt for it (`core.Hub` marks only these dirty). Empty for `obligations`: its rows come from the
    deadlines (wall-clock), not from folding reports."""

    @property
    def from_reports(self) -> bool:
        return bool(self.kinds)


TABLE_LIST: tuple[Table, ...] = (
    Table("coverage", "cshub.CoverageRow", ("urban_met", "rural_met"), ("facility", "policy")),
    Table("facilities", "cshub.FacilitiesRow", ("floor_area_met",), ("facility",)),
    Table("funding", "cshub.FundingRow", ("consistent",), ("funding",)),
    Table("policy", "cshub.PolicyRow", ("solution_met",), ("policy",)),
    Table("services", "cshub.ServicesRow", ("big_city_care_met", "visit_met"), ("policy",)),
    Table("obligations", "cshub.ObligationsRow", ("met",), ()),
)
"""coverage (urban/rural facility coverage), facilities (by status, area standard), funding (by source),
policy (items by status), services (big-city elderly-care/childcare coverage, monthly visit rate),
obligations (reporting deadlines: on time, late, missing)."""

TABLES: tuple[str, ...] = tuple(t.name for t in TABLE_LIST)
"""The national progress tables, each a compacted topic `cshub.national.<table>` keyed by province."""

REPORT_TABLES: tuple[str, ...] = tuple(t.name for t in TABLE_LIST if t.from_reports)
"""The tables folded from the reports (`core.rows`); `obligations` comes from the deadlines instead."""

ROW_SCHEMAS: dict[str, str] = {t.name: t.row_schema for t in TABLE_LIST}
"""Avro schema of each national table's rows."""

TABLES_OF_KIND: dict[str, tuple[str, ...]] = {
    kind: tuple(t.name for t in TABLE_LIST if kind in t.kinds) for t0 in TABLE_LIST for kind in t0.kinds}
"""The tables a report of each kind feeds (facility: coverage, facilities; funding: funding; policy: coverage,
policy, services)."""

MET_FLAGS: dict[str, tuple[str, ...]] = {t.name: t.met_flags for t in TABLE_LIST}
"""The target flags of each table: a change of one of them is a notification."""

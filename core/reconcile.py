"""Reconciliation rules: the consistency a table row (or a whole table) must have, as data.

Each `Rule` names a code, the table it belongs to, what it states and how it is checked against the
integer totals a row is built from. `core.rows.build_row` writes the codes of the rules a row breaks
into its `breaches` field (the row flag), and `core.notify.row_changes` sends a RECONCILIATION_BREACH
notification when a code newly appears (on the change, like targets). A breach is shown, never hidden:
coverage is capped at 100 % for the met flag and the national row, and the surplus is kept in
`urban_excess` / `rural_excess`.

The national row equals the sum of the provinces by construction in the core (`core.national_row`);
`national_sum_breaches` checks it on a set of *published* rows, where a lost or stale row would show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Row = dict[str, Any]
Totals = Mapping[str, int]

NATIONAL = "000000"


@dataclass(frozen=True, slots=True)
class Rule:
    """One reconciliation rule: `broken(totals)` is None while it holds, else what is wrong (for people)."""

    code: str
    table: str
    statement: str
    broken: Callable[[Totals], str | None]


def _covered(area: str) -> Callable[[Totals], str | None]:
    def broken(t: Totals) -> str | None:
        covered, communities = t.get(f"{area}_covered", 0), t.get(f"{area}_communities", 0)
        if covered <= communities:
            return None
        return (f"{covered} {area} communities have a facility in service but the policy report counts"
                f" {communities}: {covered - communities} too many; coverage is capped at 100 %")
    return broken


def _disbursed(t: Totals) -> str | None:
    over = [k.split(":")[0] for k in t if k.endswith(":allocated_fen")
            if t.get(k.replace(":allocated_fen", ":disbursed_fen"), 0) > t[k]]
    reports = t.get("exceeding", 0)
    if not over and not reports:
        return None
    return (f"more disbursed than allocated: {reports} funding report(s)"
            + (f"; sources {', '.join(over)} in total" if over else ""))


def _facilities(t: Totals) -> str | None:
    facilities = t.get("facilities", 0)
    communities = t.get("urban_communities", 0) + t.get("rural_communities", 0)
    if facilities <= communities:
        return None
    return (f"{facilities} facilities reported but the policy report's denominators count {communities}"
            " communities (one facility per community): the denominators are stale or facilities double-counted")


RULES: tuple[Rule, ...] = (
    Rule("URBAN_COVERED_WITHIN_COMMUNITIES", "coverage",
         "urban communities covered <= urban communities of the policy report", _covered("urban")),
    Rule("RURAL_COVERED_WITHIN_COMMUNITIES", "coverage",
         "rural communities covered <= rural communities of the policy report", _covered("rural")),
    Rule("FACILITIES_WITHIN_DENOMINATORS", "coverage",
         "facilities reported <= communities (urban + rural) of the policy report's denominators", _facilities),
    Rule("DISBURSED_WITHIN_ALLOCATED", "funding",
         "disbursed <= allocated, for every report and every source", _disbursed),
)
"""Every row rule. `national_sum_breaches` is the table-wide one (NATIONAL_EQUALS_SUM)."""

RULE_TABLES: frozenset[str] = frozenset(r.table for r in RULES)
"""Tables whose rows have a `breaches` field (schema v2)."""


def row_breaches(table: str, totals: Totals) -> list[tuple[Rule, str]]:
    """(rule, what is wrong) for each rule of `table` its totals break."""
    out = []
    for rule in RULES:
        if rule.table == table:
            found = rule.broken(totals)
            if found is not None:
                out.append((rule, found))
    return out


ADDITIVE: dict[str, tuple[str, ...]] = {
    "coverage": ("urban_communities", "urban_covered", "urban_excess", "rural_communities", "rural_covered",
                 "rural_excess"),
    "facilities": ("planned", "under_construction", "completed", "operating", "total", "in_service_households",
                   "in_service_floor_area_m2", "meeting_standard", "below_standard"),
    "funding": ("allocated_yuan", "disbursed_yuan", "disbursed_exceeds_allocated", "sources[*].reports",
                "sources[*].allocated_yuan", "sources[*].disbursed_yuan"),
    "policy": ("units", "reporting_units", "completed_items", "solution_units", "items[*].not_started",
               "items[*].in_progress", "items[*].completed"),
    "services": ("big_city_communities", "big_city_communities_with_care", "special_difficulty_elderly",
                 "special_difficulty_elderly_visited"),
    "obligations": ("owed", "on_time", "late", "missing", "pending"),
}
"""The fields of each table that are sums over provinces (and over reports): `items[*].x` is field x of
every list item, named by its `source` or `code`. Ratios, targets and flags are not sums."""


def additive_values(table: str, row: Row) -> dict[str, int | Decimal]:
    """The additive fields of a row as flat names (`sources[SPECIAL_BOND].allocated_yuan`) -> value."""
    out: dict[str, int | Decimal] = {}
    for name in ADDITIVE[table]:
        if "[*]." not in name:
            if name in row:
                out[name] = row[name]
            continue
        listname, field = name.split("[*].")
        for item in row.get(listname, ()):
            label = item.get("source") or item.get("code")
            out[f"{listname}[{label}].{field}"] = item[field]
    return out


def national_sum_breaches(table: str, rows: Mapping[str, Row], event_ms: int = 0) -> list[dict[str, Any]]:
    """NATIONAL_EQUALS_SUM on published rows of one table (province -> row): one notification per field
    whose national value differs from the sum of the province rows, or [] when it holds (or no national row)."""
    from core.notify import notification

    national = rows.get(NATIONAL)
    if national is None:
        return []
    sums: dict[str, int | Decimal] = {}
    for province, row in rows.items():
        if province == NATIONAL:
            continue
        for name, value in additive_values(table, row).items():
            sums[name] = sums.get(name, 0) + value
    out = []
    for name, value in additive_values(table, national).items():
        total = sums.get(name, 0)
        if value != total:
            out.append(notification(
                "RECONCILIATION_BREACH", NATIONAL, f"{table}.{name}",
                f"{table}: national {name} is {value} but the provinces' rows sum to {total}", event_ms,
                table=table, value=str(value), target=str(total), id_suffix="NATIONAL_EQUALS_SUM"))
    return out


def breach_changes(table: str, old: Row | None, new: Row, event_ms: int = 0) -> list[dict[str, Any]]:
    """RECONCILIATION_BREACH for each rule code newly in `new['breaches']` (not in `old`'s): on the change."""
    from core.notify import notification

    before = set((old or {}).get("breaches") or ())
    province = new["province"]
    out = []
    for code in new.get("breaches") or ():
        if code in before:
            continue
        rule = next(r for r in RULES if r.code == code)
        shown = ", ".join(f"{name}={new[name]}" for name in _SHOWN.get(code, ()) if name in new)
        out.append(notification("RECONCILIATION_BREACH", province, f"{table}.{code}",
                                f"{table} of {province} breaks the rule {rule.statement} ({shown})", event_ms,
                                table=table, id_suffix="breach"))
    return out


_SHOWN: dict[str, tuple[str, ...]] = {  # the row fields a breach notification quotes
    "URBAN_COVERED_WITHIN_COMMUNITIES": ("urban_covered", "urban_communities", "urban_excess"),
    "RURAL_COVERED_WITHIN_COMMUNITIES": ("rural_covered", "rural_communities", "rural_excess"),
    "FACILITIES_WITHIN_DENOMINATORS": ("urban_communities", "rural_communities"),
    "DISBURSED_WITHIN_ALLOCATED": ("allocated_yuan", "disbursed_yuan", "disbursed_exceeds_allocated"),
}

"""Table rows from totals: values, targets and met flags, plus the input offsets they reflect.

A row is a plain dict matching its Avro schema (`schemas/avro/cshub.<Table>Row.v1.avsc`): money
and areas as Decimal (scale 2), ratios as Decimal (scale 4, half-even, None when the denominator
is 0), counts as int. `offsets` lists, sorted, the next offset of each input partition the row
reflects: the row equals the core's result over every input record before those offsets.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from core.config import HubConfig
from core.contributions import FUNDING_SOURCES, POLICY_STATUSES
from core.reconcile import RULE_TABLES, row_breaches
from schemas.tables import MET_FLAGS, ROW_SCHEMAS

__all__ = ["MET_FLAGS", "ROW_SCHEMAS", "build_row", "encode_row", "row_values"]


"""Tables computed from reports; `obligations` is computed from the deadline ledger and a time."""

Row = dict[str, Any]
Offsets = dict[tuple[str, int], int]

_RATIO = Decimal("0.0001")
_CENT = Decimal("0.01")


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator to 4 decimals, half-even; None when the denominator is 0."""
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(_RATIO, rounding=ROUND_HALF_EVEN)


def from_hundredths(value: int) -> Decimal:
    """Integer fen (or centi-m²) as a scale-2 Decimal."""
    return Decimal(value).scaleb(-2).quantize(_CENT)


def offsets_list(offsets: Offsets) -> list[dict[str, Any]]:
    """The `offsets` field: sorted by topic and partition, so rows serialise deterministically."""
    return [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(offsets.items())]


def build_row(table: str, province: str, totals: dict[str, int], config: HubConfig,
              offsets: Offsets, as_of_ms: int = 0) -> Row:
    """The row of `table` for `province` (or 000000) from its totals. Pure and deterministic."""
    t = config.targets
    g = totals.get
    row: Row = {"province": province}
    if table == "coverage":
        # Coverage and its met flag use covered capped at the communities (core.reconcile); the surplus is
        # `*_excess` and a breach, so 82 covered of 78 reads 100 %, flagged, and adds 78 to the national row.
        urban_capped = g("urban_capped", min(g("urban_covered", 0), g("urban_communities", 0)))
        rural_capped = g("rural_capped", min(g("rural_covered", 0), g("rural_communities", 0)))
        urban = ratio(urban_capped, g("urban_communities", 0))
        rural = ratio(rural_capped, g("rural_communities", 0))
        row.update(
            urban_communities=g("urban_communities", 0), urban_covered=g("urban_covered", 0),
            urban_coverage=urban, urban_target=t.urban_coverage.value, urban_met=t.urban_coverage.met(urban),
            rural_communities=g("rural_communities", 0), rural_covered=g("rural_covered", 0),
            rural_coverage=rural, rural_target=t.rural_coverage.value, rural_met=t.rural_coverage.met(rural),
            urban_excess=g("urban_covered", 0) - urban_capped, rural_excess=g("rural_covered", 0) - rural_capped)
    elif table == "facilities":
        households = g("in_service_households", 0)
        area = g("in_service_area_centi", 0)
        in_service = g("completed", 0) + g("operating", 0)
        per_100 = ratio(area, households)  # centi-m² per household == m² per 100 households
        per_100 = per_100.quantize(_CENT, rounding=ROUND_HALF_EVEN) if per_100 is not None else None
        target = t.floor_area_per_100_households
        target_centi = int(target.value * 100)
        exact_met = households > 0 and (area * 100 > target_centi * households if target.strict
                                        else area * 100 >= target_centi * households)
        row.update(
            planned=g("planned", 0), under_construction=g("under_construction", 0), completed=g("completed", 0),
            operating=g("operating", 0),
            total=g("planned", 0) + g("under_construction", 0) + in_service,
            in_service_households=households, in_service_floor_area_m2=from_hundredths(area),
            floor_area_per_100_households=per_100, floor_area_target=target.value, floor_area_met=exact_met,
            meeting_standard=g("meeting_standard", 0), below_standard=in_service - g("meeting_standard", 0),
            meeting_standard_share=ratio(g("meeting_standard", 0), in_service))
    elif table == "funding":
        sources = []
        alloc_total = disb_total = 0
        for source in FUNDING_SOURCES:
            alloc = g(f"{source}:allocated_fen", 0)
            disb = g(f"{source}:disbursed_fen", 0)
            alloc_total += alloc
            disb_total += disb
            sources.append({"source": source, "reports": g(f"{source}:reports", 0),
                            "allocated_yuan": from_hundredths(alloc), "disbursed_yuan": from_hundredths(disb),
                            "disbursement_rate": ratio(disb, alloc)})
        row.update(sources=sources, allocated_yuan=from_hundredths(alloc_total),
                   disbursed_yuan=from_hundredths(disb_total), disbursement_rate=ratio(disb_total, alloc_total),
                   disbursed_exceeds_allocated=g("exceeding", 0), consistent=g("exceeding", 0) == 0)
    elif table == "policy":
        items: list[dict[str, Any]] = []
        for code in config.policy_items:
            counts = {s.lower(): g(f"{code}:{s}", 0) for s in POLICY_STATUSES}
            items.append({"code": code, **counts})
        units = g("units", 0)
        solution = g(f"{t.solution_item}:COMPLETED", 0)
        row.update(items=items, units=units, reporting_units=g("reporting_units", 0),
                   completed_items=sum(int(i["completed"]) for i in items), solution_units=solution,
                   solution_target=units, solution_met=units > 0 and solution >= units)
    elif table == "services":
        care = ratio(g("big_city_communities_with_care", 0), g("big_city_communities", 0))
        visits = ratio(g("special_difficulty_elderly_visited", 0), g("special_difficulty_elderly", 0))
        row.update(
            big_city_communities=g("big_city_communities", 0),
            big_city_communities_with_care=g("big_city_communities_with_care", 0),
            big_city_care_coverage=care, big_city_care_target=t.big_city_care_coverage.value,
            big_city_care_met=t.big_city_care_coverage.met(care),
            special_difficulty_elderly=g("special_difficulty_elderly", 0),
            special_difficulty_elderly_visited=g("special_difficulty_elderly_visited", 0),
            visit_rate=visits, visit_target=t.visit_rate.value, visit_met=t.visit_rate.met(visits))
    elif table == "obligations":
        row.update(as_of=as_of_ms, owed=g("owed", 0), on_time=g("on_time", 0), late=g("late", 0),
                   missing=g("missing", 0), pending=g("pending", 0),
                   on_time_rate=ratio(g("on_time", 0), g("on_time", 0) + g("late", 0) + g("missing", 0)),
                   met=g("late", 0) == 0 and g("missing", 0) == 0)
    else:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(ROW_SCHEMAS)}")
    if table in RULE_TABLES:
        row["breaches"] = [rule.code for rule, _what in row_breaches(table, totals)]
    row["offsets"] = offsets_list(offsets)
    return row




def row_values(row: Row) -> Row:
    """A row without its `offsets` (and `as_of`): what two rows reflecting the same inputs share."""
    return {k: v for k, v in row.items() if k not in ("offsets", "as_of")}


def encode_row(table: str, row: Row) -> bytes:
    """The row as Avro single-object bytes (its table's schema): deterministic, so rows compare byte for byte."""
    from schemas import codec

    return codec.encode(ROW_SCHEMAS[table], row)

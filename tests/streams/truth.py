"""Ground truth for the worker tests, computed here independently of core/ (plain group-bys)."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

NATIONAL = "000000"


def _ratio(a: int, b: int) -> Decimal | None:
    return (Decimal(a) / Decimal(b)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN) if b else None


def latest(records: list[tuple[str, dict[str, Any]]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The highest revision of each (kind, province, report id) that is not withdrawn."""
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for kind, rec in records:
        key = (kind, rec["province"], rec["report_id"])
        if key not in best or rec["revision"] > best[key]["revision"]:
            best[key] = rec
    return {k: v for k, v in best.items() if not v["withdrawn"]}


def expected(records: list[tuple[str, dict[str, Any]]], provinces: list[str],
             items: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(table, province): {field: value}} for the fields the tests compare, national row included."""
    live = latest(records)
    by_prov: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for (kind, province, _rid), rec in live.items():
        by_prov[province][kind].append(rec)
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for p in provinces:
        fac = by_prov[p]["facility"]
        in_service = [r for r in fac if r["status"] in ("COMPLETED", "OPERATING")]
        pol = max(by_prov[p]["policy"], key=lambda r: (r["period"], r["report_id"]), default=None)
        ind = pol["indicators"] if pol else defaultdict(int)
        status = {i["code"]: i["status"] for i in pol["items"]} if pol else {}
        urban = {r["community_code"] for r in in_service if r["area_type"] == "URBAN"}
        rural = {r["community_code"] for r in in_service if r["area_type"] == "RURAL"}
        sums[("coverage", p)] = {"urban_communities": ind["urban_communities"], "urban_covered": len(urban),
                                 "rural_communities": ind["rural_communities"], "rural_covered": len(rural),
                                 # coverage is capped at 100 % per province (reconciliation rule; docs/domain.md)
                                 "urban_capped": min(len(urban), ind["urban_communities"]),
                                 "rural_capped": min(len(rural), ind["rural_communities"])}
        sums[("facilities", p)] = {
            **{s.lower(): sum(1 for r in fac if r["status"] == s)
               for s in ("PLANNED", "UNDER_CONSTRUCTION", "COMPLETED", "OPERATING")},
            "in_service_households": sum(r["households"] for r in in_service),
            "in_service_floor_area_m2": sum((r["floor_area_m2"] for r in in_service), Decimal("0.00")),
            "meeting_standard": sum(1 for r in in_service if r["floor_area_m2"] * 100 >= 30 * r["households"]),
        }
        fund = by_prov[p]["funding"]
        f: dict[str, Any] = {}
        for s in ("SPECIAL_BOND", "CENTRAL_BUDGET", "PROVINCIAL_FISCAL", "SOCIAL_CAPITAL"):
            f[f"{s}.allocated"] = sum((r["allocated_yuan"] for r in fund if r["source"] == s), Decimal("0.00"))
            f[f"{s}.disbursed"] = sum((r["disbursed_yuan"] for r in fund if r["source"] == s), Decimal("0.00"))
            f[f"{s}.reports"] = sum(1 for r in fund if r["source"] == s)
        f["allocated_yuan"] = sum((r["allocated_yuan"] for r in fund), Decimal("0.00"))
        f["disbursed_yuan"] = sum((r["disbursed_yuan"] for r in fund), Decimal("0.00"))
        sums[("funding", p)] = f
        sums[("policy", p)] = {f"{code}.{s.lower()}": int(status.get(code) == s) for code in items
                               for s in ("NOT_STARTED", "IN_PROGRESS", "COMPLETED")}
        sums[("services", p)] = {k: ind[k] for k in (
            "big_city_communities", "big_city_communities_with_care", "special_difficulty_elderly",
            "special_difficulty_elderly_visited")}
    for table in ("coverage", "facilities", "funding", "policy", "services"):
        nat: dict[str, Any] = {}
        for p in provinces:
            for k, v in sums[(table, p)].items():
                nat[k] = nat.get(k, 0) + v
        sums[(table, NATIONAL)] = nat
    for (table, _p), vals in sums.items():
        if table == "coverage":
            vals["urban_coverage"] = _ratio(vals.pop("urban_capped"), vals["urban_communities"])
            vals["rural_coverage"] = _ratio(vals.pop("rural_capped"), vals["rural_communities"])
        if table == "funding":
            vals["disbursement_rate"] = _ratio(int(vals["disbursed_yuan"] * 100), int(vals["allocated_yuan"] * 100))
    return sums


def published_values(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The same fields, read from a published row."""
    if table == "funding":
        out: dict[str, Any] = {"allocated_yuan": row["allocated_yuan"], "disbursed_yuan": row["disbursed_yuan"],
                               "disbursement_rate": row["disbursement_rate"]}
        for s in row["sources"]:
            out[f"{s['source']}.allocated"] = s["allocated_yuan"]
            out[f"{s['source']}.disbursed"] = s["disbursed_yuan"]
            out[f"{s['source']}.reports"] = s["reports"]
        return out
    if table == "policy":
        return {f"{i['code']}.{s}": i[s] for i in row["items"] for s in ("not_started", "in_progress", "completed")}
    keys = {
        "coverage": ("urban_communities", "urban_covered", "rural_communities", "rural_covered", "urban_coverage",
                     "rural_coverage"),
        "facilities": ("planned", "under_construction", "completed", "operating", "in_service_households",
                       "in_service_floor_area_m2", "meeting_standard"),
        "services": ("big_city_communities", "big_city_communities_with_care", "special_difficulty_elderly",
                     "special_difficulty_elderly_visited"),
    }[table]
    return {k: row[k] for k in keys}

"""What one report contributes to its province's totals, in a compact, JSON-safe form.

A contribution is a short list of plain values (str, int, lists), so the live worker can store it
in a Faust table as compact JSON and the auditor can keep millions in memory. Money is integer
fen and floor area integer centi-m² (the Avro decimals have scale 2, so this is exact).

    facility: ["U" | "R", status, households, area_centi, community_code]
    funding:  [source, allocated_fen, disbursed_fen]
    policy:   [period, [[item_code, status], ...], [six indicator ints]]
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from schemas.rules import INDICATORS

FACILITY_STATUSES: tuple[str, ...] = ("PLANNED", "UNDER_CONSTRUCTION", "COMPLETED", "OPERATING")
IN_SERVICE: frozenset[str] = frozenset({"COMPLETED", "OPERATING"})
"""A facility covers its community (and counts for the area standard) once completed or operating."""
FUNDING_SOURCES: tuple[str, ...] = ("SPECIAL_BOND", "CENTRAL_BUDGET", "PROVINCIAL_FISCAL", "SOCIAL_CAPITAL")
POLICY_STATUSES: tuple[str, ...] = ("NOT_STARTED", "IN_PROGRESS", "COMPLETED")

Contribution = list[Any]


def hundredths(value: Decimal | int | bytes) -> int:
    """A scale-2 amount as an exact integer of hundredths (fen, centi-m²).

    Accepts the Decimal fastavro gives for `decimal` logical types, an int already in
    hundredths, or the raw big-endian two's-complement bytes of the unscaled value (what a
    reader without logical types sees). Refuses a value with more than two decimals.
    """
    if isinstance(value, bytes):
        return int.from_bytes(value, "big", signed=True)
    if isinstance(value, int):
        return value
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {value} has more than two decimals")
    return int(scaled)


def _symbol(value: Any) -> str:
    """Enum symbol as str (fastavro gives str; pydantic models may give an Enum)."""
    return value if isinstance(value, str) else str(getattr(value, "value", value))


def contribution(kind: str, record: dict[str, Any]) -> Contribution:
    """The contribution of one (non-withdrawn) decoded report of `kind` to its province."""
    if kind == "facility":
        area = "U" if _symbol(record["area_type"]) == "URBAN" else "R"
        return [area, _symbol(record["status"]), int(record["households"]),
                hundredths(record["floor_area_m2"]), record["community_code"]]
    if kind == "funding":
        return [_symbol(record["source"]), hundredths(record["allocated_yuan"]), hundredths(record["disbursed_yuan"])]
    if kind == "policy":
        items = [[item["code"], _symbol(item["status"])] for item in record.get("items", ())]
        ind = record["indicators"]
        return [record["period"], items, [int(ind[name]) for name in INDICATORS]]
    raise ValueError(f"unknown report kind {kind!r}; expected facility, funding or policy")

"""The business rules of the three report kinds, as pure functions on Avro dicts.

The streams worker runs `check` on every decoded record (pydantic is too slow there); the pydantic
models in `schemas/models.py` call the same functions, so each rule lives here once. A rule
returns `Problem`s with a stable `reason` code (routing, dashboards, feedback to the province)
and a plain-words `rule` a provincial clerk can act on.

Not a rule: disbursed > allocated. That is an anomaly the streams flag, not a bad report.
Types are the schema's job: these functions assume the shapes Avro decoding gives (str, int,
Decimal, datetime, date, lists and dicts) and only report on values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from schemas import reference
from schemas.beijing import BEIJING
from schemas.errors import Problem
from schemas.topics import Kind

PERIOD_MIN = "2021-01"
PERIOD_MAX = "2030-12"
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])\Z")

def _digits(text: str) -> bool:
    """Only the ASCII digits 0-9, at least one (str.isdigit alone takes ² and other scripts' digits)."""
    return text.isdigit() and text.isascii()

_CENT = Decimal("0.01")

REASONS: dict[str, str] = {
    "empty_report_id": "report_id is empty",
    "bad_revision": "revision below 1",
    "bad_province_code": "province code not in the reference list",
    "bad_period": "period not YYYY-MM within 2021-01..2030-12",
    "bad_county_code": "county code not 6 digits inside the province",
    "bad_community_code": "community code not 12 digits inside the county",
    "empty_text": "a required name or text is empty",
    "negative_households": "households below 0",
    "negative_area": "floor area below 0",
    "negative_money": "an amount of money below 0",
    "too_many_decimals": "an amount with more than 2 decimals",
    "amount_too_large": "an amount beyond the schema's precision",
    "bad_amount": "an amount that is not a finite decimal",
    "missing_bond_code": "special-bond money without a bond code",
    "unknown_policy_item": "policy item code not in the reference list",
    "duplicate_policy_item": "the same policy item twice in one report",
    "missing_status_date": "completed policy item without a status date",
    "missing_evidence_ref": "completed policy item without an evidence reference",
    "status_date_in_future": "status date after the report was produced",
    "negative_indicator": "an indicator below 0",
    "visited_exceeds_total": "more elderly visited than there are",
    "with_care_exceeds_big_city": "more big-city communities with care than big-city communities",
}
"""Every reason code `check` can return, with a short description (stable: consumers match on the codes)."""

AREA_MAX = Decimal(10) ** 10  # decimal(12, 2)
MONEY_MAX = Decimal(10) ** 16  # decimal(18, 2)


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def amount_problems(field: str, value: object, *, limit: Decimal, negative_reason: str) -> list[Problem]:
    """Money or area: a finite Decimal, >= 0, at most 2 decimals, within the schema's precision."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return [Problem(field, value, "bad_amount", 'must be an exact decimal number such as "812.50" (not a float)')]
    out: list[Problem] = []
    if value < 0:
        out.append(Problem(field, value, negative_reason, "must be 0 or more"))
    exponent = -2 if value.same_quantum(_CENT) else value.as_tuple().exponent  # to the fen: no tuple to build
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(_CENT):
        out.append(Problem(field, value, "too_many_decimals", "must have at most 2 decimals (to the fen / 0.01)"))
    if abs(value) >= limit:
        out.append(Problem(field, value, "amount_too_large", f"must be less than {limit:,}"))
    return out


def common_problems(record: Mapping[str, Any], provinces: Collection[str]) -> list[Problem]:
    """Rules every report kind shares: id, revision, province, period."""
    out: list[Problem] = []
    report_id = record.get("report_id")
    if not isinstance(report_id, str) or not report_id.strip():
        out.append(
            Problem("report_id", report_id, "empty_report_id", "must not be empty: the province chooses a stable id")
        )
    revision = record.get("revision")
    if not isinstance(revision, int) or revision < 1:
        out.append(
            Problem("revision", revision, "bad_revision", "must be 1 or more (1 = first report, higher = correction)")
        )
    province = record.get("province")
    if province not in provinces:
        out.append(
            Problem(
                "province",
                province,
                "bad_province_code",
                "must be a 6-digit province code from schemas/data/provinces.csv, e.g. 320000 for 江苏省",
            )
        )
    period = record.get("period")
    if not isinstance(period, str) or not _PERIOD.match(period) or not PERIOD_MIN <= period <= PERIOD_MAX:
        out.append(Problem("period", period, "bad_period", _period_rule(period)))
    return out


def _period_rule(period: object) -> str:
    """Why a period is refused, the real mistake first: a month that does not exist, or a year out of the plan."""
    within = f"must be a month YYYY-MM between {PERIOD_MIN} and {PERIOD_MAX}"
    shape = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})", period.strip()) if isinstance(period, str) else None
    if shape is None:
        return f"{within}, e.g. 2025-03"
    month = int(shape[2])
    if not 1 <= month <= 12:
        return f"month {month} does not exist (months are 01 to 12); the period {within}"
    return within


def _text(record: Mapping[str, Any], field: str, out: list[Problem]) -> None:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        out.append(Problem(field, value, "empty_text", "must not be empty"))


def facility_problems(record: Mapping[str, Any]) -> list[Problem]:
    """Rules of a facility report beyond the common ones."""
    out: list[Problem] = []
    province = record.get("province")
    county = record.get("county_code")
    prefix = province[:2] if isinstance(province, str) else ""
    if not isinstance(county, str) or len(county) != 6 or not _digits(county) or county[:2] != prefix:
        out.append(
            Problem(
                "county_code",
                county,
                "bad_county_code",
                f"must be the 6-digit county code inside the province: it starts with {prefix or 'its digits'}",
            )
        )
    community = record.get("community_code")
    if (
        not isinstance(community, str)
        or len(community) != 12
        or not _digits(community)
        or not isinstance(county, str)
        or not community.startswith(county)
    ):
        out.append(
            Problem(
                "community_code",
                community,
                "bad_community_code",
                f"must be the 12-digit community code starting with the county code {county}",
            )
        )
    _text(record, "community_name", out)
    households = record.get("households")
    if not isinstance(households, int) or households < 0:
        out.append(Problem("households", households, "negative_households", "must be 0 or more"))
    out += amount_problems(
        "floor_area_m2", record.get("floor_area_m2"), limit=AREA_MAX, negative_reason="negative_area"
    )
    return out


def funding_problems(record: Mapping[str, Any]) -> list[Problem]:
    """Rules of a funding report beyond the common ones. disbursed > allocated is an anomaly, not an error."""
    out: list[Problem] = []
    if record.get("source") == "SPECIAL_BOND":
        bond = record.get("bond_code")
        if not isinstance(bond, str) or not bond.strip():
            out.append(
                Problem(
                    "bond_code",
                    bond,
                    "missing_bond_code",
                    "is required when source is SPECIAL_BOND (专项债): give the bond's code",
                )
            )
    _text(record, "purpose", out)
    _text(record, "project_name", out)
    for field in ("allocated_yuan", "disbursed_yuan"):
        out += amount_problems(field, record.get(field), limit=MONEY_MAX, negative_reason="negative_money")
    return out


def policy_item_problems(
    item: Mapping[str, Any], items: Collection[str] | None = None, *, prefix: str = "", produced_on: date | None = None
) -> list[Problem]:
    """One policy item: a known code; a COMPLETED item needs its date and evidence."""
    known = reference.policy_items() if items is None else items
    out: list[Problem] = []
    code = item.get("code")
    if code not in known:
        out.append(
            Problem(
                _path(prefix, "code"),
                code,
                "unknown_policy_item",
                "must be a policy item code from schemas/data/policy_items.csv",
            )
        )
    status_date = item.get("status_date")
    if item.get("status") == "COMPLETED":
        if status_date is None:
            out.append(
                Problem(
                    _path(prefix, "status_date"),
                    None,
                    "missing_status_date",
                    "is required when status is COMPLETED: the date it was completed",
                )
            )
        evidence = item.get("evidence_ref")
        if not isinstance(evidence, str) or not evidence.strip():
            out.append(
                Problem(
                    _path(prefix, "evidence_ref"),
                    evidence,
                    "missing_evidence_ref",
                    "is required when status is COMPLETED: e.g. the document number",
                )
            )
    if produced_on is not None and isinstance(status_date, date) and status_date > produced_on:
        out.append(
            Problem(
                _path(prefix, "status_date"),
                status_date,
                "status_date_in_future",
                f"must not be after the day the report was produced ({produced_on}, Beijing time)",
            )
        )
    return out


INDICATORS = (
    "urban_communities",
    "rural_communities",
    "big_city_communities",
    "big_city_communities_with_care",
    "special_difficulty_elderly",
    "special_difficulty_elderly_visited",
)


def indicator_problems(ind: Mapping[str, Any], *, prefix: str = "") -> list[Problem]:
    """Province indicators: counts >= 0; visited <= total; with care <= big-city communities."""
    out: list[Problem] = []
    for name in INDICATORS:
        value = ind.get(name)
        if not isinstance(value, int) or value < 0:
            out.append(Problem(_path(prefix, name), value, "negative_indicator", "must be a count of 0 or more"))
    visited, total = ind.get("special_difficulty_elderly_visited"), ind.get("special_difficulty_elderly")
    if isinstance(visited, int) and isinstance(total, int) and visited > total:
        out.append(
            Problem(
                _path(prefix, "special_difficulty_elderly_visited"),
                visited,
                "visited_exceeds_total",
                f"must not exceed special_difficulty_elderly ({total})",
            )
        )
    care, big = ind.get("big_city_communities_with_care"), ind.get("big_city_communities")
    if isinstance(care, int) and isinstance(big, int) and care > big:
        out.append(
            Problem(
                _path(prefix, "big_city_communities_with_care"),
                care,
                "with_care_exceeds_big_city",
                f"must not exceed big_city_communities ({big})",
            )
        )
    return out


def policy_problems(record: Mapping[str, Any], items: Collection[str] | None = None) -> list[Problem]:
    """Rules of a policy report beyond the common ones: every item, no item twice, the indicators."""
    known = reference.policy_items() if items is None else items
    produced_at = record.get("produced_at")
    produced_on = None
    if isinstance(produced_at, datetime):  # the day in Beijing, where the clerk dated the item
        produced_on = (produced_at.astimezone(BEIJING) if produced_at.tzinfo else produced_at).date()
    out: list[Problem] = []
    seen: set[object] = set()
    for index, item in enumerate(record.get("items") or ()):
        prefix = f"items[{index}]"
        out += policy_item_problems(item, known, prefix=prefix, produced_on=produced_on)
        code = item.get("code")
        if code in seen:
            out.append(Problem(f"{prefix}.code", code, "duplicate_policy_item", "must appear only once per report"))
        seen.add(code)
    indicators = record.get("indicators")
    if isinstance(indicators, Mapping):
        out += indicator_problems(indicators, prefix="indicators")
    return out


_KIND_PROBLEMS: dict[str, Callable[[Mapping[str, Any]], list[Problem]]] = {
    "facility": facility_problems,
    "funding": funding_problems,
    "policy": policy_problems,
}


def check(kind: Kind, record: Mapping[str, Any], *, provinces: Collection[str] | None = None) -> list[Problem]:
    """Every broken business rule of `record` (an Avro dict of report kind `kind`); [] when it is fine.

    `provinces` defaults to the reference list (schemas.reference.provinces()).
    """
    try:
        kind_problems = _KIND_PROBLEMS[kind]
    except KeyError:
        raise ValueError(f"unknown report kind {kind!r}; expected one of {', '.join(_KIND_PROBLEMS)}") from None
    known = reference.provinces() if provinces is None else provinces
    return common_problems(record, known) + kind_problems(record)

"""Business rules on plain Avro dicts: one table of broken records and the reason codes they must give."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from schemas import codec, rules, samples
from schemas.errors import Problem
from schemas.models import KIND_SCHEMAS

SAMPLE_OF = {"facility": samples.facility, "funding": samples.funding, "policy": samples.policy}


@pytest.mark.parametrize("kind", sorted(SAMPLE_OF))
def test_samples_pass(kind: Any) -> None:
    assert rules.check(kind, SAMPLE_OF[kind]()) == []


@pytest.mark.parametrize("kind", sorted(SAMPLE_OF))
def test_decoded_records_pass(kind: Any) -> None:
    """What the streams worker sees: the dict `codec.decode` gives (v2 defaults included)."""
    value = codec.decode(codec.encode(KIND_SCHEMAS[kind], SAMPLE_OF[kind]())).value
    assert rules.check(kind, value) == []


def _indicators(**changes: int) -> dict[str, Any]:
    return samples.policy(indicators=dict(samples.policy()["indicators"], **changes))


F, U, P = samples.facility, samples.funding, samples.policy
D = Decimal
_COMPLETED = {"code": "SMART_COMMUNITY_PILOT", "status": "COMPLETED"}

BROKEN: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("facility", F(report_id=" "), [("report_id", "empty_report_id")]),
    ("facility", F(revision=0), [("revision", "bad_revision")]),
    ("funding", U(province="320100"), [("province", "bad_province_code")]),
    ("funding", U(province=""), [("province", "bad_province_code")]),
    ("facility", F(period="2026-13"), [("period", "bad_period")]),
    ("facility", F(period="2020-12"), [("period", "bad_period")]),
    ("facility", F(period="2031-01"), [("period", "bad_period")]),
    ("facility", F(period="2026-3"), [("period", "bad_period")]),
    ("facility", F(period="２０２６-03"), [("period", "bad_period")]),
    ("facility", F(period="2026-03\n"), [("period", "bad_period")]),
    ("policy", P(period="2030-12"), []),
    ("policy", P(period="2021-01"), []),
    ("facility", F(county_code="110101", community_code="110101001001"), [("county_code", "bad_county_code")]),
    ("facility", F(county_code="32010", community_code="320100001001"), [("county_code", "bad_county_code")]),
    ("facility", F(county_code="32o102"),
     [("county_code", "bad_county_code"), ("community_code", "bad_community_code")]),
    ("facility", F(county_code="32０102", community_code="32０102001001"), [("county_code", "bad_county_code"),
                                                                          ("community_code", "bad_community_code")]),
    ("facility", F(community_code="320102²01001"), [("community_code", "bad_community_code")]),
    ("facility", F(community_code="320103001001"), [("community_code", "bad_community_code")]),
    ("facility", F(community_code="3201020010011"), [("community_code", "bad_community_code")]),
    ("facility", F(community_name=""), [("community_name", "empty_text")]),
    ("facility", F(households=-1), [("households", "negative_households")]),
    ("facility", F(households=0), []),
    ("facility", F(floor_area_m2=D("-0.01")), [("floor_area_m2", "negative_area")]),
    ("facility", F(floor_area_m2=D("1.001")), [("floor_area_m2", "too_many_decimals")]),
    ("facility", F(floor_area_m2=D("1.100")), []),
    ("facility", F(floor_area_m2=D("1E+10")), [("floor_area_m2", "amount_too_large")]),
    ("facility", F(floor_area_m2=812.5), [("floor_area_m2", "bad_amount")]),
    ("facility", F(floor_area_m2=D("NaN")), [("floor_area_m2", "bad_amount")]),
    ("funding", U(allocated_yuan=D("-5.00")), [("allocated_yuan", "negative_money")]),
    ("funding", U(disbursed_yuan=D("0.001")), [("disbursed_yuan", "too_many_decimals")]),
    ("funding", U(allocated_yuan=D("9999999999999999.99")), []),
    ("funding", U(allocated_yuan=D("10000000000000000")), [("allocated_yuan", "amount_too_large")]),
    ("funding", U(allocated_yuan=D("1.00"), disbursed_yuan=D("2.00")), []),  # an anomaly for the streams, not an error
    ("funding", U(bond_code=None), [("bond_code", "missing_bond_code")]),
    ("funding", U(bond_code="  "), [("bond_code", "missing_bond_code")]),
    ("funding", U(source="SOCIAL_CAPITAL", bond_code=None), []),
    ("funding", U(project_name="", purpose=""), [("purpose", "empty_text"), ("project_name", "empty_text")]),
    ("policy", P(items=[{"code": "NOPE", "status": "IN_PROGRESS"}]), [("items[0].code", "unknown_policy_item")]),
    ("policy", P(items=[_COMPLETED]),
     [("items[0].status_date", "missing_status_date"), ("items[0].evidence_ref", "missing_evidence_ref")]),
    ("policy", P(items=[{**_COMPLETED, "status_date": date(2027, 1, 1), "evidence_ref": "x"}]),
     [("items[0].status_date", "status_date_in_future")]),
    ("policy", P(items=[P()["items"][0]] * 2), [("items[1].code", "duplicate_policy_item")]),
    ("policy", P(items=[]), []),
    ("policy", _indicators(rural_communities=-3), [("indicators.rural_communities", "negative_indicator")]),
    ("policy", _indicators(special_difficulty_elderly_visited=51235),
     [("indicators.special_difficulty_elderly_visited", "visited_exceeds_total")]),
    ("policy", _indicators(big_city_communities_with_care=3101),
     [("indicators.big_city_communities_with_care", "with_care_exceeds_big_city")]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "record", "expected"), BROKEN)
def test_broken_records_give_their_reason_codes(kind: Any, record: dict[str, Any], expected: list[Any]) -> None:
    problems = rules.check(kind, record)
    assert [(p.field, p.reason) for p in problems] == expected
    for p in problems:
        assert p.reason in rules.REASONS
        assert p.rule


def test_problem_says_field_value_rule_and_reason() -> None:
    (problem,) = rules.check("funding", samples.funding(province="990000"))
    assert problem == Problem("province", "990000", "bad_province_code", problem.rule)
    assert "provinces.csv" in problem.rule
    assert str(problem).startswith("province='990000': must be a 6-digit province code")


def test_provinces_can_be_passed_in() -> None:
    record = samples.facility(province="990000", county_code="990101", community_code="990101001001")
    assert rules.check("facility", record, provinces={"990000"}) == []


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown report kind 'x'"):
        rules.check("x", {})  # type: ignore[arg-type]


def test_every_reason_is_documented_and_reachable() -> None:
    reached = {reason for _, record, expected in BROKEN for _, reason in expected}
    assert reached == set(rules.REASONS)

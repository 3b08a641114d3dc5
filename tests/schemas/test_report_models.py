"""pydantic models: field-for-field the latest .avsc, round trips through the codec, clerk-friendly errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from schemas import codec, reference, registry, samples
from schemas.errors import ValidationFailed
from schemas.models import (
    KIND_MODELS,
    KIND_SCHEMAS,
    FacilityReport,
    FundingReport,
    PolicyItemStatus,
    PolicyReport,
    ProvinceIndicators,
    explain,
    parse_report,
)

SAMPLE_OF = {"facility": samples.facility, "funding": samples.funding, "policy": samples.policy}


def _avsc_fields(name: str) -> list[dict[str, Any]]:
    return json.loads(registry.latest(name).schema_json)["fields"]


def _nested_fields(name: str, field: str) -> list[dict[str, Any]]:
    for f in _avsc_fields(name):
        if f["name"] == field:
            t = f["type"]
            return (t["items"] if t["type"] == "array" else t)["fields"]
    raise AssertionError(field)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (FacilityReport, lambda: _avsc_fields("cshub.FacilityReport")),
        (FundingReport, lambda: _avsc_fields("cshub.FundingReport")),
        (PolicyReport, lambda: _avsc_fields("cshub.PolicyReport")),
        (PolicyItemStatus, lambda: _nested_fields("cshub.PolicyReport", "items")),
        (ProvinceIndicators, lambda: _nested_fields("cshub.PolicyReport", "indicators")),
    ],
)
def test_model_fields_match_the_latest_schema_in_order_and_defaults(
    model: type[pydantic.BaseModel], fields: Any
) -> None:
    avsc = fields()
    assert list(model.model_fields) == [f["name"] for f in avsc]
    for f in avsc:
        info = model.model_fields[f["name"]]
        if "default" in f:
            default = info.get_default()
            assert (list(default) if isinstance(default, tuple) else default) == f["default"], f["name"]
        else:
            assert info.is_required(), f["name"]


def test_kind_tables() -> None:
    assert KIND_SCHEMAS == {
        "facility": "cshub.FacilityReport",
        "funding": "cshub.FundingReport",
        "policy": "cshub.PolicyReport",
    }
    assert set(KIND_MODELS) == set(KIND_SCHEMAS)


@pytest.mark.parametrize("kind", sorted(SAMPLE_OF))
def test_model_round_trip_through_the_codec(kind: str) -> None:
    model = KIND_MODELS[kind].from_avro(SAMPLE_OF[kind]())
    decoded = codec.decode(codec.encode(KIND_SCHEMAS[kind], model.to_avro()))
    assert KIND_MODELS[kind].from_avro(decoded.value) == model


@pytest.mark.parametrize("kind", sorted(SAMPLE_OF))
def test_to_avro_is_model_dump_with_lists(kind: str) -> None:
    """to_avro builds the dict from the validated values (hot per row); it must be what model_dump gives."""
    from schemas.models import _lists

    changes: dict[str, dict[str, Any]] = {"facility": {"functions": [], "address": "南京市玄武区"},
                                          "funding": {"source": "CENTRAL_BUDGET", "bond_code": None},
                                          "policy": {"items": []}}
    for record in (SAMPLE_OF[kind](), SAMPLE_OF[kind](**changes[kind])):
        model = KIND_MODELS[kind].model_validate(record)
        avro = model.to_avro()
        assert avro == _lists(model.model_dump())
        assert list(avro) == list(KIND_MODELS[kind].model_fields)
        assert all(type(v) is not tuple for v in avro.values())


def test_models_are_frozen_and_forbid_extra_fields() -> None:
    model = FacilityReport.from_avro(samples.facility())
    with pytest.raises(pydantic.ValidationError):
        model.households = 3  # type: ignore[misc]
    with pytest.raises(ValidationFailed) as info:
        parse_report("facility", samples.facility(adress="x"))
    assert [(p.field, p.reason) for p in info.value.problems] == [("adress", "extra_forbidden")]


def test_money_accepts_str_int_decimal_and_keeps_the_fen() -> None:
    for given in ("12345678901234.56", Decimal("12345678901234.56")):
        assert FundingReport.from_avro(samples.funding(allocated_yuan=given)).allocated_yuan == Decimal(
            "12345678901234.56"
        )
    model = FundingReport.from_avro(samples.funding(allocated_yuan=100, disbursed_yuan="0.5"))
    assert str(model.allocated_yuan) == "100.00"
    assert str(model.disbursed_yuan) == "0.50"
    assert str(FundingReport.from_avro(samples.funding(disbursed_yuan="7.500")).disbursed_yuan) == "7.50"


@pytest.mark.parametrize("bad", [0.1, 1.0, True])
def test_money_refuses_float_and_bool(bad: object) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_report("funding", samples.funding(allocated_yuan=bad))
    (problem,) = info.value.problems
    assert (problem.field, problem.reason) == ("allocated_yuan", "float_amount")
    assert "812.50" in problem.rule


def test_disbursed_above_allocated_is_not_a_model_error() -> None:
    model = FundingReport.from_avro(samples.funding(allocated_yuan="10.00", disbursed_yuan="20.00"))
    assert model.disbursed_yuan > model.allocated_yuan


def test_produced_at_keeps_milliseconds_and_needs_a_time_zone() -> None:
    beijing = timezone(timedelta(hours=8))
    model = FacilityReport.from_avro(samples.facility(produced_at=datetime(2026, 3, 5, 16, 0, 0, 123456, beijing)))
    assert model.produced_at.microsecond == 123000
    value = codec.decode(codec.encode("cshub.FacilityReport", model.to_avro())).value
    assert value["produced_at"] == datetime(2026, 3, 5, 8, 0, 0, 123000, UTC)
    with pytest.raises(ValidationFailed) as info:
        parse_report("facility", samples.facility(produced_at="2026-03-05T08:00:00"))
    assert info.value.problems[0].reason == "timezone_aware"


def test_explain_gives_field_value_and_rule_in_plain_words() -> None:
    data = samples.policy(
        items=[
            {
                "code": "PROVINCIAL_PLAN_ISSUED",
                "status": "COMPLETED",
                "status_date": date(2022, 1, 1),
                "evidence_ref": "x",
            },
            {"code": "NO_SUCH_ITEM", "status": "COMPLETED"},
        ]
    )
    with pytest.raises(pydantic.ValidationError) as info:
        PolicyReport.model_validate(data)
    problems = explain(info.value)
    assert [(p.field, p.value, p.reason) for p in problems] == [
        ("items[1].code", "NO_SUCH_ITEM", "unknown_policy_item"),
        ("items[1].status_date", None, "missing_status_date"),
        ("items[1].evidence_ref", "", "missing_evidence_ref"),
    ]
    assert all(p.rule and not p.rule.startswith("Input") for p in problems)


def test_report_level_rules_come_with_their_reason_codes() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_report(
            "facility",
            samples.facility(province="320000", county_code="110101", community_code="110101001001", revision=0),
        )
    assert [(p.field, p.reason) for p in info.value.problems] == [
        ("revision", "bad_revision"),
        ("county_code", "bad_county_code"),
    ]
    assert "county_code='110101'" in str(info.value)


def test_type_errors_say_what_is_expected() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_report("facility", {**samples.facility(area_type="CITY", households="many"), "status": None})
    by_field = {p.field: p for p in info.value.problems}
    assert by_field["area_type"].rule == "must be 'URBAN' or 'RURAL'"
    assert by_field["households"].value == "many"
    assert set(by_field) == {"area_type", "households", "status"}


def test_missing_fields_are_named() -> None:
    data = samples.funding()
    del data["project_name"]
    with pytest.raises(ValidationFailed) as info:
        parse_report("funding", data)
    assert [(p.field, p.value, p.rule) for p in info.value.problems] == [("project_name", None, "is required")]


def test_indicator_rules_in_the_nested_model() -> None:
    indicators = dict(samples.policy()["indicators"], special_difficulty_elderly_visited=10**6, urban_communities=-1)
    with pytest.raises(ValidationFailed) as info:
        parse_report("policy", samples.policy(indicators=indicators))
    assert [(p.field, p.reason) for p in info.value.problems] == [
        ("indicators.urban_communities", "negative_indicator"),
        ("indicators.special_difficulty_elderly_visited", "visited_exceeds_total"),
    ]


def test_type_and_rule_problems_come_in_one_pass() -> None:
    """A clerk fixing a file should not have to resubmit to discover the next layer of problems."""
    data = samples.facility(households="many", province="990000", floor_area_m2="-1.5", period="2026-3")
    with pytest.raises(ValidationFailed) as info:
        parse_report("facility", data)
    assert [(p.field, p.reason) for p in info.value.problems] == [
        ("households", "int_parsing"),
        ("province", "bad_province_code"),
        ("period", "bad_period"),
        ("county_code", "bad_county_code"),
        ("floor_area_m2", "negative_area"),
    ]


def test_a_bad_item_does_not_hide_report_level_problems() -> None:
    data = samples.policy(province="990000", items=[{"code": "NOPE", "status": "COMPLETED"}])
    with pytest.raises(ValidationFailed) as info:
        parse_report("policy", data)
    assert [(p.field, p.reason) for p in info.value.problems] == [
        ("items[0].code", "unknown_policy_item"),
        ("items[0].status_date", "missing_status_date"),
        ("items[0].evidence_ref", "missing_evidence_ref"),
        ("province", "bad_province_code"),
    ]


@pytest.mark.parametrize("items", [5, "abc", [1, 2], [{"code": 3}]])
def test_malformed_input_still_gives_only_problems(items: object) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_report("policy", samples.policy(items=items))
    assert info.value.problems
    assert all(p.field.startswith("items") for p in info.value.problems)


def test_not_a_dict_at_all() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_report("funding", ["not", "a", "report"])  # type: ignore[arg-type]
    assert [p.reason for p in info.value.problems] == ["model_type"]


def test_text_input_as_a_csv_gives_it_is_coerced_before_the_rules() -> None:
    """Files give every cell as text: "1" is a valid revision; only the real problem is reported."""
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in samples.funding().items()}
    data["produced_at"] = "2026-03-05T16:30:15+08:00"
    assert parse_report("funding", data).revision == 2
    with pytest.raises(ValidationFailed) as info:
        parse_report("funding", {**data, "allocated_yuan": "-5.00", "purpose": ""})
    assert [(p.field, p.reason) for p in info.value.problems] == [
        ("purpose", "empty_text"),
        ("allocated_yuan", "negative_money"),
    ]
    with pytest.raises(ValidationFailed) as info:
        parse_report("funding", {**data, "allocated_yuan": "-5.00", "revision": "one"})
    assert [(p.field, p.reason) for p in info.value.problems] == [
        ("revision", "int_parsing"),
        ("allocated_yuan", "negative_money"),
    ]
    indicators = {k: str(v) for k, v in samples.policy()["indicators"].items()}
    with pytest.raises(ValidationFailed) as info:
        parse_report("policy", samples.policy(indicators=indicators, revision="x"))
    assert [(p.field, p.reason) for p in info.value.problems] == [("revision", "int_parsing")]


@pytest.mark.parametrize(
    ("kind", "changes", "field", "words"),
    [
        ("funding", {"allocated_yuan": "12,345.00"}, "allocated_yuan", "no thousands separators"),
        ("facility", {"produced_at": "yesterday"}, "produced_at", "2026-03-05T08:30:00+08:00"),
        ("facility", {"withdrawn": "maybe"}, "withdrawn", "true or false"),
        ("facility", {"functions": ["ELDERLY_CARE", "SAUNA"]}, "functions[1]", "'ELDERLY_CARE', 'CHILDCARE'"),
    ],
)
def test_type_errors_in_words_a_clerk_can_act_on(kind: str, changes: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_report(kind, SAMPLE_OF[kind](**changes))  # type: ignore[arg-type]
    (problem,) = info.value.problems
    assert problem.field == field
    assert words in problem.rule


def test_a_bad_status_date_names_the_item() -> None:
    item = {"code": "SMART_COMMUNITY_PILOT", "status": "COMPLETED", "status_date": "2022-13-01", "evidence_ref": "x"}
    with pytest.raises(ValidationFailed) as info:
        parse_report("policy", samples.policy(items=[item]))
    (problem,) = info.value.problems
    assert (problem.field, problem.value) == ("items[0].status_date", "2022-13-01")
    assert "YYYY-MM-DD" in problem.rule


_ODD_VALUES: list[Any] = [
    None, "", " ", "1", 1, 0, -1, 2**31, True, 1.5, "812.5", "812.505", Decimal("812.5"), Decimal("1.234"),
    Decimal("NaN"), "2026-03-05T08:30:00", "2026-03-05T08:30:00.123456+08:00", "2026-13-05T08:30:00+08:00",
    datetime(2026, 3, 5, 8, 30, 0, 123456, tzinfo=UTC), date(2022, 6, 1), "2022-06-01", "OPERATING", "COMPLETED",
    "SPECIAL_BOND", "110000", "abc", [], ["HEALTH"], ("HEALTH", "HEALTH"), ["NOPE"], {}, [{"code": "x"}],
]


def _outcome(parse: Any, kind: str, data: dict[str, Any]) -> Any:
    try:
        return parse(kind, data)
    except ValidationFailed as exc:
        return [(p.field, p.value, p.reason, p.rule) for p in exc.problems]


@pytest.mark.parametrize("kind", sorted(SAMPLE_OF))
def test_avro_report_is_parse_report_to_avro(kind: str) -> None:
    """The publisher's cheaper path (pydantic's fields validator, the rules once) gives what the model gives: the
    same dict for every good report, the same problems for every bad one, whatever odd value a field holds."""
    from schemas.models import _fields_validator, avro_report

    assert _fields_validator(KIND_MODELS[kind]) is not None  # the cheaper path is taken, not only its fallback
    sample = SAMPLE_OF[kind]()
    cases = [sample, {**sample, "extra": 1}, *({k: v for k, v in sample.items() if k != field} for field in sample)]
    cases += [{**sample, field: value} for field in sample for value in _ODD_VALUES]
    for data in cases:
        expected = _outcome(lambda k, d: parse_report(k, d).to_avro(), kind, data)
        assert _outcome(avro_report, kind, data) == expected, data
        if isinstance(expected, dict):
            assert list(avro_report(kind, data)) == list(expected)
    assert avro_report(kind, sample, provinces=reference.provinces()) == avro_report(kind, sample)

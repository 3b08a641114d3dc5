"""pydantic models of the three report kinds, field for field the latest .avsc files, with clerk-friendly errors.

The business rules are not written here: each model calls `schemas.rules` after pydantic has
checked the types, so the streams worker (which checks plain dicts) and these models agree.
`explain()` turns a pydantic `ValidationError` into `Problem`s (field, value, rule in plain words),
and `parse_report()` does both, raising `ValidationFailed`.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Collection
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Self, get_args, get_origin

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError, SchemaValidator

from schemas import rules
from schemas.display import calendar_mistake
from schemas.errors import Problem, ValidationFailed
from schemas.kinds import SCHEMA_OF_KIND, Kind

_CENT = Decimal("0.01")


def _no_float(value: object) -> object:
    """Money must not pass through binary floating point: 0.1 + 0.2 is not 0.3."""
    if isinstance(value, float | bool):
        raise PydanticCustomError(
            "float_amount",
            'must be given as a string, integer or Decimal such as "812.50", not as {type}',
            {"type": type(value).__name__},
        )
    return value


def _to_fen(value: Decimal) -> Decimal:
    """Write every exact amount with 2 decimals (812.5 -> 812.50); leave others for the rules to report."""
    try:
        quantized = value.quantize(_CENT)
    except decimal.InvalidOperation:
        return value
    return quantized if quantized == value else value


def _to_millis(value: datetime) -> datetime:
    """Avro timestamp-millis keeps milliseconds; drop the rest so a round trip gives the same value."""
    extra = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - extra) if extra else value


def _on_the_calendar(example: str) -> Any:
    """A validator: a typed date or time that names a day or an hour that does not exist says which ("month 13
    does not exist"), not only that it is not a date; anything else is left to pydantic."""

    def check(value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            datetime.fromisoformat(value)
        except ValueError:
            mistake = calendar_mistake(value)
            if mistake is not None:
                raise PydanticCustomError("calendar", "{mistake}; write it as {example}",
                                          {"mistake": mistake, "example": example}) from None
        return value

    return BeforeValidator(check)


AVRO_INT_MIN, AVRO_INT_MAX = -(2**31), 2**31 - 1
"""The range of an Avro `int`: what the encoder can write (checked here so `--check` refuses what a send would)."""

Amount = Annotated[Decimal, BeforeValidator(_no_float), AfterValidator(_to_fen)]
"""Yuan or square metres: exact, 2 decimals. Accepts str, int or Decimal; refuses float."""
Timestamp = Annotated[AwareDatetime, _on_the_calendar("2026-03-05T08:30:00+08:00"), AfterValidator(_to_millis)]
Day = Annotated[date, _on_the_calendar("YYYY-MM-DD, e.g. 2022-06-01")]
AvroInt = Annotated[int, Field(ge=AVRO_INT_MIN, le=AVRO_INT_MAX)]
"""Every Avro `int` field of the schemas (tests/schemas/test_report_models.py checks that none is missed)."""


def _raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise PydanticCustomError(
            "business_rules",
            "{summary}",
            {"summary": "; ".join(str(p) for p in problems), "problems": tuple(problems)},
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_avro(self) -> dict[str, Any]:
        """A dict ready for `schemas.codec.encode` (lists for arrays, Decimal money, aware datetimes), in field order.

        Built from the validated values themselves: what `model_dump()` gives (tests/schemas/test_report_models.py
        checks), without its copy of every value, which cost as much as the validation (this runs twice a row)."""
        out = dict(self.__dict__)
        for name, convert in _composite_fields(type(self)):
            out[name] = convert(out[name])
        return out

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> Self:
        """The model of a decoded Avro dict (`schemas.codec.decode(...).value`); rules are checked."""
        return cls.model_validate(value)


_NESTED = (dict, list, tuple)


@cache
def _composite_fields(model: type[BaseModel]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """The fields of `model` that hold a tuple or a nested model, each with its conversion to the Avro shape (a
    list, a dict); the other fields are Avro-ready as they are. Decided once per model, from the annotations."""
    def nested(annotation: Any) -> bool:
        return isinstance(annotation, type) and issubclass(annotation, BaseModel)

    out: list[tuple[str, Callable[[Any], Any]]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) is tuple:
            out.append((name, _models_as_list if any(nested(a) for a in get_args(annotation)) else list))
        elif nested(annotation) or any(nested(a) for a in get_args(annotation)):
            out.append((name, _model_as_dict))
    return tuple(out)


def _models_as_list(value: tuple[Any, ...]) -> list[Any]:
    return [v.to_avro() if isinstance(v, _Model) else v for v in value]


def _model_as_dict(value: Any) -> Any:
    return None if value is None else value.to_avro()


def _lists(value: Any) -> Any:
    """Tuples as lists, all the way down (scalars returned as they are without a call each: per row, hot)."""
    if isinstance(value, dict):
        return {k: _lists(v) if isinstance(v, _NESTED) else v for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) if isinstance(v, _NESTED) else v for v in value]
    return value


class _Report(_Model):
    KIND: ClassVar[Kind]
    SCHEMA: ClassVar[str]

    report_id: str
    revision: AvroInt
    withdrawn: bool = False
    province: str
    period: str
    produced_at: Timestamp

    @model_validator(mode="after")
    def _business_rules(self) -> Self:
        _raise_problems(rules.check(self.KIND, self.to_avro()))
        return self


FacilityFunction = Literal[
    "ELDERLY_CARE", "CHILDCARE", "FITNESS", "HEALTH", "CULTURE", "CONVENIENCE", "EMPLOYMENT", "LEGAL_AID", "OTHER"
]


class FacilityReport(_Report):
    """One community comprehensive service facility (社区综合服务设施); cshub.FacilityReport v2 (v1 + address)."""

    KIND: ClassVar[Kind] = "facility"
    SCHEMA: ClassVar[str] = SCHEMA_OF_KIND["facility"]

    county_code: str
    community_code: str
    community_name: str
    area_type: Literal["URBAN", "RURAL"]
    households: AvroInt
    floor_area_m2: Amount
    status: Literal["PLANNED", "UNDER_CONSTRUCTION", "COMPLETED", "OPERATING"]
    functions: tuple[FacilityFunction, ...] = ()
    old_community_renovation: bool = False
    operating_mode: Literal["GOVERNMENT", "SITE_FOR_SERVICE", "SOCIAL_ORGANISATION", "ENTERPRISE_CHAIN"]
    address: str = ""


class FundingReport(_Report):
    """Money from one source for one project, cumulative to the period; cshub.FundingReport v1."""

    KIND: ClassVar[Kind] = "funding"
    SCHEMA: ClassVar[str] = SCHEMA_OF_KIND["funding"]

    source: Literal["SPECIAL_BOND", "CENTRAL_BUDGET", "PROVINCIAL_FISCAL", "SOCIAL_CAPITAL"]
    bond_code: str | None = None
    purpose: str
    project_name: str
    allocated_yuan: Amount
    disbursed_yuan: Amount


class PolicyItemStatus(_Model):
    """A province's status on one policy item."""

    code: str
    status: Literal["NOT_STARTED", "IN_PROGRESS", "COMPLETED"]
    status_date: Day | None = None
    evidence_ref: str = ""

    @model_validator(mode="after")
    def _business_rules(self) -> Self:
        _raise_problems(rules.policy_item_problems(self.model_dump()))
        return self


class ProvinceIndicators(_Model):
    """Province-level indicators only the province knows (coverage denominators, care, visits)."""

    urban_communities: AvroInt
    rural_communities: AvroInt
    big_city_communities: AvroInt
    big_city_communities_with_care: AvroInt
    special_difficulty_elderly: AvroInt
    special_difficulty_elderly_visited: AvroInt

    @model_validator(mode="after")
    def _business_rules(self) -> Self:
        _raise_problems(rules.indicator_problems(self.model_dump()))
        return self


class PolicyReport(_Report):
    """A province's policy item statuses and indicators for one period; cshub.PolicyReport v1."""

    KIND: ClassVar[Kind] = "policy"
    SCHEMA: ClassVar[str] = SCHEMA_OF_KIND["policy"]

    items: tuple[PolicyItemStatus, ...] = ()
    indicators: ProvinceIndicators


Report = FacilityReport | FundingReport | PolicyReport

KIND_MODELS: dict[Kind, type[FacilityReport] | type[FundingReport] | type[PolicyReport]] = {
    "facility": FacilityReport,
    "funding": FundingReport,
    "policy": PolicyReport,
}
KIND_SCHEMAS: dict[Kind, str] = {kind: model.SCHEMA for kind, model in KIND_MODELS.items()}

_PLAIN = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this report: check the spelling, or remove it",
    "timezone_aware": "must carry a time zone, e.g. 2026-03-05T08:30:00+08:00",
    "decimal_parsing": 'must be a number such as "12345.67": digits and one decimal point, no thousands separators',
    "datetime_parsing": "must be a date and time with a time zone, e.g. 2026-03-05T08:30:00+08:00",
    "datetime_from_date_parsing": "must be a date and time with a time zone, e.g. 2026-03-05T08:30:00+08:00",
    "date_parsing": "must be a date YYYY-MM-DD, e.g. 2022-06-01",
    "date_from_datetime_parsing": "must be a date YYYY-MM-DD, e.g. 2022-06-01",
    "bool_parsing": "must be true or false",
}


def _bound(error_type: str, ctx: dict[str, Any]) -> str | None:
    """A number beyond what the report format carries, in words with its limit (2,147,483,647)."""
    if error_type == "less_than_equal" and isinstance(ctx.get("le"), int):
        return f"must be at most {ctx['le']:,}: the report format carries no larger whole number"
    if error_type == "greater_than_equal" and isinstance(ctx.get("ge"), int):
        return f"must be at least {ctx['ge']:,}: the report format carries no smaller whole number"
    return None


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(prefix: str, field: str) -> str:
    if not prefix:
        return field
    return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"


def explain(exc: ValidationError) -> list[Problem]:
    """Each error of `exc` as a Problem: the field path (e.g. `items[1].status_date`), the value, the rule.

    Business-rule problems keep the stable reason codes of `schemas.rules`; type problems use
    pydantic's error type as the reason (`missing`, `int_parsing`, `literal_error`, ...).
    """
    out: list[Problem] = []
    for err in exc.errors():
        path = _field_path(tuple(err["loc"]))
        ctx = err.get("ctx") or {}
        if err["type"] == "business_rules":
            for p in ctx["problems"]:
                out.append(Problem(_join(path, p.field), p.value, p.reason, p.rule))
            continue
        value = None if err["type"] == "missing" else err.get("input")
        rule = _bound(err["type"], ctx) or _PLAIN.get(err["type"], err["msg"])
        if rule and rule[0].isupper() and rule.startswith("Input should"):
            rule = "must" + rule[len("Input should") :]
        out.append(Problem(path or "(report)", value, err["type"], rule))
    return out


@cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotation)


def _raw_rule_problems(model: type[_Report], data: Any) -> list[Problem]:
    """The business rules on input that pydantic refused, so a clerk sees every problem in one pass.

    pydantic stops before the report-level rules when any field fails. Here each field is validated
    on its own, exactly as the model would (so "1" becomes 1 and "812.5" becomes Decimal("812.50")),
    the fields that fail are left out (pydantic has reported them), and the rules run on the rest.
    """
    if not isinstance(data, dict):
        return []
    record: dict[str, Any] = {}
    for name in model.model_fields:
        if name not in data:
            continue
        adapter = _field_adapter(model, name)
        try:
            record[name] = _lists(adapter.dump_python(adapter.validate_python(data[name])))
        except ValidationError:
            continue
    return rules.check(model.KIND, record)


def parse_report(kind: Kind, data: dict[str, Any]) -> Report:
    """Validate `data` as a report of `kind`; ValidationFailed listing every problem found.

    Type problems (pydantic) and business-rule problems (schemas.rules) come together, each field once.
    """
    model = KIND_MODELS[kind]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = explain(exc)
        typed = [p.field for p in problems if p.reason not in rules.REASONS]
        seen = {(p.field, p.reason) for p in problems}
        for p in _raw_rule_problems(model, data):
            covered = any(p.field == f or p.field.startswith((f + ".", f + "[")) for f in typed)
            if not covered and (p.field, p.reason) not in seen:
                problems.append(p)
                seen.add((p.field, p.reason))
        raise ValidationFailed(kind, problems) from exc


@cache
def _fields_validator(model: type[_Report]) -> Callable[[Any], tuple[dict[str, Any], Any, Any]] | None:
    """pydantic's own validator of the fields of `model` (the very schema the model wraps: same types, defaults,
    validators, config and errors), without building the model or running its business rules; None when the model's
    schema is not exactly "the fields, then `_Report._business_rules`" (a validator added later), so it is not used."""
    schema: Any = model.__pydantic_core_schema__
    after = schema.get("function", {}).get("function") if schema.get("type") == "function-after" else None
    inner = schema.get("schema", {})
    if after is not _Report._business_rules or inner.get("type") != "model":
        return None
    if inner["schema"].get("type") != "model-fields":
        return None
    return SchemaValidator(inner["schema"], inner.get("config")).validate_python


def avro_report(kind: Kind, data: dict[str, Any], *, provinces: Collection[str] | None = None) -> dict[str, Any]:
    """`parse_report(kind, data).to_avro()`, cheaper: what the publisher does with every row.

    A good report is validated by pydantic's validator of the model's fields (`_fields_validator`) into the values
    the model would hold, shaped as `to_avro` shapes them, and the business rules run once on that dict. It skips
    the model's own call of the rules and the two copies of its values into dicts (a quarter of the validation).
    Any problem, and the report is parsed the usual way, so a bad one raises the same ValidationFailed, word for word.
    `provinces` is `reference.provinces()` as the caller looked it up once per file (it reads the environment: a
    quarter of the rules' cost when done per row).
    """
    model = KIND_MODELS[kind]
    fields = _fields_validator(model)
    if fields is not None:
        try:
            values = fields(data)[0]
        except ValidationError:
            values = None
        if values is not None:
            for name, convert in _composite_fields(model):
                values[name] = convert(values[name])
            if not rules.check(kind, values, provinces=provinces):
                return values
    return parse_report(kind, data).to_avro()

"""The compiled Avro writer writes exactly fastavro's bytes, and declines (never guesses) what it does not take.

Every schema version in schemas/avro/ is compiled; thousands of varied values per schema (Chinese text, long
text, integers at their range's ends, decimals of every sign, size and exponent, withdrawals, optional fields
absent and present, timestamps before 1970 and with microseconds in other zones) are written both ways and
compared byte for byte. Values fastavro refuses (or `codec.encode`'s range check refuses) the compiled writer must
decline, so `codec.encode` gives the same bytes or the same error as fastavro alone.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_writer

from schemas import codec, registry, samples
from schemas.avro_writer import Declined, compile_writer
from schemas.errors import CodecError
from schemas.kinds import SCHEMA_OF_KIND
from schemas.registry import SchemaVersion
from tests.schemas.avro_values import ZONES
from tests.schemas.avro_values import value as _value


def _versions() -> list[SchemaVersion]:
    return [sv for sv in registry.Registry.from_directory().all()]


def _fastavro(sv: SchemaVersion, value: Any) -> bytes:
    buf = BytesIO()
    schemaless_writer(buf, sv.parsed, value, strict_allow_default=True)
    return buf.getvalue()


def test_every_schema_of_the_contract_compiles() -> None:
    assert all(compile_writer(sv.parsed) is not None for sv in _versions())


@pytest.mark.parametrize("sv", _versions(), ids=lambda sv: f"{sv.name}.v{sv.version}")
def test_random_values_give_fastavros_bytes(sv: SchemaVersion) -> None:
    write = compile_writer(sv.parsed)
    assert write is not None
    rng = random.Random(sv.fingerprint)
    for _ in range(300):
        value = _value(sv.parsed, rng, {})
        assert write(value) == _fastavro(sv, value), value
        assert codec.encode(sv.name, value, version=sv.version) == codec._fastavro_encode(sv, value)


REPORT_CHANGES: list[dict[str, Any]] = [
    {}, {"withdrawn": True}, {"revision": 2**31 - 1}, {"produced_at": datetime(1969, 12, 31, 23, 59, 59, 999000, UTC)},
    {"produced_at": datetime(2026, 3, 5, 8, 30, 15, 999000, timezone(timedelta(hours=8)))},
    {"report_id": "示例-报告-0001", "province": "110000"},
]
FACILITY_CHANGES: list[dict[str, Any]] = [
    {"functions": []}, {"functions": ["OTHER"] * 9}, {"address": "南京市玄武区长江路 292 号"},
    *({"floor_area_m2": Decimal(text)} for text in ("0.00", "-0.00", "9999999999.99", "812.5", "812", "1E+3",
                                                    "-128.00", "-1.28", "1.27", "-0.01")),
    {"households": 0}, {"households": 8192},
    {"area_type": "RURAL", "status": "PLANNED", "operating_mode": "GOVERNMENT"},
]
FUNDING_CHANGES: list[dict[str, Any]] = [
    {"bond_code": None, "source": "CENTRAL_BUDGET"}, {"bond_code": ""}, {"disbursed_yuan": Decimal("0.01")},
    {"allocated_yuan": Decimal("9999999999999999.99")}, {"allocated_yuan": Decimal("-9999999999999999.99")},
    {"allocated_yuan": Decimal("12000000"), "disbursed_yuan": Decimal("12000000.50")},
]
POLICY_CHANGES: list[dict[str, Any]] = [
    {"items": []},
    {"items": [{"code": "SMART_COMMUNITY_PILOT", "status": "COMPLETED", "status_date": date(1970, 1, 1),
                "evidence_ref": "粤民发〔2022〕15号"}]},
    {"items": [{"code": "X", "status": "NOT_STARTED", "status_date": date(1969, 12, 31), "evidence_ref": ""}]},
]
REPORTS = ([("facility", samples.facility(**c), c) for c in REPORT_CHANGES + FACILITY_CHANGES]
           + [("funding", samples.funding(**c), c) for c in REPORT_CHANGES + FUNDING_CHANGES]
           + [("policy", samples.policy(**c), c) for c in REPORT_CHANGES + POLICY_CHANGES])


@pytest.mark.parametrize(("kind", "record", "change"), REPORTS)
def test_reports_give_fastavros_bytes(kind: str, record: dict[str, Any], change: dict[str, Any]) -> None:
    sv = registry.latest(SCHEMA_OF_KIND[kind])  # type: ignore[index]
    write = compile_writer(sv.parsed)
    assert write is not None
    if kind == "facility":
        record.setdefault("address", "")
    assert write(record) == _fastavro(sv, record)
    assert codec.encode(sv.name, record) == codec._fastavro_encode(sv, record)
    assert codec.decode(codec.encode(sv.name, record)).value["report_id"] == record["report_id"]


DECLINED: list[tuple[str, Any]] = [
    ("revision", True), ("revision", 1.0), ("revision", 2**31), ("revision", -(2**31) - 1), ("revision", "1"),
    ("households", None), ("withdrawn", 1), ("withdrawn", None), ("report_id", b"id"), ("report_id", None),
    ("report_id", "\ud800"), ("area_type", "urban"), ("area_type", "城市"), ("functions", ("FITNESS",)),
    ("functions", ["FITNESS", "SWIMMING"]), ("functions", "FITNESS"), ("floor_area_m2", 812.5),
    ("floor_area_m2", "812.50"), ("floor_area_m2", Decimal("812.505")), ("floor_area_m2", Decimal("NaN")),
    ("floor_area_m2", Decimal("Infinity")), ("floor_area_m2", Decimal("1234567890123.45")), ("floor_area_m2", 812),
    ("produced_at", datetime(2026, 3, 5, 8, 30)), ("produced_at", date(2026, 3, 5)), ("produced_at", 2**63),
    ("produced_at", "2026-03-05T08:30:00+08:00"), ("address", None),
]


@pytest.mark.parametrize(("field", "value"), DECLINED)
def test_what_fastavro_would_judge_is_declined_and_judged_by_fastavro(field: str, value: Any) -> None:
    sv = registry.latest("cshub.FacilityReport")
    write = compile_writer(sv.parsed)
    assert write is not None
    record = samples.facility(**{"address": "", field: value})
    with pytest.raises(ValueError):  # Declined, or UnicodeEncodeError (a ValueError) for a lone surrogate
        write(record)
    try:
        expected: bytes | str = codec._fastavro_encode(sv, record)
    except CodecError as exc:
        expected = str(exc)
    try:
        got: bytes | str = codec.encode(sv.name, record)
    except CodecError as exc:
        got = str(exc)
    assert got == expected


def test_a_missing_or_unknown_field_is_declined() -> None:
    sv = registry.latest("cshub.FacilityReport")
    write = compile_writer(sv.parsed)
    assert write is not None
    with pytest.raises(Declined):
        write(samples.facility())  # no address: fastavro fills its default
    assert codec.encode(sv.name, samples.facility()) == codec._fastavro_encode(sv, samples.facility())
    with pytest.raises(Declined):
        write(samples.facility(address="", colour="red"))
    with pytest.raises(CodecError, match="colour"):
        codec.encode(sv.name, samples.facility(address="", colour="red"))


@pytest.mark.parametrize("schema", [
    {"type": "record", "name": "a.R", "fields": [{"name": "x", "type": ["null", "string", "long"]}]},
    {"type": "record", "name": "a.R", "fields": [{"name": "next", "type": ["null", "a.R"]}]},
    {"type": "record", "name": "a.R",
     "fields": [{"name": "t", "type": {"type": "long", "logicalType": "time-micros"}}]},
])
def test_shapes_not_handled_compile_to_none(schema: dict[str, Any]) -> None:
    import fastavro

    assert compile_writer(fastavro.parse_schema(schema, named_schemas={})) is None


def test_a_notification_with_epoch_milliseconds_is_written_compiled() -> None:
    """The worker's notifications carry event_time as epoch ms: the compiled writer takes them (fastavro's bytes),
    rather than sending one notification in nine through fastavro."""
    from core.notify import notification

    sv = registry.latest("cshub.Notification")
    write = compile_writer(sv.parsed)
    assert write is not None
    note = notification("ANOMALY_AREA_BELOW_STANDARD", "110000", "110000-FAC-1", "面积不足", 1_770_000_000_123,
                        table="facilities", id_suffix="report")
    assert sv.fingerprint and codec.MAGIC + sv.fingerprint + write(note) == codec._fastavro_encode(sv, note)


def test_a_timestamp_written_again_gives_its_own_bytes() -> None:
    """The writer keeps the last datetime's bytes: the same object again, after epoch milliseconds, others, then the
    first again."""
    sv = registry.latest("cshub.FacilityReport")
    write = compile_writer(sv.parsed)
    assert write is not None
    first = datetime(2026, 3, 5, 8, 30, tzinfo=ZONES[1])
    moments = [first, first, 1_770_000_000_123, first, datetime(2026, 3, 5, 0, 30, tzinfo=UTC),
               datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), first]
    for moment in moments:
        record = samples.facility(address="", produced_at=moment)
        assert write(record) == _fastavro(sv, record)
    with pytest.raises(Declined):
        write(samples.facility(address="", produced_at=None))
    with pytest.raises(Declined):
        write(samples.facility(address="", produced_at=first.replace(tzinfo=None)))

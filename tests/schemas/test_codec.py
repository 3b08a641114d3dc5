"""Codec round trips, header layout, error reasons, and interoperability with plain fastavro."""

from __future__ import annotations

import json
from decimal import Decimal
from io import BytesIO

import fastavro
import pytest

from schemas import codec, registry
from schemas.errors import CodecError
from schemas.samples import SAMPLES, facility, funding


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_every_kind(name: str) -> None:
    record = SAMPLES[name]()
    data = codec.encode(name, record)
    decoded = codec.decode(data)
    assert decoded.name == name
    assert decoded.fingerprint == registry.latest(name).fingerprint
    assert decoded.version == registry.latest(name).version
    expected = dict(record)
    assert {k: decoded.value[k] for k in expected} == expected


def test_header_is_magic_then_little_endian_fingerprint() -> None:
    data = codec.encode("cshub.FundingReport", funding())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == registry.latest("FundingReport").fingerprint
    assert codec.fingerprint_of(data) == data[2:10]


def test_money_to_the_fen_and_chinese_text_survive() -> None:
    record = funding(allocated_yuan=Decimal("12345678901234.56"), disbursed_yuan=Decimal("0.01"))
    value = codec.decode(codec.encode("cshub.FundingReport", record)).value
    assert value["allocated_yuan"] == Decimal("12345678901234.56")
    assert str(value["disbursed_yuan"]) == "0.01"
    assert value["project_name"] == "成都市锦江区社区综合服务设施补短板项目"


def test_short_name_is_accepted() -> None:
    assert codec.decode(codec.encode("FacilityReport", facility()), reader="FacilityReport").name == (
        "cshub.FacilityReport"
    )


def test_plain_fastavro_reads_the_body_after_the_header() -> None:
    """Any Avro client can decode our records given the schema: no private framing."""
    for name, make in SAMPLES.items():
        sv = registry.latest(name)
        data = codec.encode(name, make())
        plain_schema = fastavro.parse_schema(json.loads(sv.schema_json))
        value = fastavro.schemaless_reader(BytesIO(data[10:]), plain_schema)
        assert value == codec.decode(data).value


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (facility(unknown_field=1), "unknown_field"),
        (facility(households="many"), "households"),
        ({k: v for k, v in facility().items() if k != "province"}, "province"),
        (facility(floor_area_m2=Decimal("1.234")), "Scale|scale"),
        (facility(status="DEMOLISHED"), "DEMOLISHED"),
        (facility(households=2**31), "households"),
        (facility(floor_area_m2=812.5), "floor_area_m2"),
        (facility(community_name="\ud800"), "surrogates"),
        (facility(functions=["ELDERLY_CARE", "SAUNA"]), "SAUNA"),
    ],
)
def test_encode_rejects_bad_records(record: dict[str, object], match: str) -> None:
    with pytest.raises(CodecError, match=match) as info:
        codec.encode("cshub.FacilityReport", record)
    assert info.value.reason == "encode_failed"


def test_encode_unknown_schema_name() -> None:
    with pytest.raises(CodecError, match="no schema named") as info:
        codec.encode("cshub.NoSuchReport", {})
    assert info.value.reason == "encode_failed"


def test_encode_fills_defaults() -> None:
    record = facility()
    del record["withdrawn"], record["functions"]
    value = codec.decode(codec.encode("cshub.FacilityReport", record)).value
    assert value["withdrawn"] is False
    assert value["functions"] == []


@pytest.mark.parametrize(
    ("data", "reason", "match"),
    [
        (b"", "truncated", "0 byte"),
        (b"\xc3", "truncated", "1 byte"),
        (b"\xc3\x01\x00\x01", "truncated", "header"),
        (b'{"report_id": 1}', "bad_magic", "7b22"),
        (b"\xc3\x01" + b"\xff" * 8 + b"\x02", "unknown_fingerprint", "ffffffffffffffff"),
    ],
)
def test_decode_reasons(data: bytes, reason: str, match: str) -> None:
    with pytest.raises(CodecError, match=match) as info:
        codec.decode(data)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_decode_truncated_body_and_trailing_bytes() -> None:
    data = codec.encode("cshub.FacilityReport", facility())
    with pytest.raises(CodecError) as info:
        codec.decode(data[:-3])
    assert info.value.reason == "truncated"
    with pytest.raises(CodecError, match="trailing") as info:
        codec.decode(data + b"\x00")
    assert info.value.reason == "bad_body"


def test_decode_with_a_reader_of_another_name_is_refused() -> None:
    data = codec.encode("cshub.FacilityReport", facility())
    with pytest.raises(CodecError, match=r"cannot be read as cshub\.FundingReport"):
        codec.decode(data, reader="cshub.FundingReport")


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = codec.encode("cshub.FacilityReport", facility())
    assert codec.decode(bytearray(data)).value == codec.decode(memoryview(data)).value


def test_decode_non_bytes_is_a_codec_error() -> None:
    with pytest.raises(CodecError):
        codec.decode("c301")  # type: ignore[arg-type]


def test_schema_json_is_the_writer_schema() -> None:
    sv = registry.latest("FundingReport")
    text = codec.schema_json(sv.fingerprint)
    assert registry.compute_fingerprint(text) == sv.fingerprint
    with pytest.raises(CodecError) as info:
        codec.schema_json(b"\x00" * 8)
    assert info.value.reason == "unknown_fingerprint"


def test_a_schema_learned_at_run_time_decodes_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The auditor registers writer schemas from the cshub.schemas topic, even of names this repo lacks."""
    private = registry.Registry.from_directory()  # keep the process-wide registry as the files define it
    monkeypatch.setattr(registry, "default_registry", lambda: private)
    schema = {
        "type": "record",
        "name": "LearnedOnlyReport",
        "namespace": "cshub",
        "fields": [
            {"name": "note", "type": "string"},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}},
        ],
    }
    sv = registry.register(json.dumps(schema, ensure_ascii=False))
    body = BytesIO()
    fastavro.schemaless_writer(body, sv.parsed, {"note": "补录", "amount": Decimal("0.10")})
    decoded = codec.decode(codec.MAGIC + sv.fingerprint + body.getvalue())
    assert (decoded.name, decoded.version) == ("cshub.LearnedOnlyReport", registry.LEARNED_VERSION)
    assert decoded.value == {"note": "补录", "amount": Decimal("0.10")}
    with pytest.raises(CodecError, match="no reader schema named"):
        codec.decode(codec.MAGIC + sv.fingerprint + body.getvalue(), reader="cshub.LearnedOnlyReport")

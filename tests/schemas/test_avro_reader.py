"""The compiled Avro reader returns exactly fastavro's values, and never a value for bytes fastavro reads otherwise.

Every pair of versions of every schema in schemas/avro/ (v1 records read as v2 and v2 as v1: fields added with
defaults, fields dropped, enum symbols added) is compiled; hundreds of varied values per pair (avro_values: Chinese
and long text, integers at their range's ends, decimals of every sign and size, empty and long arrays and maps,
null and non-null branches, timestamps at, before and far from the epoch) are written by fastavro, read both ways,
and compared value and type. Crafted bad bytes the compiled reader must refuse (fastavro then reads them, as
`codec.decode` does); the same comparison for shapes beyond the contract (promotions, unions resolved to other
unions, maps, fixed, references); shapes not handled compile to None. Mutated records: tests/schemas/test_codec_fuzz.py.
"""

from __future__ import annotations

import random
from io import BytesIO
from typing import Any

import fastavro
import pytest
from fastavro import schemaless_reader, schemaless_writer

from schemas import codec, registry, samples
from schemas.avro_reader import Read, compile_reader
from schemas.errors import CodecError
from schemas.registry import SchemaVersion
from tests.schemas.avro_values import assert_same, value

_REGISTRY = registry.Registry.from_directory()
PAIRS = [(w, r) for name in _REGISTRY.names() for w in _REGISTRY.versions(name) for r in _REGISTRY.versions(name)]


def _id(pair: tuple[SchemaVersion, SchemaVersion]) -> str:
    writer, reader = pair
    return f"{writer.name.removeprefix('cshub.')}.v{writer.version}-as-v{reader.version}"


def _written(schema: Any, record: Any) -> bytes:
    buf = BytesIO()
    schemaless_writer(buf, schema, record)
    return buf.getvalue()


def _fastavro(data: bytes, writer: Any, reader: Any) -> Any:
    """fastavro's value of the whole of `data`, or the exception it raises (trailing bytes: ValueError)."""
    fo = BytesIO(data)
    try:
        got = schemaless_reader(fo, writer, reader)
    except Exception as exc:  # any: the outcome compared
        return exc
    return got if fo.tell() == len(data) else ValueError("trailing bytes")


def _compiled(read: Read, data: bytes) -> Any:
    """The compiled reader's value as codec.decode takes it (all of `data` read), or the exception it raises."""
    try:
        got, end = read(data, 0)
    except Exception as exc:  # any: the outcome compared
        return exc
    return got if end == len(data) else ValueError(f"read to {end} of {len(data)}")


def _reads_as_fastavro(read: Read, data: bytes, writer: Any, reader: Any) -> bool:
    """Where the compiled reader gives a value, fastavro gives the same; returns whether it gave one."""
    got = _compiled(read, data)
    if isinstance(got, Exception):
        return False
    expected = _fastavro(data, writer, reader)
    assert not isinstance(expected, Exception), f"compiled read {got!r} where fastavro raised {expected!r}"
    assert_same(got, expected)
    return True


def test_every_pair_of_the_contract_compiles() -> None:
    assert all(compile_reader(w.parsed, r.parsed) is not None for w, r in PAIRS)


@pytest.mark.parametrize("pair", PAIRS, ids=_id)
def test_random_values_read_as_fastavro_reads_them(pair: tuple[SchemaVersion, SchemaVersion]) -> None:
    writer, reader = pair
    read = compile_reader(writer.parsed, reader.parsed)
    assert read is not None
    rng = random.Random(writer.fingerprint + reader.fingerprint)
    for _ in range(300):
        data = _written(writer.parsed, value(writer.parsed, rng, {}))
        _assert_read_or_rightly_declined(read, data, writer.parsed, reader.parsed)


def _assert_read_or_rightly_declined(read: Read, data: bytes, writer: Any, reader: Any) -> None:
    """A written record is read as fastavro reads it, or declined where fastavro refuses it too (bytes that are no
    UTF-8 read as a string, a symbol the reader lacks without a default), or where fastavro rounds: a decimal of
    more digits than its precision, which fastavro writes (1E+2 at scale 4 is 1000000 unscaled) and reads back
    rounded. Nothing else is declined."""
    if _reads_as_fastavro(read, data, writer, reader) or isinstance(_fastavro(data, writer, reader), Exception):
        return
    outcome = _compiled(read, data)
    assert str(outcome) == "decimal beyond its precision", f"{outcome!r} on {data.hex()}"


def test_a_default_the_reader_adds_is_a_fresh_object_each_time() -> None:
    """fastavro hands out the schema's own default list: appending to one record's `breaches` would change the
    next record's. The compiled reader gives a new list each time (equal, so the values are still fastavro's)."""
    old, new = _REGISTRY.versions("cshub.CoverageRow")
    read = compile_reader(old.parsed, new.parsed)
    assert read is not None
    data = _written(old.parsed, value(old.parsed, random.Random(1), {}))
    first, second = read(data, 0)[0], read(data, 0)[0]
    assert first["breaches"] == second["breaches"] == []
    assert first["breaches"] is not second["breaches"]


@pytest.mark.parametrize("kind", sorted(samples.SAMPLES))
def test_codec_decode_gives_what_fastavro_alone_gives(kind: str) -> None:
    """Through codec.decode (the compiled reader, the header, the fallback), every version of every report."""
    for sv in registry.versions(kind):
        record = samples.SAMPLES[kind]()
        if sv.version == 1 and kind == "cshub.FacilityReport":
            record.pop("address", None)
        data = codec.encode(kind, record, version=sv.version)
        for _ in range(2):  # the first record of a schema goes to fastavro (the plan is made), the next compiled
            decoded = codec.decode(data)
            reference = codec._fastavro_decode(data)
            assert (decoded.name, decoded.version, decoded.fingerprint) == (
                reference.name, reference.version, reference.fingerprint)
            assert_same(decoded.value, reference.value)


FACILITY = registry.latest("cshub.FacilityReport")
FACILITY_BODY = codec.encode(FACILITY.name, samples.facility(address="南京市玄武区长江路292号"))[codec.HEADER_SIZE:]
"""report_id (string), revision (int), withdrawn (boolean), province (string), ...: the first bytes to break."""
BAD_BODIES = {
    "invalid UTF-8": b"\x04\xff\xfe" + FACILITY_BODY[19:],  # report_id of 2 bytes that are no UTF-8
    "a lone surrogate in UTF-8": b"\x06\xed\xa0\x80" + FACILITY_BODY[19:],
    "a negative length": b"\x01" + FACILITY_BODY[1:],
    "a varint running off the end": FACILITY_BODY[:-40] + b"\xff\xff",
    "an 11-byte varint": FACILITY_BODY[:19] + b"\x82" + b"\x80" * 9 + b"\x00" + FACILITY_BODY[20:],
    "a 10-byte varint beyond 64 bits": FACILITY_BODY[:19] + b"\xff" * 9 + b"\x03" + FACILITY_BODY[20:],
    "a boolean of 2": FACILITY_BODY[:20] + b"\x02" + FACILITY_BODY[21:],
    "truncated": FACILITY_BODY[:-1],
    "truncated in a string": FACILITY_BODY[:5],
    "trailing bytes": FACILITY_BODY + b"\x00",
    "empty": b"",
}


def _facility_body_with(field: str, raw: bytes) -> bytes:
    """FACILITY_BODY with one field's bytes replaced (the field found by writing the sample up to it)."""
    fields = FACILITY.parsed["fields"]
    record = samples.facility(address="南京市玄武区长江路292号")
    start = end = 0
    for f in fields:
        size = len(_written({"type": "record", "name": "x.One", "fields": [f]}, {f["name"]: record[f["name"]]}))
        if f["name"] == field:
            end = start + size
            break
        start += size
    return FACILITY_BODY[:start] + raw + FACILITY_BODY[end:]


BAD_BODIES |= {
    "an enum index out of range": _facility_body_with("area_type", b"\x04"),
    "a negative enum index": _facility_body_with("area_type", b"\x01"),
    "an enum index of two bytes": _facility_body_with("area_type", b"\x80\x00"),
    "an array block of negative count": _facility_body_with("functions", b"\x01\x02\x00\x00"),
    "a decimal beyond its precision": _facility_body_with("floor_area_m2", b"\x0c\x7f\xff\xff\xff\xff\xff"),
    "a decimal of no bytes": _facility_body_with("floor_area_m2", b"\x00"),
    "a timestamp beyond year 9999": _facility_body_with("produced_at", b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bytes_it_does_not_take_are_fastavros_to_read(body: bytes) -> None:
    """The compiled reader raises, or stops short of the end, on each (a decimal of no bytes is 0.00 to both); and
    codec.decode gives what fastavro alone gives: the same value (a boolean of 2 is True to fastavro, a decimal
    beyond its precision rounded) or the same CodecError."""
    read = compile_reader(FACILITY.parsed)
    assert read is not None
    _reads_as_fastavro(read, body, FACILITY.parsed, None)
    data = codec.MAGIC + FACILITY.fingerprint + body
    codec.decode(codec.encode(FACILITY.name, samples.facility()))  # the plan made: the compiled reader reads next
    assert _codec_outcome(codec.decode, data) == _codec_outcome(codec._fastavro_decode, data)


def test_the_compiled_reader_takes_none_of_the_bad_bodies_but_the_empty_decimal() -> None:
    read = compile_reader(FACILITY.parsed)
    assert read is not None
    taken = [what for what, body in BAD_BODIES.items() if not isinstance(_compiled(read, body), Exception)]
    assert taken == ["a decimal of no bytes"]


def _codec_outcome(decode: Any, data: bytes) -> Any:
    try:
        decoded = decode(data)
    except CodecError as exc:
        return (exc.reason, str(exc))
    return (decoded.name, decoded.version, repr(decoded.value))


def _schema(fields: list[dict[str, Any]], name: str = "t.R") -> Any:
    return fastavro.parse_schema({"type": "record", "name": name, "fields": fields}, named_schemas={})


DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 3}
SHAPES: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = [
    # (writer fields, reader fields): promotions
    ([{"name": "a", "type": "int"}, {"name": "b", "type": "int"}, {"name": "c", "type": "long"},
      {"name": "d", "type": "float"}, {"name": "e", "type": "string"}, {"name": "f", "type": "bytes"}],
     [{"name": "a", "type": "long"}, {"name": "b", "type": "double"}, {"name": "c", "type": "float"},
      {"name": "d", "type": "double"}, {"name": "e", "type": "bytes"}, {"name": "f", "type": "string"}]),
    # unions: to another union (first matching branch), from a plain type, to a plain type, reordered
    ([{"name": "a", "type": ["null", "int"]}, {"name": "b", "type": "int"}, {"name": "c", "type": ["int", "null"]},
      {"name": "d", "type": ["string", "long", "null"]}],
     [{"name": "a", "type": ["null", "double", "long"]}, {"name": "b", "type": ["null", "string", "long"]},
      {"name": "c", "type": ["null", "long"]}, {"name": "d", "type": ["null", "long", "string"]}]),
    # fields reordered, dropped (of every kind), added with defaults of every kind
    ([{"name": "keep", "type": "string"}, {"name": "gone_map", "type": {"type": "map", "values": DECIMAL}},
      {"name": "gone_array", "type": {"type": "array", "items": ["null", "string"]}},
      {"name": "gone_enum", "type": {"type": "enum", "name": "t.E", "symbols": ["A", "B"]}},
      {"name": "first", "type": "long"}],
     [{"name": "first", "type": "long"}, {"name": "added_list", "type": {"type": "array", "items": "long"},
                                           "default": [1, 2]},
      {"name": "added_map", "type": {"type": "map", "values": "string"}, "default": {"k": "v"}},
      {"name": "added_null", "type": ["null", "string"], "default": None},
      {"name": "added_text", "type": "string", "default": "文本"}, {"name": "keep", "type": "string"}]),
    # enums: a symbol the reader lacks goes to its default; maps, fixed, nested records, a named type used twice
    ([{"name": "e", "type": {"type": "enum", "name": "t.E", "symbols": ["A", "B", "C"]}},
      {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "t.E"}}},
      {"name": "x", "type": {"type": "fixed", "name": "t.F", "size": 3}}, {"name": "y", "type": "t.F"},
      {"name": "r", "type": {"type": "record", "name": "t.In", "fields": [{"name": "d", "type": DECIMAL},
                                                                          {"name": "n", "type": ["null", "t.E"]}]}},
      {"name": "rs", "type": {"type": "array", "items": "t.In"}}],
     [{"name": "e", "type": {"type": "enum", "name": "t.E", "symbols": ["C", "A", "Z"], "default": "Z"}},
      {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "t.E"}}},
      {"name": "x", "type": {"type": "fixed", "name": "t.F", "size": 3}}, {"name": "y", "type": "t.F"},
      {"name": "r", "type": {"type": "record", "name": "t.In", "fields": [{"name": "d", "type": DECIMAL},
                                                                          {"name": "n", "type": ["null", "t.E"]}]}},
      {"name": "rs", "type": {"type": "array", "items": "t.In"}}]),
    # the same without resolution, and dates
    ([{"name": "d", "type": {"type": "int", "logicalType": "date"}}, {"name": "f", "type": "double"},
      {"name": "g", "type": "float"}, {"name": "u", "type": ["null", "boolean", "string", "double"]}],
     [{"name": "d", "type": {"type": "int", "logicalType": "date"}}, {"name": "f", "type": "double"},
      {"name": "g", "type": "float"}, {"name": "u", "type": ["null", "boolean", "string", "double"]}]),
]


@pytest.mark.parametrize(("writer_fields", "reader_fields"), SHAPES)
def test_shapes_beyond_the_contract_read_as_fastavro_reads_them(writer_fields: list[dict[str, Any]],
                                                                 reader_fields: list[dict[str, Any]]) -> None:
    writer, reader = _schema(writer_fields), _schema(reader_fields)
    rng = random.Random(repr(writer_fields))
    for schema_reader in (reader, None, writer):
        read = compile_reader(writer, schema_reader)
        assert read is not None
        for _ in range(300):
            data = _written(writer, value(writer, rng, {}))
            _assert_read_or_rightly_declined(read, data, writer, schema_reader)
            mutated = bytearray(data)
            if mutated:
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                _reads_as_fastavro(read, bytes(mutated), writer, schema_reader)


@pytest.mark.parametrize(("writer_fields", "reader_fields"), [
    ([{"name": "a", "type": "string"}], [{"name": "a", "type": "string", "aliases": ["b"]}]),
    ([{"name": "a", "type": "string"}], [{"name": "a", "type": "string"}, {"name": "b", "type": "long"}]),
    ([{"name": "a", "type": "string"}], [{"name": "a", "type": "long"}]),
    ([{"name": "a", "type": "long"}], [{"name": "a", "type": "int"}]),
    ([{"name": "a", "type": {"type": "long", "logicalType": "timestamp-millis"}}], [{"name": "a", "type": "long"}]),
    ([{"name": "a", "type": {"type": "long", "logicalType": "timestamp-micros"}}], None),
    ([{"name": "a", "type": {"type": "string", "logicalType": "uuid"}}], None),
    ([{"name": "a", "type": {"type": "fixed", "name": "t.F", "size": 4, "logicalType": "decimal", "precision": 4}}],
     None),
    ([{"name": "next", "type": ["null", "t.R"]}], None),
    ([{"name": "a", "type": {"type": "array", "items": "null"}}], None),
    ([{"name": "a", "type": DECIMAL}], [{"name": "a", "type": dict(DECIMAL, scale=2)}]),
])
def test_shapes_not_handled_compile_to_none(writer_fields: list[dict[str, Any]],
                                            reader_fields: list[dict[str, Any]] | None) -> None:
    writer = _schema(writer_fields)
    reader = None if reader_fields is None else _schema(reader_fields)
    assert compile_reader(writer, reader) is None

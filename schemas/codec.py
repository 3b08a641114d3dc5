"""Avro single-object encoding (Avro spec): 0xC3 0x01, the writer schema's 8-byte fingerprint, the body.

`encode` writes with the latest version of a schema; `decode` finds the writer schema by its
fingerprint (any version in the repo, or one learned with `registry.register`) and resolves it to
the reader schema (by default the latest version of the writer's name). Any bad input raises
`CodecError` with a `reason`; nothing else escapes (tests/schemas/test_codec_fuzz.py).

`encode` is the publisher's hot path (every row): it writes with a writer compiled once per schema, the bytes
fastavro would write, and leaves fastavro only what that writer declines.

`decode` is the streams worker's hot path: the schema pair for each (fingerprint, reader) is looked
up once and cached with its compiled reader (`schemas.avro_reader`: fastavro's values, faster), which reads the
body straight from the caller's bytes. Bytes it does not take, and pairs it does not handle, fastavro reads, as
it words every error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.validation import ValidationError, validate

from schemas import registry
from schemas.avro_reader import Read, compile_reader
from schemas.avro_writer import Write, compile_writer
from schemas.errors import CodecError
from schemas.registry import SchemaVersion

MAGIC = b"\xc3\x01"
HEADER_SIZE = 10

# What fastavro can raise on a truncated or garbage body. EOFError means the body ended early.
_BODY_ERRORS = (
    ValueError,  # includes UnicodeDecodeError, bad decimal, date out of range
    IndexError,  # enum or union index out of range
    KeyError,
    TypeError,
    ArithmeticError,  # OverflowError (timestamps or dates beyond datetime's range), decimal.InvalidOperation
    MemoryError,  # a garbage length prefix asking for a huge allocation
    struct.error,
    SchemaResolutionError,
)
_ENCODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, IndexError, struct.error)


@dataclass(frozen=True, slots=True, init=False)
class Decoded:
    """A decoded record: the writer schema's name, version and fingerprint, and the value.

    `version` is 0 for a writer schema learned at run time that matches no file in the repo.
    `value` follows the reader schema: money as `Decimal`, timestamps as aware UTC `datetime`.
    """

    name: str
    version: int
    fingerprint: bytes
    value: dict[str, Any]

    def __init__(self, name: str, version: int, fingerprint: bytes, value: dict[str, Any]) -> None:
        # The frozen dataclass's own __init__ calls object.__setattr__ per field: 8 k instructions, more than the
        # rest of `decode` without the body. The slots' descriptors set them at a third of that, frozen as before.
        _set_name(self, name)
        _set_version(self, version)
        _set_fingerprint(self, fingerprint)
        _set_value(self, value)


_set_name, _set_version, _set_fingerprint, _set_value = (
    Decoded.__dict__[field].__set__ for field in ("name", "version", "fingerprint", "value")
)


_Plan = tuple[SchemaVersion, Any, Any, Read | None]  # writer version, writer parsed, reader parsed or None, compiled
_plans: dict[str | None, dict[bytes, _Plan]] = {}
"""reader name (None: the writer's latest) -> header (magic, writer fingerprint) -> plan. Two lookups, no tuple per
record; a record whose first ten bytes are a key has a valid header."""


def _plan(fp: bytes, reader: str | None) -> _Plan:
    """The (writer, reader) schema pair for a fingerprint and its compiled reader; cached, since decode runs per
    record."""
    plans = _plans.get(reader)
    if plans is None:
        plans = _plans.setdefault(reader, {})
    plan = plans.get(MAGIC + fp)
    if plan is not None:
        return plan
    writer = registry.by_fingerprint(fp)
    if writer is None:
        raise CodecError(
            "unknown_fingerprint",
            f"unknown writer schema fingerprint {fp.hex()}: not in schemas/avro/ nor registered at run time "
            "(register it from the cshub.schemas topic)",
        )
    reader_name = writer.name if reader is None else registry.full_name(reader)
    try:
        target = registry.latest(reader_name)
    except KeyError as exc:
        if reader is not None:
            raise CodecError("unknown_fingerprint", f"no reader schema named {reader_name!r}") from exc
        target = writer  # a schema only learned at run time (no .avsc in this repo): read it as written
    if writer.name != target.name:
        raise CodecError(
            "bad_body",
            f"record was written as {writer.name} v{writer.version}, cannot be read as {target.name}",
        )
    reader_parsed = None if target is writer else target.parsed
    plan = (writer, writer.parsed, reader_parsed, compile_reader(writer.parsed, reader_parsed))
    plans[MAGIC + fp] = plan
    return plan


def decode(data: bytes, reader: str | None = None) -> Decoded:
    """Decode one single-object-encoded record, resolving writer to reader schema.

    `reader` is a schema name (`cshub.FacilityReport` or `FacilityReport`); None means the
    latest version of the writer's own name. Raises CodecError and nothing else.

    `bytes` with a known header (every record after the first of its schema pair) are read by the pair's compiled
    reader (`schemas.avro_reader`), whose value is fastavro's when it reads to exactly the end. Whatever it does
    not read so (it raises on anything it does not take; a length running past the end leaves it beyond the end),
    fastavro reads again (`_fastavro_decode`), for its value or its error, as before.
    """
    plans = _plans.get(reader)
    if plans is not None and type(data) is bytes:
        plan = plans.get(data[:HEADER_SIZE])
        if plan is not None:
            writer, _, _, read = plan
            if read is not None:
                try:
                    value, end = read(data, HEADER_SIZE)
                except Exception:  # any: fastavro reads the bytes again, and says what is wrong
                    pass
                else:
                    if end == len(data) and type(value) is dict:
                        return Decoded(writer.name, writer.version, writer.fingerprint, value)
    return _fastavro_decode(data, reader)


def _fastavro_decode(data: bytes, reader: str | None = None) -> Decoded:
    """`decode` with fastavro alone: the reference the compiled reader is tested against, and its fallback."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError("bad_magic", f"expected bytes, got {type(data).__name__}")
    if data[:2] != MAGIC:
        if len(data) < 2:
            raise CodecError("truncated", f"record is {len(data)} byte(s); the header alone is {HEADER_SIZE}")
        raise CodecError(
            "bad_magic",
            f"record starts with {bytes(data[:2]).hex()}, not c301: not Avro single-object encoding",
        )
    if len(data) < HEADER_SIZE:
        raise CodecError("truncated", f"record is {len(data)} bytes; the header alone is {HEADER_SIZE}")
    fp = data[2:HEADER_SIZE] if type(data) is bytes else bytes(data[2:HEADER_SIZE])
    writer, writer_parsed, reader_parsed, _ = _plan(fp, reader)
    fo = BytesIO(data)
    fo.seek(HEADER_SIZE)
    try:
        value = schemaless_reader(fo, writer_parsed, reader_parsed)
    except EOFError as exc:
        raise CodecError("truncated", f"{writer.name} v{writer.version} body ends early: {exc}") from exc
    except _BODY_ERRORS as exc:
        if fo.tell() >= len(data):  # fastavro ran off the end mid-value (it does not always say EOFError)
            raise CodecError(
                "truncated", f"{writer.name} v{writer.version} body ends early ({len(data)} bytes in all)"
            ) from exc
        raise CodecError(
            "bad_body", f"{writer.name} v{writer.version} body is not valid: {type(exc).__name__}: {exc}"
        ) from exc
    end = fo.tell()
    if end != len(data):
        raise CodecError(
            "bad_body",
            f"{writer.name} v{writer.version} body ends at byte {end} but the record has {len(data)}: trailing bytes",
        )
    if not isinstance(value, dict):
        raise CodecError("bad_body", f"{writer.name} body did not decode to a record")
    return Decoded(writer.name, writer.version, fp, value)


def encode(name: str, record: dict[str, Any], *, version: int | None = None) -> bytes:
    """Encode `record` with the latest version of schema `name`; CodecError('encode_failed') on a bad record.

    Strict: a field the schema does not know, a missing field without a default, or a value out of its
    Avro type's range (an int beyond 32 bits) is an error. Decimal precision is not checked here: the
    business rules (`schemas.rules`, amount_too_large) do that. A naive datetime is taken as UTC (fastavro).
    `version` picks an older version (tests of schema evolution; a producer pinned to an old contract).

    The schema's compiled writer (`schemas.avro_writer`: the same bytes, under half the time) writes the record
    when it takes every value; else fastavro writes it, or refuses it with its own words, as before.
    """
    sv = _writer(name, version)
    header, write = _compiled(sv)
    if write is not None:
        try:
            return header + write(record)
        except _ENCODE_ERRORS:
            pass  # declined (a value it does not take): fastavro encodes it, or says what is wrong
    return _fastavro_encode(sv, record)


def _fastavro_encode(sv: SchemaVersion, record: dict[str, Any]) -> bytes:
    """`encode` with fastavro alone: the reference the compiled writer is tested against, and its fallback."""
    buf = BytesIO()
    buf.write(MAGIC)
    buf.write(sv.fingerprint)
    try:
        # strict_allow_default alone is fastavro's strict mode that still fills defaults (strict=True would not).
        schemaless_writer(buf, sv.parsed, record, strict_allow_default=True)
        # The writer does not range-check: 2**40 in an Avro int would be written, and other Avro readers refuse it;
        # nor does it refuse a float or a bool there. Everything else wrong it refuses itself.
        _integers_checked(sv)(record)
    except (*_ENCODE_ERRORS, ValidationError) as exc:
        what = record.get("report_id") if isinstance(record, dict) else None
        raise CodecError(
            "encode_failed",
            f"cannot encode {sv.name} v{sv.version} record {what!r}: {type(exc).__name__}: {exc}",
        ) from exc
    return buf.getvalue()


_writers: dict[bytes, tuple[bytes, Write | None]] = {}


def _compiled(sv: SchemaVersion) -> tuple[bytes, Write | None]:
    """The single-object header and the compiled writer (`schemas.avro_writer`) of a schema; built once."""
    found = _writers.get(sv.fingerprint)
    if found is None:
        found = _writers[sv.fingerprint] = (MAGIC + sv.fingerprint, compile_writer(sv.parsed))
    return found


_Check = Callable[[Any], None]
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_PRIMITIVES = frozenset({"null", "boolean", "float", "double", "bytes", "string"})
_integer_checks: dict[bytes, _Check] = {}


def _integers_checked(sv: SchemaVersion) -> _Check:
    """What the writer lets through, checked for one schema: every int and long in its Avro range, and no float
    or bool in one. Built once per schema from its fields (only those that hold integers), so encoding does not
    pay for fastavro's full `validate` (as much as the write itself); a schema with a map or an ambiguous union
    falls back to `validate`."""
    check = _integer_checks.get(sv.fingerprint)
    if check is None:
        built = _compile(sv.parsed)
        if built is _FALLBACK:
            def check(record: Any, parsed: Any = sv.parsed) -> None:
                validate(record, parsed, raise_errors=True)
        else:
            check = built or (lambda _record: None)
        _integer_checks[sv.fingerprint] = check
    return check


def _fallback(_value: Any) -> None:  # a marker: this schema needs fastavro's validate
    raise AssertionError("never called")


_FALLBACK: _Check = _fallback


def _compile(schema: Any, where: str = "") -> _Check | None:
    """A check of the integers in values of `schema` (None: it holds none; _FALLBACK: not handled here)."""
    if isinstance(schema, list):  # a union: only [null, X] is handled
        branches = [b for b in schema if b != "null"]
        if len(branches) != 1:
            return _FALLBACK if any(_compile(b, where) is not None for b in branches) else None
        inner = _compile(branches[0], where)
        if inner is None or inner is _FALLBACK:
            return inner
        return lambda value: None if value is None else inner(value)
    if isinstance(schema, str):  # a primitive, or a reference to a named type defined earlier
        if schema in _INT_RANGE:
            return _leaf(schema, where)
        return None if schema in _PRIMITIVES else _FALLBACK
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _INT_RANGE:
        return _leaf(kind, where)
    if kind == "record":
        fields = [(f["name"], _compile(f["type"], f"{where}.{f['name']}" if where else f["name"]))
                  for f in schema["fields"]]
        if any(c is _FALLBACK for _, c in fields):
            return _FALLBACK
        checked = [(name, c) for name, c in fields if c is not None]
        if not checked:
            return None

        def record(value: Any) -> None:
            for name, c in checked:
                if name in value:
                    c(value[name])
        return record
    if kind == "array":
        item = _compile(schema["items"], f"{where}[]")
        if item is None or item is _FALLBACK:
            return item

        def array(value: Any) -> None:
            for v in value:
                item(v)
        return array
    if kind == "map":
        return _FALLBACK if _compile(schema["values"], where) is not None else None
    return None  # enum, fixed, string, bytes, boolean, float, double, a named type's reference


def _leaf(avro_type: str, where: str) -> _Check:
    low, high = _INT_RANGE[avro_type]

    def leaf(value: Any) -> None:
        if isinstance(value, bool | float):
            raise ValidationError(f"{where} = {value!r} is not an Avro {avro_type}")
        if isinstance(value, int) and not low <= value <= high:
            raise ValidationError(f"{where} = {value!r} is outside the Avro {avro_type} range")
    return leaf  # other types (a datetime for timestamp-millis, a date) the writer converts or refuses


def _writer(name: str, version: int | None) -> SchemaVersion:
    try:
        latest = registry.latest(name)
    except KeyError as exc:
        raise CodecError("encode_failed", str(exc.args[0])) from exc
    if version is None or version == latest.version:
        return latest
    for sv in registry.versions(name):
        if sv.version == version and version != registry.LEARNED_VERSION:
            return sv
    known = ", ".join(f"v{v.version}" for v in registry.versions(name) if v.version != registry.LEARNED_VERSION)
    raise CodecError("encode_failed", f"{latest.name} has no version {version}; known: {known}")


def schema_json(fingerprint: bytes) -> str:
    """The JSON text of the writer schema with this fingerprint, for the cshub.schemas topic."""
    sv = registry.by_fingerprint(bytes(fingerprint))
    if sv is None:
        raise CodecError("unknown_fingerprint", f"unknown schema fingerprint {bytes(fingerprint).hex()}")
    return sv.schema_json


def fingerprint_of(data: bytes) -> bytes:
    """The writer fingerprint in a record's header, without decoding the body."""
    if data[:2] != MAGIC or len(data) < HEADER_SIZE:
        raise CodecError("bad_magic", "not Avro single-object encoding (needs c301 and an 8-byte fingerprint)")
    return bytes(data[2:HEADER_SIZE])

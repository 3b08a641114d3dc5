"""Avro binary encoding compiled once per schema: the bytes fastavro writes, for the values it takes, faster.

Why: fastavro's `schemaless_writer` took 20-26 µs for one facility report here (it walks the schema on every
call, and its decimal and timestamp conversions run as Python functions); the publisher encodes every row. A
writer compiled from the parsed schema (each record's writer generated once as one function, other types as
closures) takes 7-9 µs: 52 k instructions against fastavro's 125 k (docs/performance.md).

It takes values of the exact types that validated reports hold (str, int within the Avro int/long range, bool,
float, bytes, Decimal within the decimal's precision and scale, aware datetime or int milliseconds for timestamp-
millis, date, list, dict, None) and writes exactly what fastavro writes for them (tests/schemas/test_avro_writer.py
compares the two on many varied records). Anything else it declines (`Declined`) rather than guess: the caller then
asks fastavro, which encodes the value or says why it cannot. A schema with a shape not handled here (a union of
two non-null branches, a recursive or unknown named type, an unknown logical type, a fixed decimal) compiles to
None.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

Write = Callable[[Any], bytes]
"""Writes one value of its schema as Avro binary (no header); raises `Declined` for a value it does not take."""


class Declined(ValueError):
    """A value the compiled writer (or bytes the compiled reader, `schemas.avro_reader`) does not take: fastavro
    decides."""


_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY = date(1970, 1, 1)
MILLISECOND = timedelta(milliseconds=1)
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Decimal arithmetic that never rounds (whatever the caller's context), for the unscaled value of a decimal."""
_FLOAT = struct.Struct("<f").pack
_DOUBLE = struct.Struct("<d").pack


def _varint7(zigzagged: int) -> bytes:
    out = bytearray()
    while zigzagged > 0x7F:
        out.append((zigzagged & 0x7F) | 0x80)
        zigzagged >>= 7
    out.append(zigzagged)
    return bytes(out)


_SMALL = tuple(_varint7(n) for n in range(1 << 14))
"""The varints of 0..16383 (the zig-zag of -8192..8191: lengths of text, counts, small numbers), looked up."""
_CONTINUED = tuple(bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14))
"""The two bytes of 14 low bits followed by more: a large number (a timestamp) takes a few look-ups, not a loop."""


def _varint_of(zigzagged: int) -> bytes:
    out = b""
    while zigzagged >= 16384:
        out += _CONTINUED[zigzagged & 0x3FFF]
        zigzagged >>= 14
    return out + _SMALL[zigzagged]


def long_bytes(n: int) -> bytes:
    """An Avro int or long (zig-zag varint) of an int already known to be within the long range."""
    zigzagged = (n << 1) ^ (n >> 63)
    return _SMALL[zigzagged] if zigzagged < 16384 else _varint_of(zigzagged)


def _decline(value: Any, what: str) -> Declined:
    return Declined(f"{type(value).__name__} value for {what}")


def _integer(avro_type: str) -> Write:
    low, high = _INT_RANGE[avro_type]

    def write(value: Any) -> bytes:
        if type(value) is not int or not low <= value <= high:
            raise _decline(value, avro_type)
        zigzagged = (value << 1) ^ (value >> 63)
        return _SMALL[zigzagged] if zigzagged < 16384 else _varint_of(zigzagged)
    return write


def _string(value: Any) -> bytes:
    if type(value) is not str:
        raise _decline(value, "string")
    data = value.encode()  # a lone surrogate raises UnicodeEncodeError (a ValueError): fastavro then says why
    size = len(data)
    return (_SMALL[size << 1] if size < 8192 else _varint_of(size << 1)) + data


def _bytes(value: Any) -> bytes:
    if type(value) is not bytes:
        raise _decline(value, "bytes")
    return long_bytes(len(value)) + value


def _boolean(value: Any) -> bytes:
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    raise _decline(value, "boolean")


def _null(value: Any) -> bytes:
    if value is not None:
        raise _decline(value, "null")
    return b""


def _float(value: Any) -> bytes:
    if type(value) is not float:
        raise _decline(value, "float")
    return _FLOAT(value)


def _double(value: Any) -> bytes:
    if type(value) is not float:
        raise _decline(value, "double")
    return _DOUBLE(value)


_PRIMITIVES: dict[str, Write] = {
    "null": _null, "boolean": _boolean, "int": _integer("int"), "long": _integer("long"), "float": _float,
    "double": _double, "bytes": _bytes, "string": _string,
}


def _decimal(precision: int, scale: int) -> Write:
    """fastavro's `prepare_bytes_decimal`: the unscaled value, big-endian two's complement, in
    (bit_length + 8) // 8 bytes; more digits than the precision, or more decimals than the scale, it refuses."""

    quantum = Decimal(1).scaleb(-scale)
    limit = 10**precision

    def write(value: Any) -> bytes:
        if type(value) is not Decimal:
            raise _decline(value, "decimal")
        if value.same_quantum(quantum):  # exactly `scale` decimals (money to the fen): no digit tuple to build
            unscaled = int(value.scaleb(scale, EXACT))
            if -limit < unscaled < limit:
                size = (unscaled.bit_length() + 8) // 8
                return _SMALL[size << 1] + unscaled.to_bytes(size, "big", signed=True)
        sign, digits, exponent = value.as_tuple()
        if not isinstance(exponent, int) or len(digits) > precision or exponent + scale < 0:
            raise _decline(value, f"decimal({precision}, {scale})")
        unscaled = 0
        for digit in digits:
            unscaled = unscaled * 10 + digit
        unscaled *= 10 ** (exponent + scale)
        size = (unscaled.bit_length() + 8) // 8
        data = (-unscaled if sign else unscaled).to_bytes(size, "big", signed=True)
        return _SMALL[size << 1] + data  # size < 8192: 10 ** 19700 is no decimal a schema has
    return write


_LONG_LOW, _LONG_HIGH = _INT_RANGE["long"]


def _timestamp_millis_writer() -> Write:
    """fastavro's `prepare_timestamp_millis` for an aware datetime (a naive one fastavro reads as local time), or
    for an int, which it writes as the milliseconds themselves (the worker's notifications carry epoch ms).

    The bytes of the last datetime written are kept with it: the rows of one file mostly share one production time,
    the very same object (the reader parses each distinct text once, pydantic keeps it), and the arithmetic on an
    aware datetime was a fifth of writing a report. Kept as one (value, bytes) pair, swapped whole, so two threads
    writing at once never see a value with another's bytes; holding the value keeps its identity unambiguous."""
    last: tuple[Any, bytes] = (object(), b"")  # no value is this object

    def write(value: Any) -> bytes:
        nonlocal last
        seen, data = last
        if value is seen:
            return data
        if type(value) is int and _LONG_LOW <= value <= _LONG_HIGH:
            return long_bytes(value)
        if type(value) is not datetime or value.tzinfo is None:
            raise _decline(value, "timestamp-millis")
        data = long_bytes((value - EPOCH) // MILLISECOND)  # = (days * 86400 + seconds) * 1000 + microseconds // 1000
        last = (value, data)
        return data
    return write


def _date(value: Any) -> bytes:
    if type(value) is not date:
        raise _decline(value, "date")
    return long_bytes((value - EPOCH_DAY).days)


def compile_writer(schema: Any) -> Write | None:
    """The writer of values of `schema` (fastavro's parsed form), or None when its shape is not handled here."""
    try:
        return _compile(schema, {})
    except Unsupported:
        return None


class Unsupported(Exception):
    """A schema shape the compiled code does not handle: compiling gives None, and fastavro does the work."""


def generated(lines: list[str], what: str, scope: dict[str, Any], name: str) -> Any:
    """The function `name` defined by the source `lines`, run in `scope` (the only names it sees besides builtins);
    `what` names it in tracebacks. Schema names enter the source only as `repr` literals."""
    exec(compile("\n".join(lines), f"<{what}>", "exec"), scope)
    return scope[name]


def _compile(schema: Any, named: dict[str, Write]) -> Write:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        if schema in named:  # a named type defined earlier (a reference to one being defined is recursion)
            return named[schema]
        raise Unsupported(schema)
    if isinstance(schema, list):
        return _union(schema, named)
    kind = schema.get("type")
    logical = schema.get("logicalType")
    if logical is not None:
        if logical == "decimal" and kind == "bytes":
            return _decimal(int(schema["precision"]), int(schema.get("scale", 0)))
        if logical == "timestamp-millis" and kind == "long":
            return _timestamp_millis_writer()
        if logical == "date" and kind == "int":
            return _date
        raise Unsupported(logical)
    if kind == "record":
        return _record(schema, named)
    if kind == "enum":
        return _named(schema, named, _enum(schema["symbols"]))
    if kind == "array":
        return _array(_compile(schema["items"], named))
    if kind == "map":
        return _map(_compile(schema["values"], named))
    if kind == "fixed":
        return _named(schema, named, _fixed(int(schema["size"])))
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise Unsupported(kind)


def _named(schema: dict[str, Any], named: dict[str, Write], write: Write) -> Write:
    named[schema["name"]] = write
    return write


def _union(branches: list[Any], named: dict[str, Write]) -> Write:
    """[null, X] or [X, null] (what optional fields are); fastavro picks null for None and X for the rest."""
    if len(branches) != 2 or "null" not in branches or branches[0] == branches[1]:
        raise Unsupported("union")
    null_index = branches.index("null")
    value_prefix = long_bytes(1 - null_index)
    null_bytes = long_bytes(null_index)
    inner = _compile(branches[1 - null_index], named)

    def write(value: Any) -> bytes:
        return null_bytes if value is None else value_prefix + inner(value)
    return write


def _enum(symbols: list[str]) -> Write:
    index = {symbol: long_bytes(i) for i, symbol in enumerate(symbols)}

    def write(value: Any) -> bytes:
        found = index.get(value) if type(value) is str else None
        if found is None:
            raise _decline(value, "enum")
        return found
    return write


def _fixed(size: int) -> Write:
    def write(value: Any) -> bytes:
        if type(value) is not bytes or len(value) != size:
            raise _decline(value, f"fixed({size})")
        return value
    return write


def _array(item: Write) -> Write:
    """One block of all the items, then the empty block (fastavro's layout); an empty array is the empty block."""

    def write(value: Any) -> bytes:
        if type(value) is not list:
            raise _decline(value, "array")
        if not value:
            return b"\x00"
        return long_bytes(len(value)) + b"".join([item(v) for v in value]) + b"\x00"
    return write


def _map(item: Write) -> Write:
    def write(value: Any) -> bytes:
        if type(value) is not dict:
            raise _decline(value, "map")
        if not value:
            return b"\x00"
        return long_bytes(len(value)) + b"".join([_string(k) + item(v) for k, v in value.items()]) + b"\x00"
    return write


def _record(schema: dict[str, Any], named: dict[str, Write]) -> Write:
    """The fields in schema order. Only a dict with exactly the schema's fields is taken: a missing field (that
    fastavro fills from its default, or refuses) or an unknown one (that it refuses) is declined.

    The record's writer is generated as one function, strings, integers, booleans and enums written inline, other
    fields through their compiled writer: a Python call per field cost more than the writing itself (a report has
    17 fields). The generated source names values only by the `repr` of the schema's field names."""
    name = schema["name"]
    fields = [(f["name"], f["type"], _compile(f["type"], named)) for f in schema["fields"]]  # own name: unknown yet
    scope: dict[str, Any] = {"RECORD": name, "DECLINE": _decline, "SMALL": _SMALL, "VARINT": _varint_of}
    # A dict of as many keys as the schema has fields, each looked up (KeyError: declined), has exactly them.
    lines = ["def write(r):",
             f"    if type(r) is not dict or len(r) != {len(fields)}:",
             "        raise DECLINE(r, RECORD)"]
    parts: list[str] = []  # one local per piece, joined once at the end
    for i, (field, avro_type, write_field) in enumerate(fields):
        lines.append(f"    v = r[{field!r}]")
        what = repr(f"{name}.{field}")
        if avro_type == "string":
            lines += [f"    if type(v) is not str: raise DECLINE(v, {what})",
                      f"    b{i} = v.encode()",
                      f"    n = len(b{i}) << 1",
                      f"    p{i} = SMALL[n] if n < 16384 else VARINT(n)"]
            parts += [f"p{i}", f"b{i}"]
            continue
        if isinstance(avro_type, str) and avro_type in _INT_RANGE:
            low, high = _INT_RANGE[avro_type]
            lines += [f"    if type(v) is not int or not {low} <= v <= {high}: raise DECLINE(v, {what})",
                      "    z = (v << 1) ^ (v >> 63)",
                      f"    p{i} = SMALL[z] if z < 16384 else VARINT(z)"]
        elif avro_type == "boolean":
            lines += [f"    p{i} = b'\\x01' if v is True else b'\\x00' if v is False else None",
                      f"    if p{i} is None: raise DECLINE(v, {what})"]
        elif isinstance(avro_type, dict) and avro_type.get("type") == "enum":
            scope[f"E{i}"] = {symbol: long_bytes(n) for n, symbol in enumerate(avro_type["symbols"])}
            lines += [f"    p{i} = E{i}.get(v) if type(v) is str else None",
                      f"    if p{i} is None: raise DECLINE(v, {what})"]
        else:
            scope[f"W{i}"] = write_field
            lines.append(f"    p{i} = W{i}(v)")
        parts.append(f"p{i}")
    lines.append(f"    return b''.join(({', '.join(parts)},))" if parts else "    return b''")
    write: Write = generated(lines, f"Avro writer of {name}", scope, "write")
    named[name] = write
    return write

"""Avro binary decoding compiled once per (writer schema, reader schema) pair: fastavro's values, faster.

Why: `codec.decode` runs once per inbound record (the streams worker, the auditor), and fastavro's
`schemaless_reader` took ~17 µs per facility report here: on every call it walks both schemas, matches writer to
reader at each node, and reads a `BytesIO` a few bytes at a time. Here the matching is done once, when the pair is
compiled, and each record's reader is generated as one function (`schemas.avro_writer`'s approach) that reads the
`bytes` by index, strings, integers, booleans, enums, decimals, timestamps, dates and unions inline.

It returns what fastavro returns (tests/schemas/test_avro_reader.py compares the two on many varied records, for
every pair of versions in schemas/avro/): a dict per record with the keys in fastavro's order (the fields both
schemas have in the writer's order, then those only the reader has, from their default), `Decimal` with the
writer's scale, aware UTC `datetime` for timestamp-millis, `date`, enums as `str` resolved by symbol name
(unknown ones to the reader's default), the writer's fields the reader lacks skipped, and the promotions Avro
allows (int to long, float or double, long to float or double, float to double, string to and from bytes).

It is stricter than fastavro, never laxer: it takes only bytes whose value is certain, and raises on anything else
(a varint beyond 64 bits, a negative length or block count, an enum or union index out of range, a boolean not 0
or 1, invalid UTF-8, a decimal beyond its precision, a timestamp or date beyond Python's range), as `Declined`,
`IndexError` or whatever the conversion raises. The caller then reads the bytes again with fastavro, which gives
its value or says what is wrong. A length running past the end is not checked where it is read: the position then
ends beyond the data (it never goes back), and the caller takes a value only when the position is exactly the
data's length.

A pair of a shape not handled here (aliases, a recursive or forward-referenced named type, a logical type other
than decimal on bytes, timestamp-millis and date, a logical type the two schemas disagree on, a type fastavro could
not resolve, an array of items that take no bytes) compiles to None.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from fastavro.const import AVRO_TYPES, NAMED_TYPES

from schemas.avro_writer import EPOCH, EPOCH_DAY, EXACT, MILLISECOND, Declined, Unsupported, generated

Read = Callable[[bytes, int], tuple[Any, int]]
"""Reads one value at position `pos` of `data`: the value as fastavro would give it, and the position after it."""

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PROMOTIONS = frozenset({("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
                         ("float", "double"), ("string", "bytes"), ("bytes", "string")})
"""Writer type -> reader type pairs Avro resolution allows (fastavro's `match_types`)."""
_TO_FLOAT = frozenset({("int", "float"), ("int", "double"), ("long", "float"), ("long", "double")})
_DAYS_SHIFT = EPOCH_DAY.toordinal()
_ONE_BYTE = 64
"""Enum symbols or union branches whose every index is one byte (zig-zag 0..126): read with one look-up."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A varint of any length, still zig-zagged, and the position after it. Unrolled: a timestamp's six bytes in a
    loop cost more than the rest of its field. fastavro's C reader keeps 64 bits and wraps the rest; a longer
    varint is declined, so that its value here is always fastavro's."""
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    n = b - 0x80
    b = data[pos + 1]
    if b < 0x80:
        return n | b << 7, pos + 2
    n |= (b - 0x80) << 7
    b = data[pos + 2]
    if b < 0x80:
        return n | b << 14, pos + 3
    n |= (b - 0x80) << 14
    b = data[pos + 3]
    if b < 0x80:
        return n | b << 21, pos + 4
    n |= (b - 0x80) << 21
    b = data[pos + 4]
    if b < 0x80:
        return n | b << 28, pos + 5
    n |= (b - 0x80) << 28
    b = data[pos + 5]
    if b < 0x80:
        return n | b << 35, pos + 6
    n |= (b - 0x80) << 35
    b = data[pos + 6]
    if b < 0x80:
        return n | b << 42, pos + 7
    n |= (b - 0x80) << 42
    b = data[pos + 7]
    if b < 0x80:
        return n | b << 49, pos + 8
    n |= (b - 0x80) << 49
    b = data[pos + 8]
    if b < 0x80:
        return n | b << 56, pos + 9
    n |= (b - 0x80) << 56
    b = data[pos + 9]
    if b < 2:  # the tenth byte holds the 64th bit only
        return n | b << 63, pos + 10
    raise Declined("varint beyond 64 bits")


_SMALL_LONG = tuple((b >> 1) ^ -(b & 1) if b < 0x80 else None for b in range(256))
"""The value of a one-byte int or long by its byte; None: more bytes follow (`_varint`)."""
_SMALL_SIZE = tuple(b >> 1 if b < 0x80 and not b & 1 else -1 for b in range(256))
"""A one-byte count by its byte; -1: more bytes follow (`_varint`), or it is negative."""
_SMALL_END = tuple(1 + (b >> 1) if b < 0x80 and not b & 1 else 0 for b in range(256))
"""Where a string or bytes with a one-byte length ends, from that byte's position, by its byte; 0: the length has
more bytes (`_bytes`), or it is negative."""


def _bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    """Bytes of any length (the generated code reads those of a one-byte length itself), and the position after."""
    n, pos = _varint(data, pos)
    if n & 1:
        raise Declined("negative length")
    end = pos + (n >> 1)
    return data[pos:end], end


def _signed(zigzagged: str) -> str:
    """The expression of an int or long from its zig-zagged varint named `zigzagged`."""
    return f"({zigzagged} >> 1) ^ -({zigzagged} & 1)"


def compile_reader(writer: Any, reader: Any = None) -> Read | None:
    """The reader of values written with `writer` as `reader` wants them (fastavro's parsed forms; None: as
    written), or None when the pair's shape is not handled here."""
    if reader is not None and reader == writer:
        reader = None  # fastavro reads an equal pair as written too
    try:
        return _Names(writer, reader).read(writer, reader)
    except Unsupported:
        return None


def _definitions(schema: Any, found: dict[str, Any]) -> dict[str, Any]:
    """The named types (records, enums, fixed) defined in `schema`, by full name: what a reference stands for."""
    if isinstance(schema, list):
        for branch in schema:
            _definitions(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in NAMED_TYPES:
            found[schema["name"]] = schema
        for field in schema.get("fields", ()):
            _definitions(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                _definitions(schema[key], found)
    return found


def _plain(schema: Any) -> Any:
    """A primitive written as {"type": "long"} (no logical type) is the name "long"."""
    if isinstance(schema, dict) and schema.get("type") in _PRIMITIVES and "logicalType" not in schema:
        return schema["type"]
    return schema


def _short_name(schema: dict[str, Any]) -> str:
    return str(schema["name"]).rsplit(".", 1)[-1]


def _what(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name", schema.get("type")))
    return "union" if isinstance(schema, list) else str(schema)


class _Function:
    """One generated function: its local names, and the objects it uses (they enter the source only by name)."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {"DECLINED": Declined, "VARINT": _varint, "BYTES": _bytes,
                                      "SMALL_LONG": _SMALL_LONG, "SMALL_SIZE": _SMALL_SIZE, "SMALL_END": _SMALL_END}
        self.locals = 0

    def const(self, value: Any) -> str:
        name = f"C{len(self.scope)}"
        self.scope[name] = value
        return name

    def local(self) -> str:
        self.locals += 1
        return f"v{self.locals}"

    def define(self, body: list[str], what: str) -> Read:
        read: Read = generated(["def read(data, pos):", *_indented(body)], f"Avro reader of {what}", self.scope,
                               "read")
        return read


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _varint_lines(into: str) -> list[str]:
    """A varint (still zig-zagged) into `into`: one byte inline, more through VARINT."""
    return [f"{into} = data[pos]",
            f"if {into} < 128:",
            "    pos += 1",
            "else:",
            f"    {into}, pos = VARINT(data, pos)"]


def _size_lines(into: str) -> list[str]:
    """A length or count into `into` (a negative one is declined)."""
    return [f"{into} = SMALL_SIZE[data[pos]]",
            f"if {into} < 0:",
            f"    {into}, pos = VARINT(data, pos)",
            f"    if {into} & 1:",
            "        raise DECLINED('negative length')",
            f"    {into} >>= 1",
            "else:",
            "    pos += 1"]


def _sized_lines(into: str, text: bool) -> list[str]:
    """Bytes (decoded as strict UTF-8, as fastavro does, when `text`) into `into`. Whether the data holds them all is
    not checked here: a short slice leaves the position beyond the data's end, where the caller refuses the value."""
    decode = ".decode()" if text else ""
    return ["step = SMALL_END[data[pos]]",
            "if step:",
            f"    {into} = data[pos + 1:pos + step]{decode}",
            "    pos += step",
            "else:",
            f"    {into}, pos = BYTES(data, pos)",
            *([f"    {into} = {into}.decode()"] if text else [])]


def _index_lines(count: int) -> list[str]:
    """A union's index, still zig-zagged, into `n`; one byte when every index is (not 0x80 0x00 for 0: fastavro
    never writes that, and any other value than those expected is declined by the caller)."""
    return ["n = data[pos]", "pos += 1"] if count <= _ONE_BYTE else _varint_lines("n")


class _Names:
    """One pair's compilation: the named types each schema defines, and the standalone readers of pairs of them
    (for references to a named type defined earlier)."""

    def __init__(self, writer: Any, reader: Any) -> None:
        self.writer_defs = _definitions(writer, {})
        self.reader_defs = _definitions(reader, {}) if reader is not None else {}
        self.done: set[tuple[str, str | None]] = set()
        self.standalone: dict[tuple[str, str | None], Read] = {}

    def read(self, writer: Any, reader: Any) -> Read:
        """The reader of one whole value, generated as one function."""
        fn = _Function()
        body = self.lines(writer, reader, "value", fn)
        return fn.define([*body, "return value, pos"], _what(writer))

    def lines(self, writer: Any, reader: Any, into: str, fn: _Function) -> list[str]:
        """Lines of `fn` reading one `writer` value (as `reader` wants it; None: as written) into `into`."""
        writer, reader = _plain(writer), _plain(reader)
        if isinstance(writer, list):
            return self._union(writer, reader, into, fn)
        if isinstance(reader, list):  # fastavro reads it as the first branch that matches
            for branch in reader:
                if self.matches(writer, branch):
                    return self.lines(writer, branch, into, fn)
            raise Unsupported("no branch of the reader's union matches")
        if isinstance(writer, str):
            if writer in _PRIMITIVES:
                return _primitive_lines(writer, reader, into, fn)
            return self._reference(writer, reader, into, fn)
        kind = writer.get("type")
        if "logicalType" in writer:
            return _logical_lines(writer, reader, into, fn)
        if kind == "record":
            return self._record(writer, reader, into, fn)
        if kind == "enum":
            self.done.add(self._named(writer, reader))
            return _enum_lines(writer, reader, into, fn)
        if kind == "fixed":
            self.done.add(self._named(writer, reader))
            return _fixed_lines(writer, reader, into)
        if kind == "array":
            return self._array(writer, reader, into, fn)
        if kind == "map":
            return self._map(writer, reader, into, fn)
        raise Unsupported(kind)

    def matches(self, writer: Any, reader: Any) -> bool:
        """fastavro's `match_types`: whether a writer's type can be read as `reader` (the choice of a union's
        branch). Declines where fastavro versions differ (an inline named type against a reference)."""
        writer, reader = _plain(writer), _plain(reader)
        if isinstance(writer, list) or isinstance(reader, list):
            return True  # fastavro's answer: the union is resolved when it is read
        if isinstance(writer, str) and isinstance(reader, str):
            if writer == reader or (writer, reader) in _PROMOTIONS:
                return True
            w_def, r_def = self.writer_defs.get(writer), self.reader_defs.get(reader)
            return w_def is not None and r_def is not None and self.matches(w_def, r_def)
        w_type = writer["type"] if isinstance(writer, dict) else writer
        r_type = reader["type"] if isinstance(reader, dict) else reader
        if w_type == r_type == "map":
            return self.matches(writer["values"], reader["values"])
        if w_type == r_type == "array":
            return self.matches(writer["items"], reader["items"])
        if w_type in NAMED_TYPES and r_type in NAMED_TYPES:
            if "aliases" in reader:
                raise Unsupported("aliases")
            if w_type == r_type == "fixed" and writer["size"] != reader["size"]:
                return False
            return _short_name(writer) == _short_name(reader)
        if not isinstance(w_type, str) or not isinstance(r_type, str) or w_type not in AVRO_TYPES \
                or r_type not in AVRO_TYPES:
            raise Unsupported("a named type against a reference to one")
        return w_type == r_type or (w_type, r_type) in _PROMOTIONS

    def _named(self, writer: dict[str, Any], reader: Any) -> tuple[str, str | None]:
        """The key of a named type's pair, after checking that fastavro would read one as the other."""
        if reader is not None:
            if not isinstance(reader, dict) or reader.get("type") != writer["type"] or "aliases" in reader:
                raise Unsupported(f"{writer['name']} read as {reader!r}")
            if _short_name(reader) != _short_name(writer):
                raise Unsupported(f"{writer['name']} read as {reader['name']}")
        return writer["name"], None if reader is None else reader["name"]

    def _reference(self, writer: str, reader: Any, into: str, fn: _Function) -> list[str]:
        """A named type defined earlier, read by a function of its own. Both schemas must refer to it (fastavro
        versions read a definition against a reference differently), and it must be done (not recursion)."""
        if reader is not None and not (isinstance(reader, str) and self.matches(writer, reader)):
            raise Unsupported(f"{writer} read as {reader!r}")
        key = (writer, reader)
        if key not in self.done:
            raise Unsupported(f"{writer}: recursive, or defined against something else")
        read = self.standalone.get(key)
        if read is None:
            read = self.standalone[key] = self.read(self.writer_defs[writer],
                                                    None if reader is None else self.reader_defs[reader])
        return [f"{into}, pos = {fn.const(read)}(data, pos)"]

    def _union(self, writer: list[Any], reader: Any, into: str, fn: _Function) -> list[str]:
        """The branch index, then that branch as the reader's first matching branch (fastavro's choice). An index
        out of range, or of a branch the reader cannot take (fastavro refuses it), raises."""
        if any(isinstance(branch, list) for branch in writer):
            raise Unsupported("a union in a union")
        lines = _index_lines(len(writer))
        keyword = "if"
        for index, branch in enumerate(writer):
            target: Any = None
            if isinstance(reader, list):
                target = next((b for b in reader if self.matches(branch, b)), _NO_MATCH)
            elif reader is not None:
                target = reader if self.matches(branch, reader) else _NO_MATCH
            if target is _NO_MATCH:
                continue
            lines += [f"{keyword} n == {index * 2}:", *_indented(self.lines(branch, target, into, fn))]
            keyword = "elif"
        if keyword == "if":
            return [*lines, "raise DECLINED('no branch the reader takes')"]
        return [*lines, "else:", "    raise DECLINED('union index out of range')"]

    def _record(self, writer: dict[str, Any], reader: Any, into: str, fn: _Function) -> list[str]:
        """Each field read inline in the writer's order, the record's dict built at the end (fastavro's order: the
        fields both have, then the reader's own from their default; a list or dict default copied, where fastavro
        hands out the schema's own object). The writer's fields the reader lacks are read and dropped."""
        key = self._named(writer, reader)
        reader_fields = {f["name"]: f for f in reader["fields"]} if reader is not None else None
        if reader_fields is not None and any("aliases" in f for f in reader_fields.values()):
            raise Unsupported("field aliases")
        lines: list[str] = []
        items: list[str] = []
        for field in writer["fields"]:
            name = field["name"]
            if reader_fields is not None and name not in reader_fields:
                lines += self.lines(field["type"], None, "_", fn)
                continue
            value = fn.local()
            lines += self.lines(field["type"], None if reader_fields is None else reader_fields.pop(name)["type"],
                                value, fn)
            items.append(f"{name!r}: {value}")
        for name, field in (reader_fields or {}).items():
            if "default" not in field:
                raise Unsupported(f"{name} has no default")  # fastavro refuses every such record
            default = field["default"]
            if isinstance(default, list | dict):
                fresh = repr(default) if not default else f"{fn.const(copy.deepcopy)}({fn.const(default)})"
                items.append(f"{name!r}: {fresh}")
            else:
                items.append(f"{name!r}: {fn.const(default)}")
        self.done.add(key)
        return [*lines, f"{into} = {{{', '.join(items)}}}"]

    def _array(self, writer: dict[str, Any], reader: Any, into: str, fn: _Function) -> list[str]:
        """Blocks of items until the empty block; a negative count (a block with its byte size, which fastavro
        never writes) is declined. Items that take no bytes are not handled: a huge count would loop for ever."""
        if reader is not None and (not isinstance(reader, dict) or reader.get("type") != "array"):
            raise Unsupported("array read as something else")
        if self._zero_width(writer["items"]):
            raise Unsupported("array of items that take no bytes")
        items, count, item = fn.local(), fn.local(), fn.local()
        read_item = self.lines(writer["items"], None if reader is None else reader["items"], item, fn)
        return [f"{items} = []",
                "while True:", *_indented(_size_lines(count)),
                f"    if not {count}:",
                "        break",
                f"    for _ in range({count}):", *_indented(_indented(read_item)),
                f"        {items}.append({item})",
                f"{into} = {items}"]

    def _map(self, writer: dict[str, Any], reader: Any, into: str, fn: _Function) -> list[str]:
        """Blocks of (string key, value) pairs until the empty block; a later duplicate key wins, as in fastavro."""
        if reader is not None and (not isinstance(reader, dict) or reader.get("type") != "map"):
            raise Unsupported("map read as something else")
        items, count, key, value = fn.local(), fn.local(), fn.local(), fn.local()
        read_key = _primitive_lines("string", None, key, fn)
        read_value = self.lines(writer["values"], None if reader is None else reader["values"], value, fn)
        return [f"{items} = {{}}",
                "while True:", *_indented(_size_lines(count)),
                f"    if not {count}:",
                "        break",
                f"    for _ in range({count}):", *_indented(_indented([*read_key, *read_value])),
                f"        {items}[{key}] = {value}",
                f"{into} = {items}"]

    def _zero_width(self, schema: Any) -> bool:
        schema = _plain(schema)
        if schema == "null":
            return True
        if isinstance(schema, str) and schema in self.writer_defs:
            return self._zero_width(self.writer_defs[schema])
        if isinstance(schema, dict) and schema.get("type") == "record":
            return all(self._zero_width(f["type"]) for f in schema["fields"])
        return isinstance(schema, dict) and schema.get("type") == "fixed" and schema["size"] == 0


_NO_MATCH = object()


def _primitive_lines(writer: str, reader: Any, into: str, fn: _Function) -> list[str]:
    """A primitive, promoted to the reader's type as fastavro's `maybe_promote` does."""
    if reader is not None and reader != writer and (not isinstance(reader, str) or (writer, reader) not in _PROMOTIONS):
        raise Unsupported(f"{writer} read as {reader!r}")
    if writer == "null":
        lines = [f"{into} = None"]
    elif writer == "boolean":
        lines = [f"{into} = {fn.const((False, True))}[data[pos]]", "pos += 1"]  # 2..255: IndexError
    elif writer in ("int", "long"):
        lines = [f"{into} = SMALL_LONG[data[pos]]",
                 f"if {into} is None:",
                 f"    {into}, pos = VARINT(data, pos)",
                 f"    {into} = {_signed(into)}",
                 "else:",
                 "    pos += 1"]
    elif writer in ("float", "double"):
        unpack = fn.const(struct.Struct("<f" if writer == "float" else "<d").unpack_from)  # short: struct.error
        lines = [f"{into} = {unpack}(data, pos)[0]", f"pos += {4 if writer == 'float' else 8}"]
    else:
        lines = _sized_lines(into, writer == "string")
    if (writer, reader) in _TO_FLOAT:
        lines.append(f"{into} = float({into})")
    elif (writer, reader) == ("string", "bytes"):
        lines.append(f"{into} = {into}.encode()")
    elif (writer, reader) == ("bytes", "string"):
        lines.append(f"{into} = {into}.decode()")
    return lines


def _logical_lines(writer: dict[str, Any], reader: Any, into: str, fn: _Function) -> list[str]:
    """decimal (bytes), timestamp-millis and date, as fastavro's logical readers convert them (the writer's logical
    type decides there); the reader must have the same one."""
    kind, logical = writer["type"], writer["logicalType"]
    if reader is not None and not (isinstance(reader, dict) and reader.get("type") == kind
                                   and all(reader.get(k) == writer.get(k)
                                           for k in ("logicalType", "precision", "scale"))):
        raise Unsupported(f"{logical} read as {reader!r}")
    if logical == "decimal" and kind == "bytes":
        precision, scale = writer.get("precision"), writer.get("scale", 0)
        if type(precision) is not int or type(scale) is not int or not 0 <= scale <= precision:
            raise Unsupported("decimal precision and scale")
        # fastavro: Context(prec=precision).create_decimal(unscaled).scaleb(-scale); within the precision that is
        # exactly the unscaled digits at exponent -scale, which one exact multiplication gives. Beyond it fastavro
        # rounds: declined.
        return [*_sized_lines("n", False),
                f"n = {fn.const(int.from_bytes)}(n, 'big', signed=True)",
                f"if not -{10**precision} < n < {10**precision}:",
                "    raise DECLINED('decimal beyond its precision')",
                f"{into} = {fn.const(EXACT.multiply)}(n, {fn.const(Decimal(1).scaleb(-scale))})"]
    if logical == "timestamp-millis" and kind == "long":  # fastavro: epoch + timedelta(microseconds=n * 1000)
        return ["n, pos = VARINT(data, pos)",
                f"{into} = {fn.const(EPOCH)} + {fn.const(MILLISECOND)} * ({_signed('n')})"]
    if logical == "date" and kind == "int":  # fastavro: date.fromordinal(n + DAYS_SHIFT)
        return ["n, pos = VARINT(data, pos)",
                f"{into} = {fn.const(date.fromordinal)}(({_signed('n')}) + {_DAYS_SHIFT})"]
    raise Unsupported(f"{kind} {logical}")


def _enum_lines(writer: dict[str, Any], reader: Any, into: str, fn: _Function) -> list[str]:
    """The index looked up (still zig-zagged) in the symbols as the reader resolves them: by name, an unknown one
    to the reader's default if it has one (fastavro: a true one); without one, fastavro refuses it."""
    symbols: dict[int, str] = {}
    for index, symbol in enumerate(writer["symbols"]):
        if reader is None or symbol in reader["symbols"]:
            symbols[index * 2] = symbol
        elif reader.get("default"):
            symbols[index * 2] = reader["default"]
    table = fn.const(symbols)
    if len(writer["symbols"]) <= _ONE_BYTE:  # every index one byte (0x80 0x00 for 0, never written, is declined)
        return [f"{into} = {table}[data[pos]]", "pos += 1"]
    return [*_varint_lines("n"), f"{into} = {table}[n]"]


def _fixed_lines(writer: dict[str, Any], reader: Any, into: str) -> list[str]:
    size = int(writer["size"])
    if reader is not None and reader["size"] != size:
        raise Unsupported("fixed of another size")
    return [f"{into} = data[pos:pos + {size}]", f"pos += {size}"]

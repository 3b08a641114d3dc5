"""Random values of an Avro schema, of the exact types validated reports hold, with the edges that break codecs;
and a comparison of decoded values that also compares their types. Shared by the compiled writer's and reader's
tests (tests/schemas/test_avro_writer.py, test_avro_reader.py, test_codec_fuzz.py)."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

TEXTS = ["", " ", "a", "玄武区梅园新村街道长江路社区", "苏政办发〔2022〕31号", "emoji 🏘️ ok", "x" * 63, "y" * 64,
         "社" * 2731, "z" * 8200, "tab\tnew\nline", "\x00nul"]
ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
TIMESTAMPS = [datetime(1970, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999000, UTC),
              datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999000, UTC),
              datetime(2262, 4, 11, 23, 47, 16, 854000, UTC), datetime(1677, 9, 21, 0, 12, 43, 146000, UTC)]
"""The epoch, just before it, the ends of Python's range, the ends of a 64-bit nanosecond count."""
DATES = [date(1970, 1, 1), date(1969, 12, 31), date(1, 1, 1), date(9999, 12, 31)]


def value(schema: Any, rng: random.Random, named: dict[str, Any]) -> Any:
    """A random value of `schema` (fastavro's parsed form) of the exact types validated reports hold."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return None if "null" in schema and rng.random() < 0.4 else value(rng.choice(branches), rng, named)
    if isinstance(schema, str):
        if schema in named:
            return value(named[schema], rng, named)
        return _primitive(schema, rng)
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "decimal":
        return _decimal(rng, schema["precision"], schema.get("scale", 0))
    if logical == "timestamp-millis":
        if rng.random() < 0.1:
            return rng.choice(TIMESTAMPS)
        if rng.random() < 0.1:  # epoch milliseconds as an int, as the worker's notifications carry them
            return rng.randrange(-62_135_596_800_000, 253_402_300_800_000)  # years 1-9999: readable back
        when = datetime(1965, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(2_400_000_000_000_000))
        return when.astimezone(rng.choice(ZONES))
    if logical == "date":
        return rng.choice(DATES) if rng.random() < 0.1 else date(1969, 12, 1) + timedelta(days=rng.randrange(30_000))
    if kind == "record":
        named[schema["name"]] = schema
        return {f["name"]: value(f["type"], rng, named) for f in schema["fields"]}
    if kind == "enum":
        named[schema["name"]] = schema
        return rng.choice(schema["symbols"])
    if kind == "fixed":
        named[schema["name"]] = schema
        return rng.randbytes(schema["size"])
    if kind == "array":
        return [value(schema["items"], rng, named) for _ in range(rng.choice([0, 1, 3, 70]))]
    if kind == "map":
        return {rng.choice(TEXTS) + str(i): value(schema["values"], rng, named) for i in range(rng.choice([0, 2, 70]))}
    return _primitive(kind, rng)


def _decimal(rng: random.Random, precision: int, scale: int) -> Decimal:
    digits = rng.choice([1, 2, scale + 1, precision, rng.randint(1, precision)])
    unscaled = rng.choice([0, 1, 10 ** digits - 1, rng.randrange(10 ** digits)])
    exponent = -rng.randint(0, scale) if rng.random() < 0.9 else rng.randint(0, 2)
    sign = rng.choice(["", "-"])
    result = Decimal(f"{sign}{unscaled}E{exponent}")
    return result if len(result.as_tuple().digits) <= precision else Decimal(f"{sign}1")


def _primitive(kind: str, rng: random.Random) -> Any:
    if kind == "string":
        return rng.choice(TEXTS)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("int", "long"):
        bits = 31 if kind == "int" else 63
        return rng.choice([0, 1, -1, 63, 64, -64, -65, 8191, 8192, -8192, -8193, 2**bits - 1, -(2**bits),
                           rng.randint(-(2**bits), 2**bits - 1), rng.randint(-100_000, 100_000)])
    if kind == "bytes":
        return rng.randbytes(rng.choice([0, 5, 300]))
    if kind in ("float", "double"):
        return rng.choice([0.0, -1.5, 3.25, 1e10])
    if kind == "null":
        return None
    raise AssertionError(kind)


def assert_same(got: Any, expected: Any, where: str = "value") -> None:
    """Equal and of the same types all the way down: dict keys in the same order, True is not 1, a Decimal has the
    same digits and exponent (0.10 is not 0.1), a datetime the same zone."""
    assert type(got) is type(expected), f"{where}: {got!r} != {expected!r} (types)"
    if isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)} != {list(expected)}"
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert len(got) == len(expected), f"{where}: {len(got)} items != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, Decimal):
        assert got.as_tuple() == expected.as_tuple(), f"{where}: {got!r} != {expected!r}"
    elif isinstance(expected, datetime):
        assert (got, got.tzinfo) == (expected, expected.tzinfo), f"{where}: {got!r} != {expected!r}"
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), f"{where}: {got!r} is not NaN"
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"

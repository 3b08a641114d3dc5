"""Cheap decoding for the aggregation agent: validated records, read without logical types.

The validation agent already decoded every record fully (Decimal, datetime) to check the rules.
Aggregation only needs a few fields, and money as integer fen, so it reads each writer schema
with its logical types stripped: decimals stay raw two's-complement bytes (exactly the fen, see
`core.contributions.hundredths`), timestamps stay epoch ms. That skips most of fastavro's
per-field conversion cost. Unknown fingerprints fall back to `schemas.codec` for the error.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import fastavro

from schemas import codec, registry
from schemas.errors import CodecError

_plans: dict[bytes, tuple[str, Any]] = {}


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _plan(fp: bytes) -> tuple[str, Any]:
    plan = _plans.get(fp)
    if plan is None:
        sv = registry.by_fingerprint(fp)
        if sv is None:
            raise CodecError("unknown_fingerprint", f"unknown writer schema fingerprint {fp.hex()}")
        plan = (sv.name, fastavro.parse_schema(_strip(json.loads(sv.schema_json)), named_schemas={}))
        _plans[fp] = plan
    return plan


def decode_plain(data: bytes) -> tuple[str, dict[str, Any]]:
    """(schema name, record) with decimals as raw bytes and timestamps/dates as ints; CodecError if bad."""
    if data[:2] != codec.MAGIC or len(data) < codec.HEADER_SIZE:
        raise CodecError("bad_magic", "not Avro single-object encoding")
    name, parsed = _plan(bytes(data[2:10]))
    fo = BytesIO(data)
    fo.seek(10)
    try:
        return name, fastavro.schemaless_reader(fo, parsed, None)
    except (EOFError, ValueError, IndexError, KeyError, TypeError) as exc:
        raise CodecError("bad_body", f"{name} body is not valid: {exc}") from exc

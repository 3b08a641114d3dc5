"""Verdicts: what the hub made of each inbound record, the input of the log service and its receipts.

One verdict per inbound record (docs/evidence.md §4): accepted (a new latest revision, or a withdrawal),
duplicate (that revision was already applied from another record), superseded (a later revision was), or
rejected (with the reason code and message that went to `cshub.rejected`); `late` beside it when the record
was the first of its (province, kind, period) after the period's due time. The fold (`core.Hub`) decides
the first three, validation (`core.validation.decide`) the last; the worker writes them to `<root>.verdicts`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import orjson

ACCEPTED: Final = "accepted"
DUPLICATE: Final = "duplicate"
SUPERSEDED: Final = "superseded"
REJECTED: Final = "rejected"
VERDICTS: Final = (ACCEPTED, DUPLICATE, SUPERSEDED, REJECTED)
FORMAT_VERSION: Final = 1
KID_HEADER: Final = "cshub-kid"


def value_sha256(value: bytes | None) -> str:
    """Hex SHA-256 of an inbound value as received (of b"" for a null value)."""
    return hashlib.sha256(value or b"").hexdigest()


def key_text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="replace")


def kid_of(headers: Any) -> str | None:
    """The `cshub-kid` header of a record (Kafka headers as (name, bytes) pairs), if it has one."""
    for name, value in headers or ():
        if name == KID_HEADER and value is not None:
            return bytes(value).decode("ascii", errors="replace")
    return None


def verdict_record(topic: str, partition: int, offset: int, timestamp_ms: int, sha256: str, key: str | None,
                   kid: str | None, province: str | None, kind: str | None, report_id: str | None,
                   revision: int | None, verdict: str, late: bool = False, reason: str = "",
                   message: str = "") -> dict[str, Any]:
    """The verdict of one inbound record, as written to `<root>.verdicts` (field by field: docs/evidence.md §4)."""
    return {"v": FORMAT_VERSION, "topic": topic, "partition": partition, "offset": offset,
            "timestamp_ms": timestamp_ms, "value_sha256": sha256, "key": key, "kid": kid, "province": province,
            "kind": kind, "report_id": report_id, "revision": revision, "verdict": verdict, "late": late,
            "reason": reason, "message": message}


def encode_verdict(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


def decode_verdict(data: bytes) -> dict[str, Any]:
    """A verdict record from its bytes; raises ValueError when it is not one (a reader names the offset)."""
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not a verdict record (not JSON: {exc})") from None
    if not isinstance(record, dict) or record.get("v") != FORMAT_VERSION or record.get("verdict") not in VERDICTS:
        raise ValueError(f"not a verdict record of format {FORMAT_VERSION}")
    return record

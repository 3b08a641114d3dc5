"""The transparency log's entries: one per inbound record (its verdict) and one per published national row.

Pure: no Kafka, no clock. The log service (`connectors/notary.py`) turns each verdict of `cshub.verdicts` and
each record of a `cshub.national.<table>` topic into an entry, encodes it with `encode_entry`, appends
`leaf_hash(bytes)` to the Merkle tree (`core.merkle`) and writes the bytes, unchanged, as the value of a record
of the log topic. An auditor decodes them with `decode_entry`, which refuses any byte string that is not the
canonical encoding of its content, so "same entry" always means "same bytes, same leaf hash".

The encoding (docs/evidence.md §5): a UTF-8 JSON object with exactly the fields of the entry's type, keys sorted
by code point, no whitespace, integers in decimal, no floats, strings as orjson writes them (UTF-8, only `"`,
`\\` and control characters escaped). `prev` is the hex leaf hash of the entry before (64 zeros for entry 0):
the entries also form a hash chain, so a single entry shows where it belongs without the tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from core.merkle import HASH_SIZE, CompactState, leaf_hash
from schemas.errors import CshubError

__all__ = ["FIRST_PREV", "VERDICTS", "InboundEntry", "LogEntry", "LogFormatError", "NationalEntry", "Verdict",
           "chain_problems", "decode_entry", "decode_positions", "decode_tree_state", "encode_entry",
           "encode_positions", "encode_tree_state", "entry_leaf", "entry_of_national_row", "entry_of_verdict",
           "parse_verdict"]

FORMAT_VERSION = 1
FIRST_PREV = "0" * (2 * HASH_SIZE)
"""`prev` of entry 0: there is no entry before it."""
VerdictName = Literal["accepted", "duplicate", "superseded", "rejected"]
VERDICTS: tuple[VerdictName, ...] = ("accepted", "duplicate", "superseded", "rejected")
_ADVICE = "use the bytes exactly as the log topic holds them (docs/evidence.md §5)"
_VERDICT_ADVICE = "the worker writes verdicts in the format of docs/evidence.md §4"


class LogFormatError(CshubError, ValueError):
    """Bytes that are not a log entry (or a verdict) in the documented format; the message says which field."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the worker decided about one inbound record (`cshub.verdicts`, docs/evidence.md §4)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value_sha256: str
    key: str | None
    kid: str | None
    province: str | None
    kind: str | None
    report_id: str | None
    revision: int | None
    verdict: VerdictName
    late: bool
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundEntry:
    """The log entry of one inbound record: its coordinate, what it was, and the worker's verdict.

    Fields are declared in code-point order, so orjson's native dataclass output is already the canonical form.
    """

    index: int
    key: str | None
    kid: str | None
    kind: str | None
    late: bool
    message: str
    offset: int
    partition: int
    prev: str
    province: str | None
    reason: str
    report_id: str | None
    revision: int | None
    timestamp_ms: int
    topic: str
    type: Literal["inbound"] = "inbound"
    v: int = FORMAT_VERSION
    value_sha256: str
    verdict: VerdictName


@dataclass(frozen=True, slots=True, kw_only=True)
class NationalEntry:
    """The log entry of one record of a national table topic: which row the hub published, by its hash.

    Fields in code-point order (see `InboundEntry`).
    """

    index: int
    key: str | None
    offset: int
    partition: int
    prev: str
    timestamp_ms: int
    topic: str
    type: Literal["national"] = "national"
    v: int = FORMAT_VERSION
    value_sha256: str


LogEntry = InboundEntry | NationalEntry

_STR, _OPT_STR, _INT, _OPT_INT, _BOOL = "str", "str|null", "int", "int|null", "bool"
_VERDICT_FIELDS: dict[str, str] = {
    "topic": _STR, "partition": _INT, "offset": _INT, "timestamp_ms": _INT, "value_sha256": _STR,
    "key": _OPT_STR, "kid": _OPT_STR, "province": _OPT_STR, "kind": _OPT_STR, "report_id": _OPT_STR,
    "revision": _OPT_INT, "verdict": _STR, "late": _BOOL, "reason": _STR, "message": _STR}
_COMMON = {"v": _INT, "type": _STR, "index": _INT, "prev": _STR}
_INBOUND_FIELDS = {**_COMMON, **_VERDICT_FIELDS}
_NATIONAL_FIELDS = {**_COMMON, "topic": _STR, "partition": _INT, "offset": _INT, "timestamp_ms": _INT,
                    "key": _OPT_STR, "value_sha256": _STR}


_ALLOWED: dict[str, tuple[type, ...]] = {_STR: (str,), _OPT_STR: (str, type(None)), _INT: (int,),
                                         _OPT_INT: (int, type(None)), _BOOL: (bool,)}
"""The exact Python types JSON values of each kind decode to (`type(x) in ...`: True is not an int here)."""


def _check_fields(obj: object, spec: dict[str, str], what: str, advice: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise LogFormatError(f"{what} is not a JSON object", advice)
    missing = sorted(spec.keys() - obj.keys())
    extra = sorted(obj.keys() - spec.keys())
    if missing or extra:
        raise LogFormatError(f"{what} lacks fields {missing} / has unknown fields {extra}", advice)
    for name, kind in spec.items():
        if type(obj[name]) not in _ALLOWED[kind]:
            raise LogFormatError(f"{what}: field {name} is {obj[name]!r}, not {kind}", advice)
    return obj


def _check_hex_hash(value: str, name: str, what: str, advice: str) -> None:
    if len(value) != 2 * HASH_SIZE or value.strip("0123456789abcdef"):
        raise LogFormatError(f"{what}: field {name} is not 64 lowercase hex digits", advice)


def parse_verdict(raw: bytes, where: str = "a verdict") -> Verdict:
    """The verdict in one `cshub.verdicts` value (UTF-8 JSON, format 1); `where` names it in errors."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LogFormatError(f"{where} is not UTF-8 JSON: {exc}", _VERDICT_ADVICE) from None
    if not isinstance(obj, dict) or obj.get("v") != FORMAT_VERSION:
        raise LogFormatError(f"{where} is not a format-{FORMAT_VERSION} verdict (field v)", _VERDICT_ADVICE)
    body = {k: v for k, v in obj.items() if k != "v"}
    _check_fields(body, _VERDICT_FIELDS, where, _VERDICT_ADVICE)
    if body["verdict"] not in VERDICTS:
        raise LogFormatError(f"{where}: verdict {body['verdict']!r} is not one of {', '.join(VERDICTS)}",
                             _VERDICT_ADVICE)
    _check_hex_hash(body["value_sha256"], "value_sha256", where, _VERDICT_ADVICE)
    return Verdict(**body)


_VERDICT_NAMES = tuple(_VERDICT_FIELDS)


def entry_of_verdict(verdict: Verdict, index: int, prev: str) -> InboundEntry:
    """The log entry at `index` (after the entry whose leaf hash is `prev`, hex) for this verdict."""
    return InboundEntry(index=index, prev=prev, **{n: getattr(verdict, n) for n in _VERDICT_NAMES})


def entry_of_national_row(topic: str, partition: int, offset: int, timestamp_ms: int, key: bytes | None,
                          value_sha256: str, index: int, prev: str) -> NationalEntry:
    """The log entry at `index` of one national table record (`value_sha256`: hex SHA-256 of its value, of b""
    for a tombstone)."""
    text = None if key is None else key.decode("utf-8", errors="replace")
    return NationalEntry(index=index, prev=prev, topic=topic, partition=partition, offset=offset,
                         timestamp_ms=timestamp_ms, key=text, value_sha256=value_sha256)


def encode_entry(entry: LogEntry) -> bytes:
    """The canonical bytes of an entry: what the log topic stores and the Merkle leaf hashes."""
    return orjson.dumps(entry)  # a dataclass: its fields in declaration order, which is code-point order


def decode_entry(raw: bytes, where: str = "a log entry") -> LogEntry:
    """The entry in `raw`; refuses anything but the canonical encoding of a well-formed entry."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LogFormatError(f"{where} is not UTF-8 JSON: {exc}", _ADVICE) from None
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind == "inbound":
        body = _check_fields(obj, _INBOUND_FIELDS, where, _ADVICE)
        if body["verdict"] not in VERDICTS:
            raise LogFormatError(f"{where}: verdict {body['verdict']!r} is not one of {', '.join(VERDICTS)}", _ADVICE)
        entry: LogEntry = InboundEntry(**body)
    elif kind == "national":
        entry = NationalEntry(**_check_fields(obj, _NATIONAL_FIELDS, where, _ADVICE))
    else:
        raise LogFormatError(f"{where}: type {kind!r} is not inbound or national", _ADVICE)
    if entry.v != FORMAT_VERSION:
        raise LogFormatError(f"{where}: format version {entry.v}, this code reads {FORMAT_VERSION}", _ADVICE)
    if entry.index < 0:
        raise LogFormatError(f"{where}: index {entry.index} is negative", _ADVICE)
    _check_hex_hash(entry.prev, "prev", where, _ADVICE)
    _check_hex_hash(entry.value_sha256, "value_sha256", where, _ADVICE)
    if encode_entry(entry) != raw:
        raise LogFormatError(f"{where} is not in canonical form (sorted keys, no whitespace)", _ADVICE)
    return entry


def entry_leaf(raw: bytes) -> str:
    """The hex leaf hash of an entry's bytes: the next entry's `prev`."""
    return leaf_hash(raw).hex()


# ---- what the log service keeps beside its entries, to resume after a crash --------------------------------

def encode_tree_state(state: CompactState) -> bytes:
    """`CompactTree.state()` as bytes: the size (8 bytes, big-endian), then each peak (32 bytes), largest first."""
    return state.size.to_bytes(8, "big") + b"".join(state.peaks)


def decode_tree_state(raw: bytes, where: str = "a tree state") -> CompactState:
    """The `CompactState` in `encode_tree_state` bytes."""
    if len(raw) < 8 or (len(raw) - 8) % HASH_SIZE:
        raise LogFormatError(f"{where} is {len(raw)} bytes: not 8 + 32 per peak", _ADVICE)
    size = int.from_bytes(raw[:8], "big")
    peaks = tuple(raw[i:i + HASH_SIZE] for i in range(8, len(raw), HASH_SIZE))
    if len(peaks) != size.bit_count():
        raise LogFormatError(f"{where}: a tree of size {size} has {size.bit_count()} peaks, not {len(peaks)}", _ADVICE)
    return CompactState(size, peaks)


def encode_positions(positions: dict[tuple[str, int], int]) -> bytes:
    """Per inbound (topic, partition), the next offset the log expects a verdict for: canonical JSON
    `{"<topic>|<partition>": next_offset}`."""
    return orjson.dumps({f"{t}|{p}": n for (t, p), n in positions.items()}, option=orjson.OPT_SORT_KEYS)


def decode_positions(raw: bytes, where: str = "positions") -> dict[tuple[str, int], int]:
    """The map written by `encode_positions`."""
    try:
        obj = orjson.loads(raw)
        out = {}
        for name, offset in obj.items():
            topic, _, partition = name.rpartition("|")
            if not topic or type(offset) is not int:
                raise ValueError(name)
            out[(topic, int(partition))] = offset
    except (orjson.JSONDecodeError, ValueError, AttributeError) as exc:
        raise LogFormatError(f"{where} is not a JSON object of topic|partition -> offset: {exc}", _ADVICE) from None
    return out


def chain_problems(raw_entries: Iterable[bytes], where: str = "the log") -> list[str]:
    """What is wrong with a log's entries in order: not decodable, an index out of sequence, a `prev` that is not
    the leaf hash of the entry before. [] for a well-formed log (the tree itself is checked against the
    checkpoints with `core.checkpoint.check_against_log`)."""
    problems: list[str] = []
    prev = FIRST_PREV
    for position, raw in enumerate(raw_entries):
        try:
            entry = decode_entry(raw, f"entry {position} of {where}")
        except LogFormatError as exc:
            problems.append(str(exc))
        else:
            if entry.index != position:
                problems.append(f"entry {position} of {where} says it is entry {entry.index}")
            if entry.prev != prev:
                problems.append(f"entry {position} of {where}: prev is not the leaf hash of entry {position - 1}")
        prev = entry_leaf(raw)
    return problems

"""The log's entry encoding: canonical bytes, strict decoding, the verdict format it is built from."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from core.log_entries import (
    FIRST_PREV,
    InboundEntry,
    LogFormatError,
    NationalEntry,
    decode_entry,
    decode_positions,
    decode_tree_state,
    encode_entry,
    encode_positions,
    encode_tree_state,
    entry_leaf,
    entry_of_national_row,
    entry_of_verdict,
    parse_verdict,
)
from core.merkle import CompactTree, leaf_hash

VALUE_HASH = hashlib.sha256(b"avro bytes").hexdigest()


def verdict_bytes(**over: object) -> bytes:
    fields: dict[str, object] = {
        "v": 1, "topic": "cshub.in.320000.facility", "partition": 0, "offset": 7, "timestamp_ms": 1764600000000,
        "value_sha256": VALUE_HASH, "key": "F-001", "kid": "3f2a9c0d11e4b7a8", "province": "320000",
        "kind": "facility", "report_id": "F-001", "revision": 2, "verdict": "rejected", "late": False,
        "reason": "bad_area", "message": "建筑面积必须大于 0"}
    fields.update(over)
    return orjson.dumps(fields)


def test_an_inbound_entry_is_canonical_json_with_sorted_keys_and_utf8_text() -> None:
    entry = entry_of_verdict(parse_verdict(verdict_bytes()), 0, FIRST_PREV)
    raw = encode_entry(entry)
    assert raw.startswith(b'{"index":0,"key":"F-001","kid":"3f2a9c0d11e4b7a8","kind":"facility","late":false,')
    assert "建筑面积必须大于 0".encode() in raw  # not \\u-escaped
    assert raw.endswith(b',"type":"inbound","v":1,"value_sha256":"' + VALUE_HASH.encode() + b'","verdict":"rejected"}')
    assert decode_entry(raw) == entry
    assert entry_leaf(raw) == leaf_hash(raw).hex()


def test_a_national_entry_round_trips_and_keeps_a_null_key() -> None:
    entry = entry_of_national_row("cshub.national.coverage", 0, 12, 1764600000001, None,
                                  hashlib.sha256(b"").hexdigest(), 5, "ab" * 32)
    assert isinstance(entry, NationalEntry) and entry.key is None
    assert decode_entry(encode_entry(entry)) == entry


@pytest.mark.parametrize(("raw", "message"), [
    (b"not json", "not UTF-8 JSON"),
    (b'{"type":"other"}', "not inbound or national"),
    (b'{"type":"national","v":1}', "lacks fields"),
])
def test_malformed_entries_are_refused_with_the_reason(raw: bytes, message: str) -> None:
    with pytest.raises(LogFormatError, match=message):
        decode_entry(raw)


def test_an_entry_that_is_not_in_canonical_form_is_refused() -> None:
    entry = entry_of_verdict(parse_verdict(verdict_bytes()), 3, "cd" * 32)
    loose = orjson.dumps(orjson.loads(encode_entry(entry)), option=orjson.OPT_INDENT_2)
    with pytest.raises(LogFormatError, match="canonical"):
        decode_entry(loose)
    altered = encode_entry(entry).replace(b'"offset":7', b'"offset":"7"')
    with pytest.raises(LogFormatError, match="offset"):
        decode_entry(altered)


@pytest.mark.parametrize(("over", "message"), [
    ({"v": 2}, "format-1"),
    ({"verdict": "maybe"}, "verdict 'maybe'"),
    ({"value_sha256": "XYZ"}, "value_sha256"),
    ({"revision": "2"}, "revision"),
    ({"extra": 1}, "unknown fields"),
])
def test_a_bad_verdict_names_the_field(over: dict[str, object], message: str) -> None:
    with pytest.raises(LogFormatError, match=message):
        parse_verdict(verdict_bytes(**over), "verdict at offset 4")


def test_a_verdict_that_did_not_decode_has_null_report_fields() -> None:
    verdict = parse_verdict(verdict_bytes(report_id=None, revision=None, key=None, kid=None))
    entry = entry_of_verdict(verdict, 1, FIRST_PREV)
    assert isinstance(entry, InboundEntry) and entry.report_id is None
    assert decode_entry(encode_entry(entry)) == entry


def test_tree_state_and_positions_round_trip() -> None:
    tree = CompactTree()
    for i in range(13):
        tree.append(b"%d" % i)
    state = decode_tree_state(encode_tree_state(tree.state()))
    assert CompactTree(state).root() == tree.root()
    with pytest.raises(LogFormatError, match="peaks"):
        decode_tree_state(encode_tree_state(tree.state())[:-32])
    positions = {("cshub.in.320000.facility", 0): 8, ("cshub.in.110000.policy", 2): 1}
    assert decode_positions(encode_positions(positions)) == positions


def test_entry_fields_are_declared_in_code_point_order_so_the_native_encoding_is_canonical() -> None:
    from dataclasses import fields

    for kind in (InboundEntry, NationalEntry):
        names = [f.name for f in fields(kind)]
        assert names == sorted(names), kind

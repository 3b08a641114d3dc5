"""The log service's pure step, without a broker: a poll's records become entries, repeats are skipped, receipts
are grouped per province (record stubs stand in for aiokafka's ConsumerRecord)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiokafka import TopicPartition

from connectors.notary import Notary
from core.log_entries import InboundEntry, NationalEntry, chain_problems, decode_entry
from core.merkle import LeafHashes, leaf_hash
from core.signing import SigningKey
from schemas.topics import TopicNames

NAMES = TopicNames("cshub")
VERDICTS = TopicPartition(NAMES.verdicts, 0)
COVERAGE = TopicPartition(NAMES.national("coverage"), 0)


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes | None = None
    timestamp: int = 1764600000000
    headers: tuple[tuple[str, bytes], ...] = ()


def verdict(province: str, offset: int) -> bytes:
    topic = NAMES.inbound(province, "facility")
    return orjson.dumps({"v": 1, "topic": topic, "partition": 0, "offset": offset, "timestamp_ms": 1,
                         "value_sha256": "ab" * 32, "key": f"R-{offset}", "kid": None, "province": province,
                         "kind": "facility", "report_id": f"R-{offset}", "revision": 1, "verdict": "accepted",
                         "late": False, "reason": "", "message": ""})


def test_a_poll_becomes_chained_entries_with_repeats_skipped_and_receipts_per_province() -> None:
    notary = Notary("127.0.0.1:1", NAMES, SigningKey.generate(), origin="cshub.test/log")
    first = {VERDICTS: [Record(0, verdict("320000", 0)), Record(1, verdict("320000", 1)),
                        Record(2, verdict("110000", 0))],
             COVERAGE: [Record(5, b"row", b"320000"), Record(6, None, b"110000")]}
    entries, receipts, offsets = notary._entries(first)
    assert [decode_entry(raw).index for _, raw in entries] == [0, 1, 2, 3, 4]
    assert {p: [e.offset for e in found] for p, found in receipts.items()} == {"320000": [0, 1], "110000": [0]}
    assert offsets == {VERDICTS: 3, COVERAGE: 7}
    # the worker repeats verdicts after a crash: offsets below the next expected one are not logged again
    again = {VERDICTS: [Record(3, verdict("320000", 1)), Record(4, verdict("320000", 2)),
                        Record(5, b"not json")]}
    more, receipts, offsets = notary._entries(again)
    assert [decode_entry(raw).offset for _, raw in more] == [2]
    assert offsets == {VERDICTS: 6}
    raws = [raw for _, raw in entries + more]
    assert chain_problems(raws) == []
    assert LeafHashes([leaf_hash(r) for r in raws]).root() == notary.state.tree.root()
    national = [e for e in map(decode_entry, raws) if isinstance(e, NationalEntry)]
    assert [(e.key, e.offset) for e in national] == [("320000", 5), ("110000", 6)]
    assert national[1].value_sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # of b""
    assert all(isinstance(e, InboundEntry) for e in map(decode_entry, raws[:3]))

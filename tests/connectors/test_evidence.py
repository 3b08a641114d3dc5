"""`connectors.evidence.EvidenceCheck` over a small hub history in memory: clean, then each kind of tampering.

The history is made with the real formats (signed inputs, log entries, C2SP checkpoints, signed receipt batches,
rejections) and fed through `connectors.evidence.feed` exactly as `verify_kafka` and `verify_archive` feed it;
the integration test (test_audit_verify.py) does the same against the broker and an exported archive.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from connectors.evidence import EvidenceCheck, EvidenceReport, TopicRecord, feed
from core import rejection
from core.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from core.log_entries import (
    FIRST_PREV,
    Verdict,
    decode_entry,
    encode_entry,
    entry_leaf,
    entry_of_national_row,
    entry_of_verdict,
)
from core.merkle import LeafHashes, leaf_hash
from core.receipts import NOTARY_OWNER, ReceiptBatch, open_receipts, sign_receipts
from core.signing import PublicKeys, SigningKey, public_key_of
from schemas import codec, reference, samples
from schemas.beijing import parse_ms
from schemas.topics import TopicNames

NAMES = TopicNames("ev")
PROVINCES = frozenset(reference.provinces())
INBOUND = NAMES.inbound("320000", "facility")
COVERAGE = NAMES.national("coverage")
ORIGIN = "cshub.test/log"
T0 = parse_ms("2026-11-30T10:00:00+08:00")
JIANGSU, NOTARY, STRANGER = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
KEYS = PublicKeys([public_key_of(JIANGSU, "320000", parse_ms("2021-01-01T00:00:00+08:00")),
                   public_key_of(NOTARY, NOTARY_OWNER, parse_ms("2021-01-01T00:00:00+08:00"))])


@dataclass
class History:
    """Topic -> partition -> records (offset order), and each partition's start offset."""

    topics: dict[str, dict[int, list[TopicRecord]]] = field(default_factory=dict)
    starts: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, topic: str, key: bytes | None, value: bytes | None, headers: list[Any] | None = None,
            ts: int = T0) -> int:
        records = self.topics.setdefault(topic, {}).setdefault(0, [])
        offset = records[-1][1] + 1 if records else 0
        records.append((0, offset, ts, key, value, headers or []))
        return offset

    def records(self, topic: str) -> list[TopicRecord]:
        return self.topics[topic][0]

    def check(self, require_signatures: bool = True) -> EvidenceReport:
        check = EvidenceCheck(NAMES, PROVINCES, KEYS, require_signatures)
        feed(check, set(self.topics),
             lambda topic: [(p, self.starts.get((topic, p), recs[0][1] if recs else 0))
                            for p, recs in self.topics.get(topic, {}).items()],
             lambda topic, partition: iter(self.topics[topic][partition]))
        return check.finish()


def _report(n: int, revision: int = 1) -> bytes:
    return codec.encode("cshub.FacilityReport", samples.facility(report_id=f"JS-{n}", revision=revision))


@pytest.fixture
def history() -> History:
    """Three signed reports and one unsigned record of Jiangsu, two national rows, the log over all six, two
    checkpoints (sizes 4 and 6) and one receipt batch."""
    h = History()
    verdicts: list[tuple[int, bytes, bytes, str | None, Any, str]] = []
    for n in range(3):
        key, value = f"JS-{n}".encode(), _report(n)
        offset = h.add(INBOUND, key, value, JIANGSU.sign(INBOUND, key, value))
        verdicts.append((offset, key, value, JIANGSU.kid, "accepted", ""))
    unsigned = _report(9)
    offset = h.add(INBOUND, b"JS-9", unsigned)
    verdicts.append((offset, b"JS-9", unsigned, None, "rejected", "unsigned"))
    h.add(NAMES.rejected, f"{INBOUND}@{offset}".encode(), codec.encode("cshub.Rejection", rejection(
        unsigned, INBOUND, 0, offset, b"JS-9", "unsigned", "not signed", "320000", T0)))
    entries: list[Any] = []
    raw: list[bytes] = []
    prev = FIRST_PREV
    for index, (offset, key, value, kid, verdict, reason) in enumerate(verdicts):
        entry = entry_of_verdict(Verdict(INBOUND, 0, offset, T0, hashlib.sha256(value).hexdigest(), key.decode(),
                                         kid, "320000", "facility", key.decode(), 1, verdict, False, reason,
                                         "not signed" if reason else ""), index, prev)
        entries.append(entry)
        raw.append(encode_entry(entry))
        prev = entry_leaf(raw[-1])
    for row in (b"row-a", b"row-b"):
        offset = h.add(COVERAGE, b"320000", row)
        row_entry = entry_of_national_row(COVERAGE, 0, offset, T0, b"320000", hashlib.sha256(row).hexdigest(),
                                          len(raw), prev)
        raw.append(encode_entry(row_entry))
        prev = entry_leaf(raw[-1])
    for index, value in enumerate(raw):
        h.add(NAMES.log, str(index).encode(), value)
    tree = LeafHashes([leaf_hash(v) for v in raw])
    signer = NoteSigner(ORIGIN, NOTARY)
    for size in (4, 6):
        h.add(NAMES.checkpoints, str(size).encode(),
              sign_checkpoint(Checkpoint.at(ORIGIN, size, tree.root(size), T0 + size), signer).encode())
    batch = ReceiptBatch(ORIGIN, "320000", T0 + 10, 6, tree.root(6), tuple(entries))
    value, headers = sign_receipts(batch, NAMES.receipts("320000"), NOTARY)
    h.add(NAMES.receipts("320000"), b"0", value, headers)
    return h


def checks(report: EvidenceReport) -> set[str]:
    return set(report.problem_counts)


def test_a_clean_history_passes_and_every_input_is_accounted_for(history: History) -> None:
    report = history.check()
    assert report.ok, [str(p) for p in report.problems]
    c = report.counts
    assert (c["inputs"], c["inputs_signed"], c["inputs_without_valid_signature"], c["inputs_logged"]) == (4, 3, 1, 4)
    assert (c["log_entries"], c["checkpoints"], c["receipt_batches"], c["receipts"], c["national_rows"]) == (
        6, 2, 1, 4, 2)


def test_a_record_deleted_from_an_input_topic_is_missing_with_its_log_entry(history: History) -> None:
    del history.records(INBOUND)[0]  # delete-records: the log start offset moves to 1
    history.starts[(INBOUND, 0)] = 1
    report = history.check()
    assert checks(report) == {"missing_input"}
    [finding] = report.problems
    assert finding.where == f"{INBOUND}[0]@0" and "offsets 0..0" in finding.message and "entries 0" in finding.message


def test_a_record_altered_after_the_hub_received_it(history: History) -> None:
    records = history.records(INBOUND)
    p, o, ts, key, _value, headers = records[1]
    records[1] = (p, o, ts, key, _report(1, revision=7), headers)
    report = history.check()
    assert checks(report) == {"altered_input", "unsigned_accepted"}
    assert all(f.where == f"{INBOUND}[0]@1" for f in report.problems)
    assert "bad_signature" in next(f.message for f in report.problems if f.check == "unsigned_accepted")


def test_an_unsigned_record_the_hub_accepted(history: History) -> None:
    # the same history, but the hub's log says it accepted the unsigned record (entries re-chained honestly)
    prev = FIRST_PREV
    rebuilt: list[Any] = []
    for rec in history.records(NAMES.log):
        entry = decode_entry(rec[4] or b"")
        fields = {f: getattr(entry, f) for f in entry.__dataclass_fields__}
        fields["prev"] = prev
        if fields.get("reason") == "unsigned":
            fields.update(verdict="accepted", reason="", message="")
        entry = type(entry)(**fields)
        rebuilt.append((*rec[:4], encode_entry(entry), rec[5]))
        prev = entry_leaf(encode_entry(entry))
    history.topics[NAMES.log][0] = rebuilt
    del history.topics[NAMES.checkpoints], history.topics[NAMES.receipts("320000")]
    report = history.check()
    assert checks(report) == {"unsigned_accepted"}
    assert report.problems[0].where == f"{INBOUND}[0]@3" and "unsigned" in report.problems[0].message


def test_a_national_row_changed_after_it_was_published(history: History) -> None:
    records = history.records(COVERAGE)
    records[1] = (*records[1][:4], b"forged", records[1][5])
    report = history.check()
    assert checks(report) == {"altered_national_row"}
    assert report.problems[0].where == f"{COVERAGE}[0]@1"


def test_a_receipt_whose_signature_does_not_match(history: History) -> None:
    records = history.records(NAMES.receipts("320000"))
    p, o, ts, key, value, headers = records[0]
    records[0] = (p, o, ts, key, (value or b"").replace(b'"accepted"', b'"rejected"', 1), headers)
    report = history.check()
    assert checks(report) == {"receipt_signature"}
    assert "bad_signature" in report.problems[0].message


def test_a_receipt_the_hub_signed_that_is_not_the_log(history: History) -> None:
    records = history.records(NAMES.receipts("320000"))
    batch = open_receipts(NAMES.receipts("320000"), records[0][4] or b"", records[0][5], KEYS, "320000")
    changed = replace(batch.receipts[0], verdict="rejected", reason="late")
    forged = replace(batch, receipts=(changed, *batch.receipts[1:]))
    value, headers = sign_receipts(forged, NAMES.receipts("320000"), NOTARY)
    records[0] = (*records[0][:4], value, headers)
    report = history.check()
    assert checks(report) == {"receipt_mismatch"}


def test_a_checkpoint_that_forks(history: History) -> None:
    fork = sign_checkpoint(Checkpoint.at(ORIGIN, 6, hashlib.sha256(b"another history").digest(), T0 + 99),
                           NoteSigner(ORIGIN, NOTARY))
    history.add(NAMES.checkpoints, b"6", fork.encode())
    report = history.check()
    assert {"checkpoint_fork", "checkpoint_root_mismatch"} <= checks(report)
    assert all(f.where == f"{NAMES.checkpoints}@2" for f in report.problems)


def test_a_checkpoint_not_signed_by_the_hub(history: History) -> None:
    history.add(NAMES.checkpoints, b"6", sign_checkpoint(Checkpoint.at(ORIGIN, 6, b"\x00" * 32, T0),
                                                         NoteSigner(ORIGIN, STRANGER)).encode())
    assert checks(history.check()) == {"checkpoint_signature"}


def test_a_log_entry_removed_breaks_the_chain_and_the_checkpoints(history: History) -> None:
    del history.records(NAMES.log)[1]
    report = history.check()
    assert {"log_chain", "checkpoint_root_mismatch", "checkpoint_missing_entries", "unlogged_input",
            "receipt_root"} <= checks(report)

"""`cshub audit verify`'s evidence checks: submission signatures, the transparency log, checkpoints, receipts.

What is checked (docs/evidence.md), each problem with what and where:

- **Inputs** (`cshub.in.<province>.<kind>`, kept forever and never compacted, so their offsets run from 0 without
  a gap): an offset range that is gone is a deleted record (`missing_input`); every record's submission
  signature is checked (`core.signing.PublicKeys.check`, through `core.decide`, the worker's own decision), and
  the replay's verdict is compared with the hub's: the log entry of the record (same coordinate, the value's
  SHA-256, the `cshub-kid` header, rejected or not and why), else the hub's rejection on `cshub.rejected`.
  A record with no valid signature that the hub logged as accepted is `unsigned_accepted`; a value whose hash
  is not the one logged is `altered_input`; a record below the last logged offset of its partition without an
  entry is `unlogged_input`; a log entry whose record is gone is `missing_input`.
- **The log** (`cshub.log`): each entry decodes (canonical bytes only), its index follows the one before and its
  `prev` is that entry's leaf hash (`log_chain`); the tree is rebuilt from the entries.
- **Checkpoints** (`cshub.checkpoints`): each opens with a key of `hub-notary` in the public-keys file, valid at
  its `cshub-time` (`checkpoint_signature`); `check_chain` (forks, rollbacks) and `check_against_log` (entries
  deleted or altered since it was signed) over the rebuilt tree (`checkpoint_<reason>`).
- **Receipts** (`cshub.receipts.<province>`): each batch opens with the hub's key for its own topic
  (`receipt_signature`), each receipt is the log's entry at its index byte for byte (`receipt_mismatch`), and
  the batch's root is the tree's at its size (`receipt_root`).
- **National rows** (`cshub.national.<table>`): a row the log recorded must still have the recorded hash
  (`altered_national_row`); a row below the last logged offset of its topic with no entry is
  `unlogged_national_row`. Rows removed by compaction are expected.

`EvidenceCheck` is pure (no Kafka, no files): `verify_kafka` and `verify_archive` feed it. It keeps the log's
inbound entries by coordinate until their record is seen (about 150 bytes each): a log of tens of millions of
entries needs gigabytes here, which is the next thing to stream (per partition) when audits get that large.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.checkpoint import Checkpoint, CheckpointError, NoteVerifier, check_against_log, check_chain, open_checkpoint
from core.log_entries import FIRST_PREV, InboundEntry, LogFormatError, decode_entry, encode_entry
from core.merkle import LeafHashes, leaf_hash
from core.receipts import NOTARY_OWNER, ReceiptError, open_receipts
from core.signing import HEADER_KID, SIGNATURE_REASONS, PublicKeys
from core.validation import Rejected, Source, decide
from schemas import codec
from schemas.beijing import show_ms
from schemas.errors import CodecError
from schemas.topics import KINDS, TABLES, TopicNames

Coordinate = tuple[str, int, int]
Header = tuple[str, bytes | None]
TopicRecord = tuple[int, int, int, bytes | None, bytes | None, Sequence[Header]]
"""partition, offset, timestamp ms, key, value, headers: one record of a topic, as a source gives it."""
MAX_FINDINGS_PER_CHECK = 1000
"""Problems kept per check (the rest are counted): one broken archive must not fill the memory with messages."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: which check found it, where (topic[partition]@offset, entry or checkpoint), and what."""

    check: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.where}: {self.message}"


@dataclass
class EvidenceReport:
    """What the evidence checks found: the problems (each check's first `MAX_FINDINGS_PER_CHECK`), counts, notes."""

    problems: list[Finding] = field(default_factory=list)
    problem_counts: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem_counts


@dataclass(frozen=True, slots=True)
class _Logged:
    index: int
    value_sha256: str
    kid: str | None = None
    verdict: str = ""
    reason: str = ""


def _where(topic: str, partition: int, offset: int) -> str:
    return f"{topic}[{partition}]@{offset}"


def _kid(headers: Sequence[Header] | None) -> str | None:
    for name, data in headers or ():
        if name == HEADER_KID:
            return (data or b"").decode("ascii", "replace")
    return None


class EvidenceCheck:
    """The evidence checks over records fed in this order: log, checkpoints, rejections, inputs, receipts, national
    rows (each topic partition in offset order), then `finish()`.

    `keys` is the hub's public-keys file (as archived, or as the hub uses it); `require_signatures` says whether the
    hub rejects records without a valid signature (its setting), so the replay decides as it did.
    """

    def __init__(self, names: TopicNames, provinces: frozenset[str], keys: PublicKeys,
                 require_signatures: bool) -> None:
        self.names = names
        self.provinces = provinces
        self.keys = keys
        self.require_signatures = require_signatures
        self.report = EvidenceReport()
        self._leaves: list[bytes] = []
        self._tree: LeafHashes | None = None
        self._inbound_log: dict[Coordinate, _Logged] = {}
        self._national_log: dict[Coordinate, _Logged] = {}
        self._max_logged: dict[tuple[str, int], int] = {}
        self._checkpoints: list[tuple[str, Checkpoint]] = []
        self._rejected: dict[Coordinate, str] = {}
        self._next: dict[tuple[str, int], int] = {}
        self._gaps: list[tuple[str, int, int, int]] = []  # topic, partition, first missing, first present

    def problem(self, check: str, where: str, message: str) -> None:
        self.report.problem_counts[check] += 1
        if self.report.problem_counts[check] <= MAX_FINDINGS_PER_CHECK:
            self.report.problems.append(Finding(check, where, message))

    # ---- the log and its checkpoints -----------------------------------------------------------------

    def log_entry(self, offset: int, key: bytes | None, value: bytes | None) -> None:
        """One record of the log topic (offset order)."""
        where = f"{self.names.log}@{offset}"
        raw = value or b""
        position = len(self._leaves)
        try:
            entry = decode_entry(raw, f"log entry at {where}")
        except LogFormatError as exc:
            self.problem("log_chain", where, f"not a log entry: {exc}")
            self._leaves.append(leaf_hash(raw))
            return
        self.report.counts["log_entries"] += 1
        if entry.index != position:
            self.problem("log_chain", where, f"entry index {entry.index} where entry {position} belongs: entries"
                         " before it are missing, or it was moved")
        elif key is not None and key != str(entry.index).encode():
            self.problem("log_chain", where, f"record key {key!r} is not the entry's index {entry.index}")
        expected_prev = self._leaves[-1].hex() if self._leaves else FIRST_PREV
        if entry.prev != expected_prev:
            self.problem("log_chain", where, f"entry {entry.index}'s prev does not match the leaf hash of the entry"
                         " before it: an entry was altered, removed or inserted")
        self._leaves.append(leaf_hash(raw))
        coordinate = (entry.topic, entry.partition, entry.offset)
        book = self._inbound_log if isinstance(entry, InboundEntry) else self._national_log
        if coordinate in book:
            self.problem("log_chain", where, f"a second entry ({entry.index}) for"
                         f" {_where(*coordinate)}, first logged as entry {book[coordinate].index}")
            return
        if isinstance(entry, InboundEntry):
            book[coordinate] = _Logged(entry.index, entry.value_sha256, entry.kid, entry.verdict, entry.reason)
        else:
            book[coordinate] = _Logged(entry.index, entry.value_sha256)
        tp = (entry.topic, entry.partition)
        self._max_logged[tp] = max(entry.offset, self._max_logged.get(tp, -1))

    def tree(self) -> LeafHashes:
        """The tree rebuilt from the log's entries (after the last `log_entry`)."""
        if self._tree is None or len(self._tree) != len(self._leaves):
            self._tree = LeafHashes(self._leaves)
        return self._tree

    def checkpoint(self, offset: int, value: bytes | None) -> None:
        """One record of the checkpoints topic (publication order)."""
        where = f"{self.names.checkpoints}@{offset}"
        try:
            note = (value or b"").decode("utf-8")
        except UnicodeDecodeError:
            self.problem("checkpoint_signature", where, "not UTF-8 text: not a signed checkpoint")
            return
        origin = note.split("\n", 1)[0]
        opened: Checkpoint | None = None
        signer = None
        for candidate in self.keys.of_owner(NOTARY_OWNER):
            try:
                opened = open_checkpoint(note, NoteVerifier(origin, candidate.public_key))
            except CheckpointError:
                continue
            signer = candidate
            break
        if opened is None or signer is None:
            self.problem("checkpoint_signature", where, f"does not open with any {NOTARY_OWNER} key of the public-keys"
                         " file: not signed by the hub, or altered")
            return
        self.report.counts["checkpoints"] += 1
        signed_at = opened.time_ms
        if signed_at is not None and not (signer.valid_from_ms <= signed_at
                                          and (signer.valid_until_ms is None or signed_at < signer.valid_until_ms)):
            self.problem("checkpoint_signature", where, f"signed at {show_ms(signed_at)} with key {signer.kid}, which"
                         " was not valid then")
        self._checkpoints.append((where, opened))

    def checkpoint_roots(self) -> dict[int, bytes]:
        """The root of each signed checkpoint size seen (the first one of a size, if it was forked)."""
        roots: dict[int, bytes] = {}
        for _, cp in self._checkpoints:
            roots.setdefault(cp.size, cp.root)
        return roots

    def _check_checkpoints(self) -> None:
        if not self._checkpoints:
            return
        tree = self.tree()
        heads = [cp for _, cp in self._checkpoints]

        def proofs(old: int, new: int) -> list[bytes] | None:
            return tree.consistency_proof(old, new) if new <= len(tree) else None

        for found in check_chain(heads, proofs) + check_against_log(heads, tree):
            self.problem(f"checkpoint_{found.reason}", self._checkpoints[found.index][0], found.message)

    # ---- what the hub rejected (for inputs the log does not cover) ----------------------------------------

    def rejection(self, offset: int, value: bytes | None) -> None:
        """One record of `cshub.rejected`: the hub's reason for an inbound coordinate."""
        try:
            rec = codec.decode(value or b"").value
        except CodecError as exc:
            self.problem("rejected_record", f"{self.names.rejected}@{offset}", f"cannot decode: {exc}")
            return
        self._rejected.setdefault((rec["source_topic"], rec["partition"], rec["offset"]), rec["reason"])

    # ---- inputs -----------------------------------------------------------------------------------

    def input_partition(self, topic: str, partition: int, start_offset: int) -> None:
        """Before the records of an inbound partition: where it starts now (its log start offset)."""
        if start_offset > 0:
            self._gaps.append((topic, partition, 0, start_offset))
        self._next[(topic, partition)] = start_offset

    def input(self, topic: str, partition: int, offset: int, timestamp_ms: int, key: bytes | None,
              value: bytes | None, headers: Sequence[Header] | None) -> None:
        """One inbound record (offset order within its partition)."""
        tp = (topic, partition)
        expected = self._next.get(tp, 0)
        if offset > expected:
            self._gaps.append((topic, partition, expected, offset))
        self._next[tp] = offset + 1
        counts = self.report.counts
        counts["inputs"] += 1
        where = _where(topic, partition, offset)
        source = Source(topic, partition, offset, key, timestamp_ms)
        decision = decide(source, value, self.names, self.provinces, headers, self.keys)
        bad_signature = isinstance(decision, Rejected) and decision.reason in SIGNATURE_REASONS
        counts["inputs_without_valid_signature" if bad_signature else "inputs_signed"] += 1
        if bad_signature and not self.require_signatures:
            decision = decide(source, value, self.names, self.provinces)  # as the hub decided: signatures not checked
        replayed = decision.reason if isinstance(decision, Rejected) else None
        logged = self._inbound_log.pop((topic, partition, offset), None)
        if logged is None:
            if offset <= self._max_logged.get(tp, -1):
                self.problem("unlogged_input", where, f"the log has entries for later offsets of {topic}[{partition}]"
                             " but none for this record: the hub left it out of the log")
            elif self._inbound_log or self._max_logged:
                counts["inputs_not_yet_logged"] += 1
            hub = self._rejected.get((topic, partition, offset))
            if hub is not None and hub != replayed:
                self.problem("verdict_differs", where, f"the hub rejected it ({hub}, on {self.names.rejected}); the"
                             f" replay {'rejects it: ' + replayed if replayed else 'accepts it'}")
            return
        counts["inputs_logged"] += 1
        digest = hashlib.sha256(value or b"").hexdigest()
        if digest != logged.value_sha256:
            self.problem("altered_input", where, f"value SHA-256 {digest[:16]}…, but the log's entry {logged.index}"
                         f" recorded {logged.value_sha256[:16]}…: the record was altered after the hub received it")
        kid = _kid(headers)
        if kid != logged.kid:
            self.problem("altered_input", where, f"signed with key {kid}, but the log's entry {logged.index} recorded"
                         f" key {logged.kid}")
        hub_reason = logged.reason if logged.verdict == "rejected" else None
        if bad_signature and self.require_signatures and hub_reason is None:
            assert isinstance(decision, Rejected)
            self.problem("unsigned_accepted", where, f"no valid submission signature ({decision.reason}:"
                         f" {decision.message}), but the log's entry {logged.index} says {logged.verdict}")
        elif hub_reason != replayed:
            hub_said = f"rejected ({hub_reason})" if hub_reason else logged.verdict
            self.problem("verdict_differs", where, f"the log's entry {logged.index} says {hub_said}; the replay"
                         f" {'rejects it: ' + replayed if replayed else 'accepts it'}")

    # ---- receipts and national rows ------------------------------------------------------------------

    def receipt_batch(self, province: str, offset: int, value: bytes | None, headers: Sequence[Header] | None) -> None:
        """One record of `cshub.receipts.<province>`."""
        topic = self.names.receipts(province)
        where = f"{topic}@{offset}"
        try:
            batch = open_receipts(topic, value or b"", list(headers or ()), self.keys, province)
        except ReceiptError as exc:
            self.problem("receipt_signature", where, f"{exc.reason}: {exc}")
            return
        counts = self.report.counts
        counts["receipt_batches"] += 1
        tree = self.tree()
        if batch.tree_size > len(tree):
            self.problem("receipt_root", where, f"signed over a log of {batch.tree_size} entries; the log has"
                         f" {len(tree)}: entries were removed since")
        elif tree.root(batch.tree_size) != batch.root:
            self.problem("receipt_root", where, f"its root for size {batch.tree_size} is not the log's")
        for receipt in batch.receipts:
            counts["receipts"] += 1
            if receipt.index >= len(tree) or leaf_hash(encode_entry(receipt)) != self._leaves[receipt.index]:
                of = _where(receipt.topic, receipt.partition, receipt.offset)
                self.problem("receipt_mismatch", where, f"the receipt for {of} ({receipt.verdict}) is not the log's"
                             f" entry {receipt.index}")

    def national(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """One record of a national table topic (offset order; compaction may have removed older ones)."""
        self.report.counts["national_rows"] += 1
        where = _where(topic, partition, offset)
        logged = self._national_log.pop((topic, partition, offset), None)
        if logged is None:
            if offset <= self._max_logged.get((topic, partition), -1):
                self.problem("unlogged_national_row", where, "a row the log never recorded, among rows it did: not"
                             " published through the hub")
            return
        digest = hashlib.sha256(value or b"").hexdigest()
        if digest != logged.value_sha256:
            self.problem("altered_national_row", where, f"value SHA-256 {digest[:16]}…, but the log's entry"
                         f" {logged.index} recorded {logged.value_sha256[:16]}…: the row was changed after it was"
                         " published")

    # ---- the end -----------------------------------------------------------------------------------

    def finish(self) -> EvidenceReport:
        """Checks that need everything: checkpoints against the tree, logged inputs whose records are gone."""
        self._check_checkpoints()
        gone: dict[tuple[str, int], list[tuple[int, _Logged]]] = {}
        for (topic, partition, offset), logged in self._inbound_log.items():
            gone.setdefault((topic, partition), []).append((offset, logged))
        for topic, partition, first, end in self._gaps:
            inside = sorted((o, lg.index) for o, lg in gone.get((topic, partition), []) if first <= o < end)
            said = (f"; the log recorded {len(inside)} of them (entries {', '.join(str(i) for _, i in inside[:5])}"
                    f"{', …' if len(inside) > 5 else ''})") if inside else "; the log has none of them"
            self.problem("missing_input", _where(topic, partition, first),
                         f"offsets {first}..{end - 1} of {topic}[{partition}] are gone (deleted, or retention"
                         f" lowered){said}")
            if inside:
                gone[(topic, partition)] = [(o, lg) for o, lg in gone[(topic, partition)] if not first <= o < end]
        for (topic, partition), rest in sorted(gone.items()):
            for offset, logged in sorted(rest, key=lambda item: item[0])[:MAX_FINDINGS_PER_CHECK]:
                self.problem("missing_input", _where(topic, partition, offset),
                             f"the log's entry {logged.index} records it, but the topic no longer holds it: deleted")
        counts = self.report.counts
        counts["national_rows_compacted"] = len(self._national_log)
        if not self._leaves:
            self.report.notes.append(f"no transparency log ({self.names.log} is empty or absent): signatures and the"
                                     " replay are checked, inclusion in the log is not")
        return self.report


# ---- sources: Kafka or an archive --------------------------------------------------------------------


def feed(check: EvidenceCheck, topics: set[str], partitions: Any, records: Any) -> None:
    """Feed `check` in its order from a source: `partitions(topic)` -> [(partition, start offset)], and
    `records(topic, partition)` -> TopicRecords in offset order."""
    names = check.names
    provinces = sorted(check.provinces)

    def each(topic: str) -> Iterator[tuple[int, TopicRecord]]:
        if topic not in topics:
            return
        for partition, _start in partitions(topic):
            for rec in records(topic, partition):
                yield partition, rec

    for _, (_p, offset, _ts, key, value, _h) in each(names.log):
        check.log_entry(offset, key, value)
    for _, (_p, offset, _ts, _key, value, _h) in each(names.checkpoints):
        check.checkpoint(offset, value)
    for _, (_p, offset, _ts, _key, value, _h) in each(names.rejected):
        check.rejection(offset, value)
    for province in provinces:
        for kind in KINDS:
            topic = names.inbound(province, kind)
            if topic not in topics:
                continue
            for partition, start in partitions(topic):
                check.input_partition(topic, partition, start)
                for _p, offset, ts, key, value, headers in records(topic, partition):
                    check.input(topic, partition, offset, ts, key, value, headers)
    for province in provinces:
        for _, (_p, offset, _ts, _key, value, headers) in each(names.receipts(province)):
            check.receipt_batch(province, offset, value, headers)
    for table in TABLES:
        topic = names.national(table)
        for partition, (_p, offset, _ts, _key, value, _h) in each(topic):
            check.national(topic, partition, offset, value)


def verify_kafka(target: Any, check: EvidenceCheck) -> EvidenceReport:
    """The evidence checks over the hub's topics on Kafka (read committed: the log is written in transactions)."""
    from kafka import TopicPartition

    from connectors.kafka_io import make_consumer, partitions_of, read_to_end

    names = check.names
    consumer = make_consumer(target, client_id="cshub-auditor-evidence", isolation_level="read_committed")
    try:
        topics = {t for t in consumer.topics() if t.startswith(names.every_prefix)}

        def partitions(topic: str) -> list[tuple[int, int]]:
            tps = partitions_of(consumer, topic, wait_s=2.0, missing_ok=True)
            begins = consumer.beginning_offsets(tps) if tps else {}
            return [(tp.partition, begins[tp]) for tp in tps]

        def records(topic: str, partition: int) -> Iterator[TopicRecord]:
            for rec in read_to_end(consumer, [TopicPartition(topic, partition)]):
                yield rec.partition, rec.offset, rec.timestamp, rec.key, rec.value, list(rec.headers or ())

        feed(check, topics, partitions, records)
    finally:
        consumer.close()
    return check.finish()


def verify_archive(folder: Path, check: EvidenceCheck) -> EvidenceReport:
    """The evidence checks over an export folder alone (its integrity is checked before: `verify_integrity`),
    with the consistency proofs it carries (`proofs.json`)."""
    from connectors.archive import Manifest, read_file

    manifest = Manifest.load(folder)
    by_topic: dict[str, list[Any]] = {}
    for part in manifest.partitions:
        by_topic.setdefault(part.topic, []).append(part)

    def partitions(topic: str) -> list[tuple[int, int]]:
        return [(p.partition, p.start_offset) for p in sorted(by_topic.get(topic, []), key=lambda p: p.partition)]

    def records(topic: str, partition: int) -> Iterator[TopicRecord]:
        for part in by_topic.get(topic, []):
            if part.partition == partition:
                for entry in part.files:
                    for offset, ts, key, value, headers in read_file(folder / entry.path):
                        yield partition, offset, ts, key, value, headers

    feed(check, set(by_topic), partitions, records)
    check_proofs(folder, check)
    return check.finish()


# ---- the proofs an archive carries -------------------------------------------------------------------


def checkpoint_heads(notes: Iterable[bytes | None]) -> list[Checkpoint]:
    """The checkpoints in these notes, unverified (the proofs are checked against the rebuilt tree anyway)."""
    heads = []
    for note in notes:
        try:
            text = (note or b"").decode("utf-8")
            heads.append(Checkpoint.parse(text.split("\n\n", 1)[0] + "\n"))
        except (UnicodeDecodeError, CheckpointError):
            continue
    return heads


def write_proofs(folder: Path, names: TopicNames, parts: Sequence[Any]) -> bool:
    """`proofs.json` in an export folder: the consistency proof between each two published checkpoint sizes,
    from the archived log. So a reader who trusts one checkpoint can check the next ones with nothing but these
    proofs (RFC 9162 §2.1.4). False (nothing written) when the archive has no log."""
    import json

    from connectors.archive import PROOFS, read_file

    def values(topic: str) -> Iterator[bytes | None]:
        for part in parts:
            if part.topic == topic:
                for entry in part.files:
                    for _offset, _ts, _key, value, _headers in read_file(folder / entry.path):
                        yield value

    leaves = [leaf_hash(value or b"") for value in values(names.log)]
    if not leaves:
        return False
    tree = LeafHashes(leaves)
    sizes = sorted({cp.size for cp in checkpoint_heads(values(names.checkpoints)) if 0 < cp.size <= len(tree)})
    proofs = [{"from": a, "to": b, "proof": [h.hex() for h in tree.consistency_proof(a, b)]}
              for a, b in itertools.pairwise(sizes)]
    document = {"format": "cshub-proofs-v1", "log_size": len(tree), "root": tree.root().hex(), "consistency": proofs}
    (folder / PROOFS).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return True


def check_proofs(folder: Path, check: EvidenceCheck) -> None:
    """The archive's `proofs.json` against its checkpoints: each proof must verify between their roots."""
    import json

    from connectors.archive import PROOFS
    from core.merkle import verify_consistency

    path = folder / PROOFS
    if not path.exists():
        return
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        proofs = [(int(p["from"]), int(p["to"]), [bytes.fromhex(h) for h in p["proof"]])
                  for p in document["consistency"]]
    except (ValueError, KeyError, TypeError) as exc:
        check.problem("proofs", PROOFS, f"not a proofs file: {exc}")
        return
    roots = check.checkpoint_roots()
    for old, new, proof in proofs:
        check.report.counts["proofs"] += 1
        if old in roots and new in roots and not verify_consistency(old, new, proof, roots[old], roots[new]):
            check.problem("proofs", f"{PROOFS}: {old} -> {new}", "the consistency proof does not verify between the"
                          " signed checkpoints of these sizes")

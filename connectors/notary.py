"""The log service (`cshub notary`): the single writer of the transparency log, its checkpoints and the receipts.

It reads the worker's verdicts (`<root>.verdicts`) and every national table topic, turns each record into one
log entry (`core.log_entries`), appends it to an RFC 9162 tree (`core.merkle.CompactTree`), and writes, in one
Kafka transaction per poll: the entries (`<root>.log`), one hub-signed receipt batch per province
(`<root>.receipts.<province>`, `core.receipts`), a signed checkpoint when one is due (`<root>.checkpoints`), and
the consumed offsets (`send_offsets_to_transaction`). So a crash never forks or duplicates the tree: what a
reader sees (read_committed) is whole transactions, and a restart resumes exactly after the last one.

Exactly one writer: the producer's transactional id is fixed per root (`schemas.principals.notary_id`), so a
second notary fences the first (which stops, `NotaryFenced`), and aborts whatever the first left open. At start
the tree is rebuilt from the last signed checkpoint and the log after it (`restore`); when they disagree the
notary refuses to start. Formats and rules: docs/evidence.md §5.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError as AiokafkaError
from aiokafka.errors import ProducerFenced

from connectors.errors import ConnectorError
from core.checkpoint import Checkpoint, CheckpointError, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint
from core.log_entries import (
    FIRST_PREV,
    InboundEntry,
    LogEntry,
    LogFormatError,
    decode_entry,
    decode_positions,
    decode_tree_state,
    encode_entry,
    encode_positions,
    encode_tree_state,
    entry_of_national_row,
    entry_of_verdict,
    parse_verdict,
)
from core.merkle import CompactState, CompactTree, leaf_hash
from core.receipts import NOTARY_OWNER, ReceiptBatch, sign_receipts
from core.signing import KEYS_FORMAT, PublicKeys, SigningKey, parse_public_keys, public_key_of
from schemas.credentials import refused
from schemas.kafka_config import Target, aiokafka_config, connection
from schemas.principals import notary_id
from schemas.topics import TABLES, TopicNames

__all__ = ["HEADER_LOG_OFFSET", "HEADER_POSITIONS", "HEADER_TREE", "LogState", "Notary", "NotaryError",
           "NotaryFenced", "ensure_notary_key", "restore"]

log = logging.getLogger("cshub.notary")
HEADER_TREE = "cshub-tree"
HEADER_POSITIONS = "cshub-positions"
HEADER_LOG_OFFSET = "cshub-log-offset"
RECEIPTS_PER_RECORD = 500
"""At most this many receipts in one record (~300 kB), well under the broker's 1 MB message limit."""
MAX_BATCH_BYTES = 512 * 1024
READ_TIMEOUT_S = 60.0
TRANSACTION_TIMEOUT_S = 60.0
"""A transaction that takes longer (the broker is gone) fails the notary, which a restart resumes."""


class NotaryError(ConnectorError):
    """The log service cannot run, or refuses to: the message says where the log and its checkpoint disagree."""


class NotaryFenced(NotaryError):
    """Another notary with the same transactional id started: this one stops (exactly one writer)."""

    exit_code = 3


@dataclass
class LogState:
    """Where the log stands: its tree, the hash chain's head, and what it has consumed."""

    tree: CompactTree = field(default_factory=CompactTree)
    prev: str = FIRST_PREV
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per inbound (topic, partition): the next offset whose verdict the log expects."""
    last_entry_offset: int | None = None
    """Offset in the log topic of the last entry (a checkpoint's `cshub-log-offset`)."""
    checkpoint_size: int = 0
    checkpoint_ms: int = 0
    before_last: CompactState = field(default_factory=lambda: CompactState(0, ()))
    """The tree before its last entry: saved with that entry, so a restart checks the entry's own bytes too."""


def _headers(record: Any) -> dict[str, bytes]:
    return {name: value for name, value in (record.headers or ())}


async def _read(consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int,
                timeout_s: float = READ_TIMEOUT_S) -> AsyncIterator[Any]:
    """The committed records of `tp` from `start` up to `end` (its last stable offset), bounded in time."""
    if start >= end:
        return
    consumer.assign([tp])
    consumer.seek(tp, start)
    deadline = time.monotonic() + timeout_s
    while await consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise NotaryError(f"reading {tp.topic} up to offset {end} took longer than {timeout_s:.0f} s",
                              "check the broker (`cshub broker status`)")
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
        for record in batch.get(tp, []):
            if record.offset < end:
                yield record


async def _last(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> Any:
    """The last committed record of `tp` before `end`, or None (transaction markers take offsets too)."""
    back = 4
    while True:
        start = max(0, end - back)
        last = None
        async for record in _read(consumer, tp, start, end):
            last = record
        if last is not None or start == 0:
            return last
        back *= 4


def _refuse(what: str) -> NotaryError:
    return NotaryError(f"the log does not match its last signed checkpoint: {what}; the notary will not append to"
                       " a log it cannot vouch for",
                       "run `cshub audit verify` to see what changed; restore the log topic from an archive")


def _open_last(note: str, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """The checkpoint, signed by any of the log's keys (the current one, or one it rotated away from)."""
    problem: CheckpointError | None = None
    for verifier in verifiers:
        try:
            return open_checkpoint(note, verifier)
        except CheckpointError as exc:
            problem = problem or exc
    assert problem is not None
    raise problem


async def restore(consumer: AIOKafkaConsumer, names: TopicNames, signer: NoteSigner,
                  earlier_keys: Sequence[bytes] = ()) -> LogState:
    """The log's state after its last committed transaction, checked against the last signed checkpoint.

    Reads the last checkpoint (it must verify under `signer`'s key, or one of `earlier_keys`: the raw public keys
    the notary had before a rotation), then the log from that checkpoint's last
    entry to the end: that entry's saved tree must give the checkpoint's root, and every later entry must follow
    (index, `prev`), up to the tree saved with the last transaction. Raises NotaryError when anything disagrees.
    """
    cp_tp, log_tp = TopicPartition(names.checkpoints, 0), TopicPartition(names.log, 0)
    ends = await consumer.end_offsets([cp_tp, log_tp])
    state = LogState()
    checkpoint: Checkpoint | None = None
    start = 0
    record = await _last(consumer, cp_tp, ends[cp_tp])
    if record is not None:
        try:
            verifiers = [signer.verifier, *(NoteVerifier(signer.name, k) for k in earlier_keys
                                             if k != signer.key.public_key)]
            checkpoint = _open_last(record.value.decode("utf-8"), verifiers)
        except (CheckpointError, UnicodeDecodeError) as exc:
            raise _refuse(f"the checkpoint at {names.checkpoints} offset {record.offset} does not verify under"
                          f" this notary's key nor an earlier one of the public-keys file ({exc})") from None
        state.checkpoint_size, state.checkpoint_ms = checkpoint.size, checkpoint.time_ms or 0
        if checkpoint.size > 0:
            offset = _headers(record).get(HEADER_LOG_OFFSET)
            if offset is None or not offset.isdigit():
                raise _refuse(f"the checkpoint at {names.checkpoints} offset {record.offset} has no"
                              f" {HEADER_LOG_OFFSET}")
            start = int(offset)
    tree: CompactTree | None = None if checkpoint is not None and checkpoint.size > 0 else CompactTree()
    async for record in _read(consumer, log_tp, start, ends[log_tp]):
        where = f"{names.log} offset {record.offset}"
        try:
            entry = decode_entry(record.value, where)
        except LogFormatError as exc:
            raise _refuse(str(exc)) from None
        headers = _headers(record)
        if tree is None:  # the checkpoint's own last entry: its saved tree is the checkpoint's
            assert checkpoint is not None
            if entry.index != checkpoint.size - 1 or HEADER_TREE not in headers:
                raise _refuse(f"{where} should be entry {checkpoint.size - 1} with its saved tree, the last entry of"
                              f" checkpoint {checkpoint.size}; it is entry {entry.index}")
            tree = CompactTree(decode_tree_state(headers[HEADER_TREE], where))  # the tree before this entry
            if tree.size == entry.index:
                tree.append_leaf_hash(leaf_hash(record.value))
            if tree.size != checkpoint.size or tree.root() != checkpoint.root:
                raise _refuse(f"the tree saved at {where} with this entry has size {tree.size} and another root than"
                              f" the signed checkpoint of size {checkpoint.size}: a fork, or the entry was altered")
            state.positions = decode_positions(headers.get(HEADER_POSITIONS, b"{}"), where)
        else:
            if entry.index != tree.size or entry.prev != state.prev:
                raise _refuse(f"{where} is entry {entry.index} after entry {tree.size - 1} (or its prev does not"
                              " chain): entries missing, altered or reordered")
            if HEADER_TREE in headers and decode_tree_state(headers[HEADER_TREE], where) != tree.state():
                raise _refuse(f"the tree saved at {where} is not the tree of the entries before it")
            tree.append_leaf_hash(leaf_hash(record.value))
            _advance(state.positions, entry)
        state.prev = leaf_hash(record.value).hex()
        state.last_entry_offset = record.offset
    if tree is None:
        assert checkpoint is not None
        raise _refuse(f"the checkpoint signs {checkpoint.size} entries; the log has no entry {checkpoint.size - 1}"
                      f" at {names.log} offset {start}: entries deleted")
    state.tree = tree
    return state


def _advance(positions: dict[tuple[str, int], int], entry: LogEntry) -> None:
    if isinstance(entry, InboundEntry):
        key = (entry.topic, entry.partition)
        positions[key] = max(positions.get(key, 0), entry.offset + 1)


class Notary:
    """One run of the log service; `run(stop)` until `stop` is set (or another notary fences this one).

    Args:
        target: the cluster, as the `hub-notary` principal.
        names: the hub's topic names.
        key: the hub's notary signing key (checkpoints and receipts).
        origin: the log's name in its checkpoints.
        checkpoint_interval_s: a checkpoint at most this often, when the tree grew.
        batch_max: most input records in one transaction.
        clock_ms: wall clock in epoch ms (tests may pass their own).
        earlier_keys: raw public keys of the notary's earlier keys (owner `hub-notary` in the public-keys file),
            so that after a key rotation it still opens the last checkpoint the old key signed.
    """

    def __init__(self, target: Target, names: TopicNames, key: SigningKey, *, origin: str,
                 checkpoint_interval_s: float = 5.0, batch_max: int = 2000,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 earlier_keys: Sequence[bytes] = ()) -> None:
        self.target = target
        self.names = names
        self.key = key
        self.signer = NoteSigner(origin, key)
        self.origin = origin
        self.interval_ms = int(checkpoint_interval_s * 1000)
        self.batch_max = batch_max
        self.clock_ms = clock_ms
        self.earlier_keys = tuple(earlier_keys)
        self.group = notary_id(names)
        self.state = LogState()
        self.producer: Any = None
        self.consumer: Any = None
        self.sources: list[TopicPartition] = []
        self.ready = asyncio.Event()
        """Set once the notary has restored the log and is reading its inputs."""

    def _consumer(self, client_id: str, **extra: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(**aiokafka_config(self.target, client_id=client_id, isolation_level="read_committed",
                                                  enable_auto_commit=False, auto_offset_reset="earliest", **extra))

    async def start(self) -> None:
        """Take over as the one writer (fencing any other), restore the log, and position the inputs."""
        self.producer = AIOKafkaProducer(**aiokafka_config(
            self.target, client_id=self.group, transactional_id=self.group, enable_idempotence=True, acks="all",
            linger_ms=5, max_batch_size=MAX_BATCH_BYTES, max_request_size=2 * MAX_BATCH_BYTES))
        try:
            await self.producer.start()  # InitProducerId: fences an older notary, aborts its open transaction
            reader = self._consumer(f"{self.group}-restore")
            await reader.start()
            try:
                self.state = await restore(reader, self.names, self.signer, self.earlier_keys)
            finally:
                await reader.stop()
            self.consumer = self._consumer(self.group, group_id=self.group)
            await self.consumer.start()
            topics = [self.names.verdicts] + [self.names.national(t) for t in TABLES]
            for topic in topics:
                try:  # the producer's public call waits for the topic's metadata
                    parts = await asyncio.wait_for(self.producer.partitions_for(topic), 20)
                except TimeoutError:
                    parts = set()
                if not parts:
                    raise NotaryError(f"topic {topic} does not exist (or {self.target} may not read it)",
                                      "run `cshub topics create` first, and `cshub security apply`")
                self.sources += [TopicPartition(topic, p) for p in sorted(parts)]
            self.consumer.assign(self.sources)
            for tp in self.sources:  # resume after the offsets committed with the last transaction
                committed = await self.consumer.committed(tp)
                if committed is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, committed)
        except ProducerFenced as exc:
            await self.stop()
            raise NotaryFenced(f"another notary took over transactional id {self.group} while this one started",
                               "run one notary per hub") from exc
        except (AiokafkaError, OSError) as exc:
            await self.stop()
            conn = connection(self.target)
            # aiokafka's TransactionalIdAuthorizationFailed carries no errno `refused` knows: match it by name
            cause = RuntimeError("AuthorizationFailed") if "Authorization" in type(exc).__name__ else exc
            denial = refused(cause, conn.principal, conn.bootstrap, f"write {self.names.log} with transactional id"
                             f" {self.group}")
            if denial is not None:
                raise denial from None
            raise NotaryError(f"the notary could not start on {self.target}: {type(exc).__name__}: {exc}",
                              "is the broker running, and are the topics created (`cshub topics create`)?") from exc
        except BaseException:  # it refused to start (NotaryError) or was interrupted: let go of the clients
            await self.stop()
            raise
        log.warning("notary ready: log %s at size %d (last checkpoint %d), reading %d input partitions",
                    self.names.log, self.state.tree.size, self.state.checkpoint_size, len(self.sources))
        self.ready.set()

    async def stop(self) -> None:
        for client in (self.consumer, self.producer):
            if client is not None:
                with contextlib.suppress(AiokafkaError, OSError, ProducerFenced):
                    await client.stop()
        self.consumer = self.producer = None

    async def run(self, stop: asyncio.Event) -> None:
        """Start, then one transaction per poll until `stop` is set; raises NotaryFenced when replaced."""
        await self.start()
        try:
            while not stop.is_set():
                batch = await self.consumer.getmany(*self.sources, timeout_ms=200, max_records=self.batch_max)
                await self.step(batch)
        finally:
            await self.stop()

    def _entries(self, batch: dict[TopicPartition, list[Any]]) -> tuple[list[tuple[bytes, bytes]],
                                                                          dict[str, list[InboundEntry]],
                                                                          dict[TopicPartition, int]]:
        """Append the batch's records to the tree: their (key, entry bytes), receipts per province, offsets."""
        state, tree = self.state, self.state.tree
        out: list[tuple[bytes, bytes]] = []
        receipts: dict[str, list[InboundEntry]] = {}
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            if not records:
                continue
            offsets[tp] = records[-1].offset + 1
            for record in records:
                entry: LogEntry
                if tp.topic == self.names.verdicts:
                    try:
                        verdict = parse_verdict(record.value or b"", f"{tp.topic} offset {record.offset}")
                    except LogFormatError as exc:  # stays in the verdicts topic; the audit finds its input unlogged
                        log.error("skipped a verdict the log cannot read: %s", exc)
                        continue
                    source = (verdict.topic, verdict.partition)
                    if verdict.offset < state.positions.get(source, 0):
                        continue  # repeated by the worker after a crash (docs/evidence.md §4)
                    entry = entry_of_verdict(verdict, tree.size, state.prev)
                    _advance(state.positions, entry)
                    if verdict.province is not None:
                        receipts.setdefault(verdict.province, []).append(entry)
                else:
                    entry = entry_of_national_row(tp.topic, tp.partition, record.offset, record.timestamp,
                                                  record.key, hashlib.sha256(record.value or b"").hexdigest(),
                                                  tree.size, state.prev)
                raw = encode_entry(entry)
                hashed = leaf_hash(raw)
                state.before_last = tree.state()
                tree.append_leaf_hash(hashed)
                state.prev = hashed.hex()
                out.append((str(entry.index).encode(), raw))
        return out, receipts, offsets

    async def step(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """One transaction: the batch's entries, receipts, a checkpoint if due, and the consumed offsets."""
        entries, receipts, offsets = self._entries(batch)
        now = self.clock_ms()
        state = self.state
        due = state.tree.size > state.checkpoint_size and now - state.checkpoint_ms >= self.interval_ms
        if not (entries or offsets or due):
            return
        try:
            async with asyncio.timeout(TRANSACTION_TIMEOUT_S), self.producer.transaction():
                if entries:
                    state.last_entry_offset = await self._send_entries(entries)
                size, root = state.tree.size, state.tree.root()
                for province, found in receipts.items():
                    topic = self.names.receipts(province)
                    for start in range(0, len(found), RECEIPTS_PER_RECORD):
                        chunk = tuple(found[start:start + RECEIPTS_PER_RECORD])
                        value, headers = sign_receipts(ReceiptBatch(self.origin, province, now, size, root, chunk),
                                                       topic, self.key)
                        await self.producer.send(topic, value, key=str(chunk[0].index).encode(), headers=headers)
                if due:
                    note = sign_checkpoint(Checkpoint.at(self.origin, size, root, now), self.signer)
                    headers = [(HEADER_LOG_OFFSET, str(state.last_entry_offset).encode())]
                    await self.producer.send(self.names.checkpoints, note.encode("utf-8"), key=str(size).encode(),
                                             headers=headers)
                if offsets:
                    await self.producer.send_offsets_to_transaction(offsets, self.group)
        except ProducerFenced as exc:
            raise NotaryFenced(f"another notary took over transactional id {self.group}; this one stops (its"
                               " last transaction is aborted)", "run one notary per hub") from exc
        except (AiokafkaError, OSError, TimeoutError) as exc:  # the tree in memory is ahead of the log: start again
            raise NotaryError(f"a log transaction failed ({type(exc).__name__}: {exc}); nothing of it is visible",
                              "restart the notary: it resumes after the last committed transaction") from exc
        if due:
            state.checkpoint_size, state.checkpoint_ms = size, now
            log.info("checkpoint: size %d root %s", size, root.hex())

    async def _send_entries(self, entries: list[tuple[bytes, bytes]]) -> int:
        """Send the entries in order to the one partition of the log, the last with the resume state; returns
        the log offset of the last entry (acknowledged, still uncommitted)."""
        topic = self.names.log
        resume = [(HEADER_TREE, encode_tree_state(self.state.before_last)),
                  (HEADER_POSITIONS, encode_positions(self.state.positions))]
        deliveries = []
        batch = self.producer.create_batch()
        count = 0
        for n, (key, value) in enumerate(entries):
            headers = resume if n == len(entries) - 1 else []
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                deliveries.append((await self.producer.send_batch(batch, topic, partition=0), count))
                batch, count = self.producer.create_batch(), 0
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    raise NotaryError(f"log entry {key.decode()} is larger than a whole batch ({MAX_BATCH_BYTES} B)",
                                      "this is a bug: entries are a few hundred bytes")
            count += 1
        deliveries.append((await self.producer.send_batch(batch, topic, partition=0), count))
        last = None
        for delivery, n in deliveries:
            metadata = await delivery
            last = metadata.offset + n - 1
        assert last is not None
        return last


def entries_of(records: list[Any]) -> list[LogEntry]:
    """Decode the entries of log-topic records (tests, tools); refuses non-canonical bytes."""
    return [decode_entry(r.value, f"log offset {r.offset}") for r in records]


def ensure_notary_key(key_path: Path, public_keys_path: Path, now_ms: int) -> SigningKey:
    """The hub's notary key, created owner-only when missing, with its entry (owner `hub-notary`) added to the
    public-keys file when absent, so receipts and checkpoints can be verified (`cshub run`; `cshub security init`
    does the same for a real deployment)."""
    key = SigningKey.load(key_path) if key_path.exists() else SigningKey.generate()
    if not key_path.exists():
        key.save(key_path)
    text = public_keys_path.read_text(encoding="utf-8") if public_keys_path.exists() else ""
    keys = parse_public_keys(text, str(public_keys_path)) if text else PublicKeys([])
    if keys.get(key.kid) is None:
        document: dict[str, Any] = orjson.loads(text) if text else {"format": KEYS_FORMAT, "keys": []}
        document["keys"].append(public_key_of(key, NOTARY_OWNER, now_ms).as_json())
        public_keys_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = public_keys_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(public_keys_path)
    return key

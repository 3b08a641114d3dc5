"""Ingress: the inbound topics read by a plain aiokafka consumer, off Faust's per-message path.

Faust pays about 70-150 µs of framework work per Kafka message (mode's `wait_first` per message,
the conductor, the stream iterator: ../docs/decisions.md, bench/worker_bench.py); with one Faust
event per report no worker passes ~15,000 reports/s a core. So validation, which is stateless,
reads the 93 inbound topics itself: `getmany`, one decode and one rule check per record
(`Validator.route`), the original bytes to `cshub.validated.<kind>` as before, rejections to
`cshub.rejected` and the province's feedback. What was accepted is handed to the aggregation
agent as **envelopes**: one record per state partition and poll on `<root>.validated-batches`,
co-partitioned with the state table, each carrying the compact entries of many reports (kind,
province, id, revision, period, contribution, arrival time and the validated record's coordinates).
The Faust agent then pays its per-message cost once per envelope, not once per report.

Exactness (docs/exactness.md, "two hops"): inbound offsets are committed only after everything a
poll produced (validated records, envelopes, rejections, feedback) is acknowledged; a failed send
ends the process. So a committed inbound offset is durable downstream, an uncommitted one is read
again, and the aggregation applies a redelivered entry as a no-op (latest revision wins).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson

from streams.validation import Validator

log = logging.getLogger(__name__)


def encode_envelope(entries: list[list[Any]]) -> bytes:
    """An envelope's bytes: a JSON array of entries (see `FoldEntry.entry`)."""
    return orjson.dumps(entries)


def decode_envelope(data: bytes) -> list[list[Any]]:
    return orjson.loads(data)


class Ingress:
    """Reads the inbound topics in its own consumer group and feeds the aggregation agent envelopes.

    `consumer` is an unstarted aiokafka consumer subscribed by `run`; `producer()` the aiokafka
    producer (Faust's); `on_failure(exc)` ends the process.
    """

    def __init__(self, consumer: Any, topics: list[str], envelope_topic: str, validator: Validator,
                 producer: Callable[[], Any], on_failure: Callable[[BaseException], None], *,
                 max_records: int = 2000, poll_ms: int = 100, commit_interval_s: float = 1.0) -> None:
        self.consumer = consumer
        self.topics = topics
        self.envelope_topic = envelope_topic
        self.validator = validator
        self.producer = producer
        self.on_failure = on_failure
        self.max_records = max_records
        self.poll_ms = poll_ms
        self.commit_interval_s = commit_interval_s
        self.lock = asyncio.Lock()  # a poll's processing, and commits (also from the rebalance listener)
        self.done: dict[Any, int] = {}  # tp -> next offset whose effects are all acknowledged
        self.committed: dict[Any, int] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.running = False

    async def run(self) -> None:
        """Until cancelled: poll, validate, produce, and commit what is acknowledged."""
        from aiokafka import ConsumerRebalanceListener

        ingress = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
            async def on_partitions_revoked(self, revoked: Any) -> None:
                async with ingress.lock:  # the poll in progress finishes first
                    await ingress.commit()
                    for tp in revoked:
                        ingress.done.pop(tp, None)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                return None

        self.consumer.subscribe(self.topics, listener=Listener())
        await self.consumer.start()
        self.running = True
        last_commit = time.monotonic()
        try:
            while True:
                batches = await self.consumer.getmany(timeout_ms=self.poll_ms, max_records=self.max_records)
                async with self.lock:
                    if batches:
                        await self.process(batches)
                    if time.monotonic() - last_commit >= self.commit_interval_s:
                        await self.commit()
                        last_commit = time.monotonic()
        finally:
            self.running = False
            try:
                async with self.lock:
                    await self.commit()
            finally:
                await self.consumer.stop()

    async def process(self, batches: dict[Any, list[Any]]) -> None:
        """One poll: route every record, wait for the validated records' offsets, send the envelopes.

        Validated records go out as one aiokafka record batch per (topic, partition): a batch's records
        get consecutive offsets from its base offset, which is how each entry learns its coordinates
        (and ~1 µs a record against ~10 for a `send` coroutine each). The rest (rejections, feedback,
        schemas: rare) goes through `send`. Every inbound record, accepted or rejected, has an entry in
        the envelope of its province's partition, in inbound order: the aggregation writes the verdicts
        in that order (docs/evidence.md §4).
        """
        producer = self.producer()
        futures: list[asyncio.Future] = []
        open_batches: dict[tuple[str, int | None], tuple[Any, list[list[Any]]]] = {}
        sent_batches: list[tuple[asyncio.Future, list[list[Any]]]] = []
        envelopes: dict[int, list[list[Any]]] = defaultdict(list)
        for records in batches.values():
            for rec in records:
                routed = self.validator.route(rec.topic, rec.partition, rec.offset, rec.key, rec.value, rec.timestamp,
                                              rec.headers)
                others = routed.records
                if routed.accepted is not None:
                    *others, (topic, key, value, partition) = routed.records  # the validated record is the last
                    where = (topic, partition)
                    batch, entries = open_batches.get(where) or (producer.create_batch(), [])
                    if batch.append(key=key, value=value, timestamp=rec.timestamp) is None:  # full: send it
                        sent_batches.append((await producer.send_batch(batch, topic, partition=partition), entries))
                        batch, entries = producer.create_batch(), []
                        batch.append(key=key, value=value, timestamp=rec.timestamp)
                    entry = routed.accepted.entry()
                    entries.append(entry)
                    envelopes[routed.partition].append(entry)
                    open_batches[where] = (batch, entries)
                elif routed.rejected is not None:
                    envelopes[routed.partition].append(routed.rejected)
                for topic, key, value, partition in others:
                    futures.append(await producer.send(topic, value, key=key, partition=partition,
                                                       timestamp_ms=rec.timestamp))
            self.counts["records"] += len(records)
        try:
            for (topic, partition), (batch, entries) in open_batches.items():
                sent_batches.append((await producer.send_batch(batch, topic, partition=partition), entries))
            for future, entries in sent_batches:
                md = await future
                for i, entry in enumerate(entries):  # the validated record's coordinates (ENTRY_FIELDS 7-9)
                    entry[7], entry[8], entry[9] = md.topic, md.partition, md.offset + i
            for partition, items in envelopes.items():
                futures.append(await producer.send(self.envelope_topic, encode_envelope(items), partition=partition))
            await asyncio.gather(*futures)
        except Exception as exc:  # a send failed for good: nothing after it may be committed
            self.on_failure(exc)
            raise
        self.counts["envelopes"] += len(envelopes)
        for tp, records in batches.items():
            self.done[tp] = records[-1].offset + 1

    async def commit(self) -> None:
        """Commit the offsets whose effects the broker holds (call holding `lock`)."""
        pending = {tp: o for tp, o in self.done.items() if self.committed.get(tp) != o}
        if not pending:
            return
        try:
            await self.consumer.commit(pending)
        except Exception as exc:  # a rebalance took them: the new owner reads them again (idempotent)
            log.warning("ingress commit of %d partition(s) failed: %r", len(pending), exc)
            return
        self.committed.update(pending)

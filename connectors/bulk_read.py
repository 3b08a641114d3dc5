"""Bulk reading of whole partitions for the auditor's replay: aiokafka, bounded prefetch, a plain iterator.

Why aiokafka and not kafka-python (bench/audit_bench.py, ../docs and the study in issue 12):
- aiokafka parses record batches in C (about 1-2 µs a record against 8-10 µs for kafka-python's parse),
  and has no IO thread competing with the fold for the GIL;
- kafka-python keeps one completed fetch of up to `max_partition_fetch_bytes` per assigned partition while
  the fold is slower than the network, so its memory grew with the topics (288 -> 392 MB from 1 M to 2 M
  reports). aiokafka keeps at most one record set per partition and fetches again only once it is
  consumed, so with `BULK_FETCH` the buffer stays within a few fetches (`fetch_max_bytes` each) whatever
  the size of the topics.

Manual assignment, no consumer group: the reader never commits and never writes. The caller's loop
stays synchronous (the fold is plain Python). aiokafka runs on its own event loop in a background thread
and hands whole batches over a small bounded queue (`QUEUED_BATCHES`): the network keeps being read
while the fold works. (Run in the caller's thread instead, the loop only turned between two batches, a
16 MiB fetch response took hundreds of such turns to read, and on a busy machine fetches timed out.)
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from connectors.errors import BrokerUnreachable, ConnectorError
from schemas.kafka_config import Target, aiokafka_config

Raw = tuple[str, int, int, int, bytes | None]  # topic, partition, offset, timestamp ms, value
SignedRaw = tuple[str, int, int, int, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]
"""`Raw` plus the key and the headers (what a submission signature covers and carries)."""

BULK_FETCH: dict[str, Any] = {
    "max_partition_fetch_bytes": 1024 * 1024,
    "fetch_max_bytes": 16 * 1024 * 1024,
    "fetch_min_bytes": 1,
    "fetch_max_wait_ms": 100,
    "check_crcs": False,
}
"""Fetch sizes that bound the client's buffer (about one 16 MiB response per broker in flight, one 1 MiB
record set per partition) and still keep the fold busy: measured in bench/audit_bench.py."""

MAX_RECORDS = 5000
"""Records per `getmany`: big enough that the loop's per-call cost vanishes, small enough to stay flat."""
QUEUED_BATCHES = 4
"""Batches read ahead of the fold at most (with MAX_RECORDS, 20,000 records: a few MiB)."""
_END = None


class _Reader:
    """One aiokafka consumer reading `partitions` from their beginning to the end offsets taken at the start."""

    def __init__(self, bootstrap: Target, partitions: list[tuple[str, int]], client_id: str,
                 idle_timeout_s: float) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.client_id = client_id
        self.idle_timeout_s = idle_timeout_s
        self.consumer: Any = None
        self.ends: dict[Any, int] = {}
        self.pending: set[Any] = set()
        self.stopping = threading.Event()  # set by the caller's thread: stop reading

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.errors import KafkaError

        self.consumer = AIOKafkaConsumer(**aiokafka_config(
            self.bootstrap, client_id=self.client_id, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", request_timeout_ms=30_000, **BULK_FETCH))
        try:
            await self.consumer.start()
        except (KafkaError, OSError) as exc:
            raise BrokerUnreachable(self.bootstrap, exc) from exc
        tps = [TopicPartition(t, p) for t, p in self.partitions]
        self.consumer.assign(tps)
        begins = await self.consumer.beginning_offsets(tps)
        self.ends = await self.consumer.end_offsets(tps)
        for tp in tps:
            self.consumer.seek(tp, begins[tp])
        self.pending = {tp for tp in tps if begins[tp] < self.ends[tp]}
        done = [tp for tp in tps if tp not in self.pending]
        if done:
            self.consumer.pause(*done)  # nothing to read there: no fetches for them

    async def next_batch(self) -> list[Any] | None:
        """The next records (ConsumerRecords, offset order within a partition); None once every end is reached."""
        last_progress = time.monotonic()
        while self.pending and not self.stopping.is_set():
            batches = await self.consumer.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            if not batches:
                if time.monotonic() - last_progress > self.idle_timeout_s:
                    raise ConnectorError(
                        f"no records for {self.idle_timeout_s:.0f} s while reading"
                        f" {sorted(f'{tp.topic}-{tp.partition}' for tp in self.pending)} to its end;"
                        " is the broker up?")
                continue
            out: list[Any] = []
            for tp, records in batches.items():
                end = self.ends[tp]
                if records[-1].offset < end:
                    out.extend(records)
                else:
                    out.extend(rec for rec in records if rec.offset < end)
                if records[-1].offset + 1 >= end or await self.consumer.position(tp) >= end:
                    self.pending.discard(tp)
                    self.consumer.pause(tp)
            return out
        return None

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()


class _Pump:
    """The reader's thread: its own event loop, reading batches into a bounded queue until the end or `stop`."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.batches: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_BATCHES)
        self.stopping = reader.stopping
        self.thread = threading.Thread(target=self._run, name=f"{reader.client_id}-io", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._pump())
        except BaseException as exc:  # handed to the caller's thread, which raises it
            self._put(exc)

    async def _pump(self) -> None:
        try:
            await self.reader.start()
            while not self.stopping.is_set():
                batch = await self.reader.next_batch()
                if not await self._offer(batch):
                    return
                if batch is _END:
                    return
        finally:
            await self.reader.stop()

    async def _offer(self, item: Any) -> bool:
        """Queue `item`, waiting (without blocking the loop) while the fold is behind; False once stopped."""
        while not self.stopping.is_set():
            try:
                self.batches.put_nowait(item)
                return True
            except queue.Full:
                await asyncio.sleep(0.002)
        return False

    def _put(self, item: Any) -> None:
        while not self.stopping.is_set():
            try:
                self.batches.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


def read_partitions(bootstrap: Target, partitions: list[tuple[str, int]], *, client_id: str = "cshub-auditor",
                    idle_timeout_s: float = 60.0,
                    on_batch: Callable[[int], None] | None = None,
                    with_headers: bool = False) -> Iterator[Raw | SignedRaw]:
    """Every record of these partitions as (topic, partition, offset, timestamp ms, value), from the earliest
    offset to the end offsets taken at the start; in offset order within each partition.

    `with_headers`: (topic, partition, offset, timestamp ms, value, key, headers) instead (`SignedRaw`).
    `on_batch(n)` is called before each batch of n records is handed out (progress). Raises
    BrokerUnreachable when the broker cannot be reached, ConnectorError when nothing arrives for
    `idle_timeout_s` while records are still due.
    """
    if not partitions:
        return
    pump = _Pump(_Reader(bootstrap, partitions, client_id, idle_timeout_s))
    pump.thread.start()
    try:
        while True:
            try:
                batch = pump.batches.get(timeout=idle_timeout_s + 60)
            except queue.Empty:
                raise ConnectorError(f"the reader of {len(partitions)} partition(s) gave nothing for"
                                     f" {idle_timeout_s + 60:.0f} s; is the broker up?") from None
            if batch is _END:
                return
            if isinstance(batch, BaseException):
                raise batch
            if on_batch is not None:
                on_batch(len(batch))
            if with_headers:
                for rec in batch:
                    yield rec.topic, rec.partition, rec.offset, rec.timestamp, rec.value, rec.key, rec.headers
            else:
                for rec in batch:
                    yield rec.topic, rec.partition, rec.offset, rec.timestamp, rec.value
    finally:
        pump.stopping.set()
        pump.thread.join(timeout=30)

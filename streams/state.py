"""State writes that keep the local store a prefix of its changelog (docs/exactness.md, invariant L).

Faust's own `Table.__setitem__` writes the local RocksDB at once and queues the changelog record in
its `ProducerBuffer`, whose `flush()` gives up after 0.1 s without a send (faust
`transport/producer.py` `flush_atmost`). So local state ran ahead of the changelog, and an input
offset could be committed while the changelog record it produced was still queued: after a
SIGKILL the redelivered report was a no-op locally and never reached the changelog, and a worker
rebuilding from the changelog (an empty data folder) lacked it.

Here a write goes the other way round:
1. the record goes straight to aiokafka (Faust's own producer, which Faust flushes, all of it,
   before it commits input offsets: faust `Consumer._commit_offsets` -> aiokafka `flush`);
   (one aiokafka record batch per partition and call, not a send per key);
2. only when the broker has acknowledged it, it is written to the local store, together with
   its changelog offset as the store's persisted offset, in one RocksDB write batch
   (Faust's recovery path, `Store.apply_changelog_batch`).
So the local store never holds what the changelog lacks; whatever a SIGKILL cuts off, Faust's
recovery replays from the persisted offset. aiokafka keeps at most one batch per partition in
flight, so changelog order per partition is send order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Message:
    """The fields of a changelog message that `Store.apply_changelog_batch` reads."""

    tp: Any
    partition: int
    offset: int
    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class _Event:
    message: _Message


def _same(value: Any) -> Any:
    return value


class ChangelogState:
    """One Faust table written changelog-first: `write` sends, the ack writes the local store.

    `producer()` returns the aiokafka producer; `active(tp)` says whether this worker still holds
    the changelog partition (a late ack for a partition given away is not written locally: the
    new owner recovers it from the changelog); `on_failure(exc)` is called when a send fails for
    good (the worker exits: nothing after it may be committed).
    """

    def __init__(self, table: Any, producer: Callable[[], Any], active: Callable[[Any], bool],
                 on_failure: Callable[[BaseException], None]) -> None:
        self.table = table
        self.topic: str = table.changelog_topic.get_topic_name()
        self.producer = producer
        self.active = active
        self.on_failure = on_failure
        self.in_flight = 0
        self.written = 0

    async def write(self, partition: int, changes: list[tuple[bytes, bytes]]) -> None:
        """Send `changes` (key, value) to changelog partition `partition` as record batches; returns once
        they are handed over (not acknowledged: Faust's commit flushes first)."""
        producer = self.producer()
        batch = producer.create_batch()
        items: list[tuple[bytes, bytes]] = []
        for key, value in changes:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                await self._send(producer, batch, partition, items)
                batch, items = producer.create_batch(), []
                batch.append(key=key, value=value, timestamp=None)
            items.append((key, value))
        if items:
            await self._send(producer, batch, partition, items)

    async def _send(self, producer: Any, batch: Any, partition: int, items: list[tuple[bytes, bytes]]) -> None:
        future = await producer.send_batch(batch, self.topic, partition=partition)
        self.in_flight += len(items)
        future.add_done_callback(lambda f: self._on_ack(f, items))

    def _on_ack(self, future: asyncio.Future, items: list[tuple[bytes, bytes]]) -> None:
        """The batch is on the broker: its records have consecutive offsets from the batch's base offset."""
        self.in_flight -= len(items)
        if future.cancelled():
            self.on_failure(asyncio.CancelledError("changelog send cancelled"))
            return
        exc = future.exception()
        if exc is not None:
            self.on_failure(exc)
            return
        md = future.result()
        if not self.active(md.topic_partition):
            return  # given away: the new owner recovers these from the changelog
        events = [_Event(_Message(md.topic_partition, md.partition, md.offset + i, key, value))
                  for i, (key, value) in enumerate(items)]
        self.table.data.apply_changelog_batch(events, to_key=_same, to_value=_same)
        self.written += len(events)

"""A background thread that keeps a `Snapshot` in step with the compacted national tables.

It reads every partition of every `cshub.national.<table>` topic from the beginning (manual
assignment, no consumer group, never commits) and the tail of `cshub.notifications`, then follows
them live. Because it reads all partitions it shows the whole country however many workers share
the work, unlike a worker's own web view, which sees only the partitions it owns.
Topics that do not exist yet (the worker has not started) are picked up when they appear.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from connectors.gateway.snapshot import Change, Snapshot
from schemas.kafka_config import Target, kafka_python_config
from schemas.topics import TABLES, TopicNames

log = logging.getLogger(__name__)

REFRESH_TOPICS_S = 3.0
"""How often the reader looks for topics or partitions that appeared since it started (seconds)."""


class TableReader:
    """Owns one kafka-python consumer in one daemon thread; `start()` / `stop()`."""

    def __init__(self, bootstrap: Target, snapshot: Snapshot, *, names: TopicNames | None = None,
                 tables: Sequence[str] = TABLES, on_changes: Callable[[list[Change]], None] | None = None,
                 notifications_tail: int = 200) -> None:
        self.bootstrap = bootstrap
        self.snapshot = snapshot
        self.names = names or TopicNames()
        self.table_of = {self.names.national(t): t for t in tables}
        self.on_changes = on_changes
        self.notifications_tail = notifications_tail
        self.caught_up = threading.Event()
        """Set once every partition known at start-up has been read to its end."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._positions: dict[TopicPartition, int] = {}

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="cshub-gateway-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # A process boundary of sorts: the thread must never die silently, so it retries on broker errors.
        while not self._stop.is_set():
            try:
                self._consume()
            except KafkaError as exc:
                log.warning("gateway reader: Kafka error %s; reconnecting in 2 s", exc)
                self._stop.wait(2.0)

    def _consume(self) -> None:
        consumer = KafkaConsumer(**kafka_python_config(self.bootstrap, client_id="cshub-gateway", group_id=None,
                                                       enable_auto_commit=False, auto_offset_reset="earliest",
                                                       fetch_max_wait_ms=200))
        try:
            ends: dict[TopicPartition, int] = {}
            next_refresh = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_refresh:
                    ends.update(self._assign(consumer))
                    next_refresh = time.monotonic() + REFRESH_TOPICS_S
                if not consumer.assignment():
                    self.caught_up.set()  # nothing to read yet counts as caught up
                    self._stop.wait(0.5)
                    continue
                batches = consumer.poll(timeout_ms=300, max_records=2000)
                changes: list[Change] = []
                for tp, records in batches.items():
                    for rec in records:
                        change = self._apply(rec.topic, rec.key, rec.value)
                        if change is not None:
                            changes.append(change)
                        self._positions[tp] = rec.offset + 1
                if changes and self.on_changes is not None:
                    self.on_changes(changes)
                if not self.caught_up.is_set() and all(self._positions.get(tp, 0) >= end for tp, end in ends.items()):
                    self.caught_up.set()
        finally:
            consumer.close()

    def _assign(self, consumer: KafkaConsumer) -> dict[TopicPartition, int]:
        """(Re)assign every partition of the wanted topics; return end offsets of newly added ones."""
        existing = consumer.topics()
        wanted = [t for t in [*self.table_of, self.names.notifications] if t in existing]
        partitions: list[TopicPartition] = []
        for topic in wanted:
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                partitions.append(TopicPartition(topic, p))
        new = [tp for tp in partitions if tp not in self._positions]
        if not new and set(partitions) == consumer.assignment():
            return {}
        consumer.assign(partitions)
        begins = consumer.beginning_offsets(new) if new else {}
        ends = consumer.end_offsets(new) if new else {}
        for tp in new:
            start = begins[tp]
            if tp.topic == self.names.notifications:  # only the tail: notifications are not compacted
                start = max(start, ends[tp] - self.notifications_tail)
            self._positions[tp] = start
        for tp in partitions:
            consumer.seek(tp, self._positions[tp])
        return {tp: ends[tp] for tp in new}

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> Change | None:
        from schemas import codec  # the gateway decodes with the hub's own codec
        from schemas.errors import CodecError

        key_text = key.decode("utf-8", errors="replace") if key is not None else None
        table = self.table_of.get(topic)
        if table is not None and key_text is not None and value is None:
            return self.snapshot.put_row(table, key_text, None)
        if value is None:
            return None
        try:
            decoded = codec.decode(value)
        except CodecError as exc:
            log.warning("gateway reader: cannot decode a record of %s: %s", topic, exc)
            self.snapshot.count_undecodable()
            return None
        if table is not None:
            row_key = key_text or str(decoded.value.get("province", ""))
            return self.snapshot.put_row(table, row_key, decoded.value)
        return self.snapshot.add_notification(key_text, decoded.value)

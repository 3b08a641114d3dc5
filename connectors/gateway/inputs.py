"""The gateway's copy of the inputs: every validated report, for history, explain and the obligations panel.

Why the gateway replays inputs: the national topics hold only the latest row per province, so a trend
by month, a table "as of" a moment or the reports behind a cell can only come from the reports
themselves. The gateway reads `<root>.validated.*` (what passed the worker's validation, with the
provinces' own Kafka timestamps) from offset 0 and folds them with the core (`core.history`,
`core.provenance`, `core.obligations`): the same functions as the worker and the auditor, so its
history ends exactly at the live tables. It also keeps the tail of `<root>.rejected` (reason codes and
messages, never the original bytes) for the per-province page, and reads `<root>.schemas` to decode
records written with any earlier schema.

Topics the gateway principal must be allowed to read: `<root>.national.*`, `<root>.notifications`,
`<root>.validated.*`, `<root>.rejected`, `<root>.schemas`.

Memory: every validated report is kept decoded (about 1 kB each); fine for the demo's ~40,000 records
and for a few years of monthly provincial reports, not for the 36 million facility records of a full
national roll-out, which would need the history published by the worker instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from core import KIND_OF_SCHEMA, REPORT_TABLES, Hub, HubConfig, ObligationRule
from core.history import FIRST_PERIOD, Input, history, periods_between
from core.obligations import period_of
from core.provenance import Provenance
from schemas.kafka_config import Target, kafka_python_config
from schemas.topics import KINDS, TopicNames

log = logging.getLogger(__name__)

REFRESH_TOPICS_S = 3.0
REJECTIONS_KEPT = 50
"""Recent rejections kept per province."""


@dataclass
class Folded:
    """The fold of every input read so far: the hub, provenance and history (recomputed when inputs grow)."""

    count: int
    hub: Hub
    provenance: Provenance
    periods: list[str]
    history: dict[str, dict[tuple[str, str], dict[str, Any]]]


@dataclass
class InputStore:
    """Validated inputs and recent rejections, thread-safe; folds on demand and caches the result."""

    config: HubConfig
    rules: tuple[ObligationRule, ...] = ()
    inputs: list[Input] = field(default_factory=list)
    rejections: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    min_refold_s: float = 2.0
    """While inputs keep arriving, the fold is recomputed at most this often (seconds)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _fold_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _folded: Folded | None = field(default=None, repr=False)
    _folded_at: float = 0.0

    def add(self, item: Input) -> None:
        with self._lock:
            self.inputs.append(item)

    def add_rejection(self, province: str, rejection: dict[str, Any]) -> None:
        with self._lock:
            self.rejections.setdefault(province, deque(maxlen=REJECTIONS_KEPT)).append(rejection)

    def recent_rejections(self, province: str) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            return list(reversed(self.rejections.get(province, ())))

    def snapshot(self) -> list[Input]:
        with self._lock:
            return list(self.inputs)

    def folded(self, now_ms: int) -> Folded:
        """The hub (with its deadline ledger), the provenance and the history 2021-01 .. now's month."""
        with self._fold_lock:  # one fold at a time; the others wait for it and share it
            inputs = self.snapshot()
            last = period_of(now_ms)
            cached = self._folded
            if cached is not None and cached.periods[-1:] == [last] and (
                    cached.count == len(inputs) or time.monotonic() - self._folded_at < self.min_refold_s):
                return cached
            folded = self._fold(inputs, last)
            self._folded, self._folded_at = folded, time.monotonic()
            return folded

    def _fold(self, inputs: list[Input], last: str) -> Folded:
        hub = Hub(self.config, self.rules)
        provenance = Provenance()
        for item in inputs:
            provenance.observe(*item)
            hub.apply(*item)
        periods = periods_between(FIRST_PERIOD, last)
        rows = history(inputs, self.config, periods, REPORT_TABLES)
        return Folded(len(inputs), hub, provenance, periods, rows)


class InputReader:
    """One daemon thread: reads the validated topics from offset 0 (and the rejected tail), live."""

    def __init__(self, bootstrap: Target, store: InputStore, names: TopicNames,
                 on_change: Callable[[], None] | None = None, rejected_tail: int = 2000) -> None:
        self.bootstrap = bootstrap
        self.store = store
        self.names = names
        self.on_change = on_change
        self.rejected_tail = rejected_tail
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._need_schemas = True  # at start, and after a record with an unknown writer schema

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cshub-gateway-inputs", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except KafkaError as exc:
                log.warning("gateway inputs: Kafka error %s; reconnecting in 2 s", exc)
                self._stop.wait(2.0)

    def _consume(self) -> None:
        from connectors.errors import ConnectorError
        from connectors.kafka_io import load_schema_history

        consumer = KafkaConsumer(**kafka_python_config(self.bootstrap, client_id="cshub-gateway-inputs", group_id=None,
                                                       enable_auto_commit=False, auto_offset_reset="earliest",
                                                       fetch_max_wait_ms=200,
                                                       max_partition_fetch_bytes=4 * 1024 * 1024))
        try:
            ends: dict[TopicPartition, int] = {}
            next_refresh = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_refresh:
                    if self._need_schemas:
                        try:
                            load_schema_history(self.bootstrap, self.names.schemas)
                            self._need_schemas = False
                        except ConnectorError as exc:
                            log.warning("gateway inputs: schema history: %s", exc)
                    ends.update(self._assign(consumer))
                    next_refresh = time.monotonic() + REFRESH_TOPICS_S
                if not consumer.assignment():
                    self.caught_up.set()
                    self._stop.wait(0.5)
                    continue
                batches = consumer.poll(timeout_ms=300, max_records=5000)
                changed = False
                for tp, records in batches.items():
                    for rec in records:
                        changed |= self._apply(rec)
                        self._positions[tp] = rec.offset + 1
                if changed and self.on_change is not None:
                    self.on_change()
                if not self.caught_up.is_set() and all(self._positions.get(tp, 0) >= e for tp, e in ends.items()):
                    self.caught_up.set()
        finally:
            consumer.close()

    def _assign(self, consumer: KafkaConsumer) -> dict[TopicPartition, int]:
        existing = consumer.topics()
        wanted = [t for t in [*(self.names.validated(k) for k in KINDS), self.names.rejected] if t in existing]
        partitions = [TopicPartition(t, p) for t in wanted for p in sorted(consumer.partitions_for_topic(t) or ())]
        new = [tp for tp in partitions if tp not in self._positions]
        if not new and set(partitions) == consumer.assignment():
            return {}
        consumer.assign(partitions)
        begins = consumer.beginning_offsets(new) if new else {}
        ends = consumer.end_offsets(new) if new else {}
        for tp in new:
            start = begins[tp]
            if tp.topic == self.names.rejected:
                start = max(start, ends[tp] - self.rejected_tail)
            self._positions[tp] = start
        for tp in partitions:
            consumer.seek(tp, self._positions[tp])
        return {tp: ends[tp] for tp in new}

    def _apply(self, rec: Any) -> bool:
        from schemas import codec
        from schemas.errors import CodecError

        if rec.value is None:
            return False
        try:
            decoded = codec.decode(rec.value)
        except CodecError as exc:
            log.warning("gateway inputs: cannot decode %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, exc)
            self._need_schemas = True
            return False
        if rec.topic == self.names.rejected:
            value = decoded.value
            self.store.add_rejection(str(value.get("province") or ""), {
                "reason": value.get("reason"), "message": value.get("message"),
                "source": f"{value.get('source_topic')}[{value.get('partition')}]@{value.get('offset')}",
                "event_time": value.get("event_time")})
            return True
        kind = KIND_OF_SCHEMA.get(decoded.name)
        if kind is None:
            return False
        self.store.add((kind, decoded.value, rec.timestamp, rec.topic, rec.partition, rec.offset))
        return True

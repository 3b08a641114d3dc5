"""The faust-streaming app: validation, aggregation into national tables, deadlines, web views.

Built by `build_app(settings)`: nothing happens at import (faust itself is imported inside).

Exactness under faults (why this design, not Faust's `exactly_once`)
--------------------------------------------------------------------
faust-streaming's exactly_once has open bugs (duplicates after a kill, fenced producers on
rebalance), so the worker runs at-least-once and makes every effect idempotent instead:

* Validation forwards the original bytes to `cshub.validated.<kind>`, partitioned by province.
  A redelivery after a crash forwards a record twice: harmless, see next point.
* Aggregation keeps ONE Faust table (`hub-state`, RocksDB, changelog-backed) holding, per report,
  its latest revision and compact contribution, and per (province, kind, period) the earliest
  arrival. Each Kafka record of that changelog is atomic and self-contained, and applying a
  report is idempotent (a revision not above the stored one is a no-op; an arrival is a min).
  So there is no crash window between two writes that need to agree: whatever subset of a
  batch's writes survived a SIGKILL, redelivering the batch completes it and changes nothing else.
* The per-province totals (the only derived state) are NOT stored: they live in memory and are
  rebuilt from the table (`Hub.load`) whenever partitions are (re)assigned, i.e. after recovery.
  Totals are therefore always a pure function of the per-report table, never a second changelog
  that could disagree with it.
* Published rows are a pure function of the totals; after a rebuild every row is republished, so
  the compacted `cshub.national.<table>` topics converge on the exact table. Each row carries the
  input offsets it reflects.
* Ordering: per batch the agent applies all records (state-table writes go to RocksDB at once and
  to the changelog via Faust's producer buffer) and hands rows and notifications to the producer;
  `take_events` then acks the batch's events. Faust commits acked offsets only after
  `producer.flush()` (faust/transport/consumer.py `_commit_offsets`), so what a committed offset
  covers has reached the broker. A produced record that fails after aiokafka's retries exits the
  process at once (`on_sent`), before any later commit. The batch body never waits for the broker
  itself: waiting per batch made batches tiny and the worker latency-bound (measured ~1,000/s).

Several workers (one consumer group, each its own CSHUB_INSTANCE_ID)
--------------------------------------------------------------------
Faust assigns partition N of every validated topic and of `hub-state` to the same worker, so a
worker holds whole provinces (`partition_of_provinces`). It publishes the rows of those provinces
only, and sends each changed row's totals (a `core.Part`) to `<root>.national-parts` (compacted,
one partition, keyed table|province). The worker holding that partition runs the national stage:
it keeps the latest part per key in the `national-parts` table and publishes the 000000 rows with
`core.national_row`, the function `Hub.rows` uses too, once every province has a part. After a
rebalance each worker rebuilds its provinces from `hub-state` and republishes them, so the stage
gets fresh parts; between revocation and that rebuild nothing is published.

What is not exact: notifications and feedback are at-least-once (a redelivered batch can repeat
one; each carries a deterministic id to deduplicate), and a notification whose batch crashed
before it was sent, but whose state change survived in the changelog, is not re-derived.

Speed: both agents work on batches (`take_events`), decode once per stage (aggregation reads
without logical types), write one table entry per applied report, keep totals in memory, and
publish changed rows once per batch, not once per event.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
import weakref
from decimal import Decimal
from typing import Any

from core import (
    KIND_OF_SCHEMA,
    NATIONAL,
    REPORT_TABLES,
    Hub,
    HubConfig,
    Part,
    PublishedTables,
    build_row,
    decode_part,
    describe,
    encode_part,
    encode_row,
    feedback,
    national_row,
    newly_missing,
    obligation_counts,
    obligation_rules,
    part_key,
    problems,
    rejection,
)
from core.notify import BurstDetector
from schemas import codec, reference
from schemas.errors import CodecError
from schemas.topics import KINDS, TABLES, TopicNames
from streams.decoding import decode_plain
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)
OBLIGATIONS_FILE = reference.DATA_DIR / "obligations.csv"


def _json(value: Any) -> Any:
    """Rows as JSON: Decimal as str (exact), nested structures as they are."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


Record = tuple[str, bytes | None, bytes, int | None]  # topic, key, value, partition (None: the partitioner's)


def partition_of_provinces(provinces: list[str], partitions: int) -> dict[str, int]:
    """The validated partition of each province: the i-th province of the reference data goes to i mod N.

    One rule for the validator (where it sends a province's reports) and the aggregator (which
    provinces it holds, given its assigned validated partitions).
    """
    return {p: i % partitions for i, p in enumerate(provinces)}


class Validator:
    """Routes one inbound record: to validated, or to rejected (+ feedback, + burst notification)."""

    def __init__(self, names: TopicNames, provinces: list[str], partitions: int, config: HubConfig) -> None:
        self.names = names
        self.provinces = provinces
        self.province_set = frozenset(provinces)
        self.partition_of = partition_of_provinces(provinces, partitions)
        self.bursts = BurstDetector(config.burst_threshold, config.burst_window_ms)
        self.seen_schemas: set[bytes] = set()
        self.counts: collections.Counter[str] = collections.Counter()
        self._topic_cache: dict[str, tuple[str, str] | None] = {}

    def route(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
              ts_ms: int) -> list[tuple[str, bytes | None, bytes, int | None]]:
        """(topic, key, value, partition) records to send for one inbound record."""
        where = self._topic_cache.get(topic, False)
        if where is False:
            where = self.names.parse_inbound(topic)
            if where is not None and where[0] not in self.province_set:
                where = None
            self._topic_cache[topic] = where
        province = where[0] if where else None
        data = value or b""
        try:
            if where is None:
                return self._reject(data, topic, partition, offset, key, "unknown_topic",
                                    f"{topic} is not an inbound topic of a province in the reference data",
                                    None, ts_ms, None)
            decoded = codec.decode(data)
            found = problems(where[0], where[1], decoded.name, decoded.value, self.province_set)
        except CodecError as exc:
            return self._reject(data, topic, partition, offset, key, exc.reason, str(exc), province, ts_ms, None)
        except Exception as exc:  # process boundary: no input may stop the worker; the record goes to rejected
            log.exception("unexpected error validating %s[%d]@%d", topic, partition, offset)
            return self._reject(data, topic, partition, offset, key, "internal_error", repr(exc), province, ts_ms,
                                None)
        if found:
            reason, message = describe(found)
            report_id = decoded.value.get("report_id")
            return self._reject(data, topic, partition, offset, key, reason, message, province, ts_ms,
                                report_id if isinstance(report_id, str) else None)
        self.counts["validated"] += 1
        out: list[tuple[str, bytes | None, bytes, int | None]] = []
        if decoded.fingerprint not in self.seen_schemas:
            self.seen_schemas.add(decoded.fingerprint)
            out.append((self.names.schemas, decoded.fingerprint, codec.schema_json(decoded.fingerprint).encode(), 0))
        rec = decoded.value
        out.append((self.names.validated(where[1]), f"{province}|{rec['report_id']}".encode(), bytes(data),
                    self.partition_of[province]))  # type: ignore[index]  # province is set when where is
        return out

    def _reject(self, data: bytes, topic: str, partition: int, offset: int, key: bytes | None, reason: str,
                message: str, province: str | None, ts_ms: int, report_id: str | None,
                ) -> list[tuple[str, bytes | None, bytes, int | None]]:
        self.counts["rejected"] += 1
        rec = rejection(data, topic, partition, offset, key, reason, message, province, ts_ms)
        out: list[tuple[str, bytes | None, bytes, int | None]] = [
            (self.names.rejected, f"{topic}@{offset}".encode(), codec.encode("cshub.Rejection", rec), None)]
        if province is not None:
            fb = feedback(province, report_id, "REJECTED", reason, message, topic, partition, offset, ts_ms)
            out.append((self.names.feedback(province), (report_id or f"{topic}@{offset}").encode(),
                        codec.encode("cshub.Feedback", fb), None))
            burst = self.bursts.observe(province, ts_ms)
            if burst is not None:
                out.append((self.names.notifications, province.encode(), codec.encode("cshub.Notification", burst),
                            None))
        return out


class Aggregator:
    """Holds the Hub and the last published rows of the provinces this worker holds; one per worker process.

    With several workers in one consumer group, each holds the provinces of its assigned validated
    partitions (`assign`): it publishes their rows, and sends their totals to the national stage
    (`<root>.national-parts`), which alone publishes the 000000 rows. A province it does not hold is
    never published by it (its totals here would be zeros or stale).
    """

    def __init__(self, config: HubConfig, rules: tuple, names: TopicNames, publish_interval_s: float = 0.2,
                 partition_of: dict[str, int] | None = None) -> None:
        self.config = config
        self.publish_interval_s = publish_interval_s
        self.published_at = 0.0
        self.last_ms = 0
        self.rules = rules
        self.names = names
        self.partition_of = partition_of
        self.held: tuple[str, ...] = config.provinces  # until an assignment says otherwise
        self.hub = Hub(config, rules)
        self.published = PublishedTables()
        self.needs_rebuild = True
        self.ready = False
        self.statuses: dict | None = None
        self.started_ms = int(time.time() * 1000)
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.counts: collections.Counter[str] = collections.Counter()

    def assign(self, partitions: set[int] | None) -> None:
        """The validated partitions this worker now holds (None: all); rows wait for the next `rebuild`."""
        if partitions is None or self.partition_of is None:
            self.held = self.config.provinces
        else:
            self.held = tuple(p for p in self.config.provinces if self.partition_of.get(p) in partitions)
        self.needs_rebuild = True
        self.ready = False

    def rebuild(self, stored: list[tuple[str, bytes]], write: Any) -> list[Record]:
        """Fresh Hub from the state table; every held row is republished (without notifications)."""
        hub = Hub(self.config, self.rules, on_write=write)
        hub.load(stored)
        self.hub = hub
        self.published = PublishedTables()
        self.statuses = None  # provinces may have moved between workers: only new deadlines are news
        rows = hub.rows(self.held, national=False)
        changed, _notes = self.published.changes(rows, 0)
        self.needs_rebuild = False
        self.ready = True
        self.counts["rebuilds"] += 1
        log.info("rebuilt totals of %d province(s) from %d stored entries", len(self.held), len(stored))
        return self._row_records(changed)

    def _row_records(self, rows: dict, counts: dict[str, dict[str, int]] | None = None,
                     as_of_ms: int = 0) -> list[Record]:
        """Each changed province row to its table topic, and its totals (a part) to the national stage."""
        out: list[Record] = []
        for (table, province), row in rows.items():
            out.append((self.names.national(table), province.encode(), encode_row(table, row), None))
            if table == "obligations":
                totals = counts[province] if counts is not None else {}
            else:
                totals = self.hub.province_totals(table, province)
            part = Part(totals, dict(self.hub.positions), as_of_ms)
            out.append((self.names.national_parts, part_key(table, province), encode_part(table, province, part), 0))
        return out

    def note_records(self, notes: list[dict[str, Any]]) -> list[Record]:
        out: list[Record] = []
        for note in notes:
            self.recent.append(note)
            out.append((self.names.notifications, note["province"].encode(), codec.encode("cshub.Notification", note),
                        None))
            if note["type"] == "OBLIGATION_MET_LATE":
                fb = feedback(note["province"], None, "LATE", "late", note["message"], "", -1, -1, note["event_time"])
                out.append((self.names.feedback(note["province"]), note["subject"].encode(),
                            codec.encode("cshub.Feedback", fb), None))
        return out

    def fold(self, items: list[tuple[str, int, int, int, bytes]], set_event: Any, events: list[Any],
             now_s: float) -> list[Record]:
        """Apply one batch (topic, partition, offset, ts_ms, value); the records to publish.

        Rows are recomputed at most every `publish_interval_s` (monotonic `now_s`), not per batch:
        with a trickle of small batches, recomputing 31 provinces x 5 tables per batch cost more
        than the records themselves. The timer `publish_rows` catches up when the stream goes idle.
        """
        hub = self.hub
        notes: list[dict[str, Any]] = []
        last_ms = 0
        for (topic, partition, offset, ts_ms, value), event in zip(items, events, strict=True):
            set_event(event)  # the state table writes to the changelog partition of this event
            try:
                name, record = decode_plain(value)
                kind = KIND_OF_SCHEMA[name]
                notes += hub.apply(kind, record, ts_ms, topic, partition, offset)
            except (CodecError, KeyError, ValueError, TypeError) as exc:  # not from our validator: skip, loudly
                self.counts["skipped"] += 1
                log.error("skipping undecodable validated record %s[%d]@%d: %s", topic, partition, offset, exc)
            last_ms = max(last_ms, ts_ms)
        self.counts["applied"] += len(items)
        self.last_ms = max(self.last_ms, last_ms)
        out = self.note_records(notes)
        if not self.needs_rebuild and now_s - self.published_at >= self.publish_interval_s:
            out += self.publish_rows(now_s)
        return out

    def publish_rows(self, now_s: float) -> list[Record]:
        """Rows (and parts) of the held provinces changed since the last publish, with their notifications."""
        self.published_at = now_s
        dirty = self.hub.take_dirty()
        held_dirty = [p for p in self.held if p in dirty]
        if not held_dirty:
            return []
        changed, notes = self.published.changes(self.hub.rows(held_dirty, REPORT_TABLES, national=False),
                                                self.last_ms)
        return self._row_records(changed) + self.note_records(notes)

    def deadlines(self, now_ms: int) -> list[Record]:
        """The held provinces' obligations rows (and parts) at `now_ms` that changed, and their notifications."""
        counts, statuses = obligation_counts(self.hub, now_ms, self.held)
        rows = {("obligations", p): build_row("obligations", p, c, self.config, self.hub.positions, now_ms)
                for p, c in counts.items()}
        changed, notes = self.published.changes(rows, now_ms)
        notes += newly_missing(self.statuses, statuses, self.hub, now_ms, since_ms=self.started_ms)
        self.statuses = statuses
        return self._row_records(changed, counts, now_ms) + self.note_records(notes)


class NationalStage:
    """The 000000 rows: the latest part of each (table, province), summed by `core.national_row`.

    Runs on the one worker that holds the single partition of `<root>.national-parts`. The parts
    live in a Faust table (changelog-backed), so a new owner rebuilds them after a rebalance or a
    crash. A national row is published only once every province of the reference data has a part
    for that table, so a consumer never sees a partial national row.
    """

    def __init__(self, config: HubConfig, names: TopicNames, note_records: Any) -> None:
        self.config = config
        self.names = names
        self.note_records = note_records
        self.parts: dict[tuple[str, str], Part] = {}
        self.published = PublishedTables()
        self.dirty: set[str] = set()
        self.active = False  # holds the parts partition
        self.needs_rebuild = False
        self.counts: collections.Counter[str] = collections.Counter()

    def rebuild(self, stored: list[tuple[bytes, bytes]]) -> list[Record]:
        """Parts from the stage's table; every complete national row is republished (without notifications)."""
        self.parts = {}
        self.published = PublishedTables()
        for _key, value in stored:
            self._take(value)
        self.needs_rebuild = False
        self.counts["rebuilds"] += 1
        rows = self._rows(set(REPORT_TABLES) | {"obligations"})
        changed, _notes = self.published.changes(rows, 0)
        return self._records(changed)

    def _take(self, value: bytes) -> tuple[str, str] | None:
        try:
            table, province, part = decode_part(value)
        except ValueError as exc:  # not from our aggregator: skip, loudly
            self.counts["skipped"] += 1
            log.error("skipping a national part: %s", exc)
            return None
        self.parts[(table, province)] = part
        self.dirty.add(table)
        return table, province

    def fold(self, values: list[bytes], write: Any, set_event: Any, events: list[Any], event_ms: int,
             ) -> list[Record]:
        """Take a batch of parts (latest per key wins), store them, publish the national rows that changed."""
        for value, event in zip(values, events, strict=True):
            set_event(event)
            where = self._take(value)
            if where is not None:
                write(part_key(*where), value)
        self.counts["parts"] += len(values)
        dirty, self.dirty = self.dirty, set()
        changed, notes = self.published.changes(self._rows(dirty), event_ms)
        return self._records(changed) + self.note_records(notes)

    def _rows(self, tables: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
        out = {}
        for table in sorted(tables):
            parts = [self.parts.get((table, p)) for p in self.config.provinces]
            if any(part is None for part in parts):
                continue  # not every province has reported its totals yet: no partial national row
            out[(table, NATIONAL)] = national_row(table, parts, self.config)  # type: ignore[arg-type]
        return out

    def _records(self, rows: dict) -> list[Record]:
        return [(self.names.national(table), province.encode(), encode_row(table, row), None)
                for (table, province), row in rows.items()]


def build_app(settings: WorkerSettings) -> Any:
    """The Faust app with its agents, timer and web views. Importing faust happens here, not at import."""
    import faust

    names = TopicNames(settings.topic_root)
    provinces = list(reference.provinces(settings.provinces_file))
    config = HubConfig(provinces=tuple(provinces), policy_items=tuple(reference.policy_items()))
    rules_path = settings.obligations_file or OBLIGATIONS_FILE
    rules = obligation_rules(rules_path.read_text(encoding="utf-8"))

    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="rocksdb://" if settings.store == "rocksdb" else "memory://",
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_enabled=True,
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_s,
        broker_commit_every=settings.batch_max * 4,
        stream_recovery_delay=0.2,
        stream_buffer_maxsize=max(4096, settings.batch_max * 2),
        broker_max_poll_records=settings.batch_max,
        producer_linger_ms=5,
        producer_max_batch_size=256 * 1024,
        consumer_max_fetch_size=4 * 1024 * 1024,
        # A topic missing from the metadata at a rebalance (just created, broker just started) is left
        # out of the assignment until the next metadata refresh rebalances: 30 s, not aiokafka's 5 min.
        consumer_metadata_max_age_ms=30_000,
        consumer_group_instance_id=f"{settings.app_id}-{settings.instance_id}",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=1.0,
    )
    validator = Validator(names, provinces, settings.partitions, config)
    aggregator = Aggregator(config, rules, names, settings.publish_interval_s, validator.partition_of)
    stage = NationalStage(config, names, aggregator.note_records)
    app.cshub = {"validator": validator, "aggregator": aggregator, "stage": stage,
                 "settings": settings}  # for tests and views

    raw = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state = app.Table("hub-state", partitions=settings.partitions, schema=raw, key_type=bytes, value_type=bytes,
                      recovery_buffer_size=10_000)  # bytes types: the table's own (de)serialisers are raw
    inbound = app.topic(*[names.inbound(p, k) for p in provinces for k in KINDS],
                        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    validated = app.topic(*[names.validated(k) for k in KINDS], key_type=bytes, value_type=bytes,
                          key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
    validated_topics = frozenset(names.validated(k) for k in KINDS)
    parts_topic = app.topic(names.national_parts, key_type=bytes, value_type=bytes, key_serializer="raw",
                            value_serializer="raw", partitions=1)
    parts_state = app.Table("national-parts", partitions=1, schema=raw, key_type=bytes, value_type=bytes)

    from faust.streams import _current_event

    def set_event(event: Any) -> None:
        """Point Faust's task-local current event at `event`: the state table writes to its partition.

        Only the context variable, never `Stream.current_event`: the stream's take buffer reads that
        attribute from another task, and changing it would put the wrong event in the next batch.
        """
        _current_event.set(weakref.ref(event) if event is not None else None)

    def write(key: str, value: bytes) -> None:
        state[key.encode()] = value

    def on_sent(future: Any) -> None:
        """A produced record that failed even after aiokafka's retries: stop hard, commit nothing more.

        Offsets are committed only after a producer flush (Faust's commit path), so exiting here
        before the next commit means the failed record's input is consumed again after restart.
        """
        if not future.cancelled() and future.exception() is not None:
            log.critical("producing failed: %r; exiting so that no offset past it is committed", future.exception())
            os._exit(70)

    async def send_all(records: list[tuple[str, bytes | None, bytes, int | None]], ts_ms: int | None = None) -> None:
        """Hand records to aiokafka without waiting for the broker: Faust flushes before it commits offsets."""
        producer = app.producer._ensure_producer()  # aiokafka's producer: exact ms timestamps, no extra buffer
        for topic, key, value, partition in records:
            future = await producer.send(topic, value, key=key, partition=partition, timestamp_ms=ts_ms)
            future.add_done_callback(on_sent)

    def write_part(key: bytes, value: bytes) -> None:
        parts_state[key] = value

    def recovered() -> bool:
        """Table recovery done. (Not `app.rebalancing`: measured here, it can stay set after a rebalance.)"""
        return not app.in_recovery and app.tables.recovery.completed.is_set()

    async def until_recovered() -> None:
        """Wait for table recovery: an agent can hold a batch taken before a rebalance, and rebuilding
        from a half-recovered table would publish (and keep folding onto) totals missing the provinces
        still being recovered."""
        while not recovered():
            await asyncio.sleep(0.05)

    async def maybe_rebuild() -> None:
        if aggregator.needs_rebuild:
            await until_recovered()
            stored = [(k.decode(), v) for k, v in state.items()]
            await send_all(aggregator.rebuild(stored, write))

    async def maybe_rebuild_stage() -> None:
        if stage.active and stage.needs_rebuild:
            await until_recovered()
            await send_all(stage.rebuild(list(parts_state.items())))

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        """Publish nothing until the new assignment is known and rebuilt: the provinces may move."""
        aggregator.ready = False
        aggregator.needs_rebuild = True
        aggregator.held = ()
        stage.active = False

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        aggregator.assign({tp.partition for tp in assigned if tp.topic in validated_topics})
        stage.active = any(tp.topic == names.national_parts for tp in assigned)
        stage.needs_rebuild = stage.active

    @app.agent(inbound, name="validate")
    async def validate(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            producer = app.producer._ensure_producer()
            for event in events:
                msg = event.message
                ts_ms = round(msg.timestamp * 1000)  # Faust gives seconds; Kafka has ms
                for topic, key, value, partition in validator.route(msg.topic, msg.partition, msg.offset, msg.key,
                                                                    msg.value, ts_ms):
                    future = await producer.send(topic, value, key=key, partition=partition, timestamp_ms=ts_ms)
                    future.add_done_callback(on_sent)

    @app.agent(validated, name="aggregate")
    async def aggregate(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            await maybe_rebuild()
            items = []
            for event in events:
                msg = event.message
                items.append((msg.topic, msg.partition, msg.offset, round(msg.timestamp * 1000), msg.value))
            out = aggregator.fold(items, set_event, events, time.monotonic())
            set_event(None)
            await send_all(out)

    @app.agent(parts_topic, name="national")
    async def national(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            await maybe_rebuild_stage()
            values = [event.message.value for event in events]
            event_ms = max(round(event.message.timestamp * 1000) for event in events)
            out = stage.fold(values, write_part, set_event, events, event_ms)
            set_event(None)
            await send_all(out)

    @app.timer(settings.deadline_interval_s)
    async def deadlines() -> None:
        if aggregator.needs_rebuild:
            if not recovered():
                return
            await maybe_rebuild()
        await send_all(aggregator.deadlines(int(time.time() * 1000)))

    @app.timer(settings.publish_interval_s)
    async def publish_pending_rows() -> None:
        if aggregator.ready and not aggregator.needs_rebuild:
            await send_all(aggregator.publish_rows(time.monotonic()))
        if stage.active and stage.needs_rebuild and recovered():
            await maybe_rebuild_stage()

    def shown_rows() -> dict[tuple[str, str], dict[str, Any]]:
        """What this worker publishes: its provinces' rows, and the national rows while it runs the stage."""
        return {**aggregator.published.rows, **(stage.published.rows if stage.active else {})}

    @app.page("/national/{table}")
    async def national_table(web: Any, request: Any, table: str) -> Any:
        if table not in TABLES:
            return web.json({"error": f"unknown table {table!r}; one of {list(TABLES)}"}, status=404)
        rows = {p: _json(r) for (t, p), r in sorted(shown_rows().items()) if t == table}
        return web.json(rows)

    @app.page("/national/{table}/{province}")
    async def national_row_view(web: Any, request: Any, table: str, province: str) -> Any:
        row = shown_rows().get((table, province))
        if row is None:
            return web.json({"error": f"no row for table {table!r} province {province!r}"}, status=404)
        return web.json(_json(row))

    @app.page("/notifications")
    async def notifications(web: Any, request: Any) -> Any:
        try:
            limit = max(0, min(1000, int(request.query.get("limit", "100"))))
        except ValueError:
            return web.json({"error": "limit must be an integer"}, status=400)
        recent = list(aggregator.recent)[-limit:] if limit else []
        return web.json([_json(n) for n in reversed(recent)])

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({
            "status": "ok", "ready": aggregator.ready, "validated": validator.counts["validated"],
            "rejected": validator.counts["rejected"], "applied": aggregator.counts["applied"],
            "skipped": aggregator.counts["skipped"], "rebuilds": aggregator.counts["rebuilds"],
            "provinces": list(aggregator.held), "national_stage": stage.active, "parts": stage.counts["parts"],
            "positions": {f"{t}:{p}": o for (t, p), o in sorted(aggregator.hub.positions.items())},
        })

    del validate, aggregate, national, deadlines, publish_pending_rows
    del national_table, national_row_view, notifications, health, on_assigned, on_revoked
    return app

"""The provincial publisher: validate a province's report rows, then send them to its own inbound topic.

Why it works this way:
- Every row is validated with the pydantic models (and the publisher's own province check) before it is
  sent; a bad row is reported by row number, column and rule, and never leaves the machine.
- Records go to `TopicNames(root).inbound(province, kind)`, keyed by report id, with acks="all" and the
  idempotent producer, so a report the broker acknowledged is durably in the log exactly once per send.
- Each row's acknowledgement is tracked: rows are appended to one record batch per partition (aiokafka's
  `create_batch`/`send_batch`, about 1 µs a record against kafka-python's 40 µs), and the broker's answer
  to a batch acknowledges, or fails, exactly the rows in it. When the broker goes away mid-file the result
  lists exactly which rows were acknowledged (as ranges of row numbers); re-running the whole file is safe
  because the hub keeps the latest revision per report id, so re-sent reports are harmless duplicates.
- aiokafka runs on its own event loop in a background thread, so the network overlaps with reading,
  validating and encoding the next rows in the caller's thread (the library API stays synchronous).
- The writer schema of each kind is published to the compacted `cshub.schemas` topic (key: the 8-byte
  CRC-64-AVRO fingerprint, as the worker writes it; value: the schema JSON), so a replay years later can
  decode every record.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiokafka.errors import KafkaError as AiokafkaError
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAuthorizationFailedError

from connectors.errors import BrokerUnreachable
from connectors.readers import EXAMPLE_ROW, ROW_ERROR, RowRecord, column_of
from connectors.validation import RowProblem, validate_record
from core.config import Targets
from core.contributions import contribution
from core.notify import anomaly_of
from core.signing import SigningKey
from schemas import codec, reference, registry
from schemas.credentials import check_login, refused
from schemas.display import show_value
from schemas.kafka_config import Target, aiokafka_config, connection, kafka_python_config
from schemas.kinds import SCHEMA_OF_KIND
from schemas.topics import Kind, TopicNames


def ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Compress row numbers into sorted inclusive ranges: {2,3,4,7} -> [(2, 4), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def format_ranges(spans: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans) or "none"


@dataclass
class PublishResult:
    """What happened to every row of one file."""

    province: str
    kind: Kind
    topic: str
    rows: int = 0
    sent: int = 0
    acknowledged_rows: set[int] = field(default_factory=set)
    rejected: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    error: str | None = None
    coordinates: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    """Where each acknowledged row landed: (topic, partition, offset), to wait for its receipt."""

    @property
    def acknowledged(self) -> int:
        return len(self.acknowledged_rows)

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.rejected})

    @property
    def complete(self) -> bool:
        """True when every valid row was acknowledged by the broker."""
        return self.error is None and not self.failed and self.acknowledged == self.sent

    def acknowledged_ranges(self) -> list[tuple[int, int]]:
        return ranges(self.acknowledged_rows)


def validate_row(kind: Kind, province: str, row: int, record: dict[str, Any], *,
                 provinces: Collection[str] | None = None) -> tuple[dict[str, Any] | None, list[RowProblem]]:
    """(Avro-ready record, []) when the row may be sent by `province`'s publisher, else (None, problems).

    The real mistake first: a row about another province is about its province, not about the county and
    community codes that, judged against that province, look wrong too. `provinces`: the reference list, looked
    up once per file by the caller (default: `reference.provinces()` for this row)."""
    if ROW_ERROR in record:
        why = str(record[ROW_ERROR])
        return None, [RowProblem(row, "(row)", "", "example_row" if why == EXAMPLE_ROW else "unreadable", why)]
    avro, problems = validate_record(kind, record, row, lambda loc: column_of(kind, loc, record), provinces=provinces)
    typed = record.get("province")
    if typed is None or str(typed).strip() == province:
        return avro, problems
    known = reference.provinces()
    mine = known.get(province)
    here = f"{province} {mine.name_zh}" if mine else province
    theirs = known.get(str(typed).strip())
    if theirs is None:
        first = RowProblem(row, "province", typed, "bad_province_code",
                           f"is not a province code; this file is published for {here}: write {province} here")
    else:
        first = RowProblem(row, "province", typed, "not_own_province",
                           f"this row is about {theirs.code} {theirs.name_zh}, but this file is published for"
                           f" {here}, and a province reports about itself only: correct the province code, or"
                           f" leave the row to {theirs.name_zh}")
    consequences = {"province", *JUDGED_BY_PROVINCE}
    return None, [first, *(p for p in problems if p.column not in consequences)]


JUDGED_BY_PROVINCE = ("county_code", "community_code")
"""Columns whose rule depends on the row's province: their problems follow from a wrong province."""

MAX_RECORD_BYTES = 256 * 1024
"""The largest encoded report a row may become (half a record batch, so the batch's own overhead and the
record's headers always fit): a row beyond it is refused by `--check` as it would be by a send."""


@dataclass(slots=True)
class PreparedRow:
    """One file row made ready to send, or not: the same steps for `--check`, a send and the upload page.

    `value` is the encoded record (None: the row is not sent, `problems` say why); `warnings` are things the
    hub accepts but will flag to the ministries (more disbursed than allocated), shown before anything is sent.
    """

    row: int
    report: dict[str, Any] | None
    key: bytes | None
    value: bytes | None
    problems: list[RowProblem]
    warnings: list[RowProblem]


_STANDARD_CENTI = int(Targets().floor_area_per_100_households.value * 100)
"""The worker's default area standard (30 m² per 100 households), in hundredths of m²."""


def prepare_row(kind: Kind, province: str, row: int, record: dict[str, Any], *,
                provinces: Collection[str] | None = None) -> PreparedRow:
    """Validate, encode and size-check one row exactly as a send does; note what the hub will flag.

    `provinces`: the reference list (`reference.provinces()`), looked up once per file by the caller."""
    avro, problems = validate_row(kind, province, row, record, provinces=provinces)
    if avro is None:
        return PreparedRow(row, None, None, None, problems, [])
    try:
        value = codec.encode(SCHEMA_OF_KIND[kind], avro)
    except ValueError as exc:
        why = exc.args[0] if exc.args else str(exc)
        return PreparedRow(row, None, None, None, [RowProblem(
            row, "(row)", "", "encode_failed", f"cannot be written in the report format: {why}")], [])
    if len(value) > MAX_RECORD_BYTES:
        texts = [(k, v) for k, v in avro.items() if isinstance(v, str)]
        texts += [(f"{i.get('code')}.evidence", i.get("evidence_ref") or "") for i in avro.get("items") or ()]
        column, text = max(texts, key=lambda pair: len(pair[1]))
        return PreparedRow(row, None, None, None, [RowProblem(
            row, column, "", "too_large",
            f"the report would be {len(value):,} bytes, more than the {MAX_RECORD_BYTES:,} a report may have:"
            f" this text is {len(text):,} characters long; shorten it")], [])
    return PreparedRow(row, avro, str(avro["report_id"]).encode("utf-8"), value, problems,
                       row_warnings(kind, row, avro))


def row_warnings(kind: Kind, row: int, avro: dict[str, Any]) -> list[RowProblem]:
    """What the hub accepts but flags to the ministries (the worker's own anomaly rule, `core.notify`)."""
    if avro.get("withdrawn") or kind == "policy":
        return []
    if anomaly_of(kind, contribution(kind, avro), _STANDARD_CENTI) is None:
        return []
    if kind == "funding":
        allocated = show_value("allocated_yuan", avro["allocated_yuan"])
        return [RowProblem(row, "disbursed_yuan", avro["disbursed_yuan"], "disbursed_exceeds_allocated",
                           f"is more than allocated_yuan ({allocated}): the hub accepts the report and notifies"
                           " the ministries of an anomaly; check both amounts")]
    households = int(avro["households"])
    needed = Decimal(_STANDARD_CENTI * households).scaleb(-4).quantize(Decimal("0.01"))
    return [RowProblem(row, "floor_area_m2", avro["floor_area_m2"], "area_below_standard",
                       f"is below the standard of {_STANDARD_CENTI / 100:g} m² per 100 households"
                       f" ({show_value('floor_area_m2', needed)} for {households:,} households) for a"
                       f" {avro['status']} facility: the hub accepts the report and notifies the ministries;"
                       " check the area")]


def check_rows(kind: Kind, province: str, rows: Iterable[RowRecord]) -> Iterator[PreparedRow]:
    """Every row prepared exactly as a send prepares it, without sending anything."""
    known = reference.provinces()
    for row, record in rows:
        yield prepare_row(kind, province, row, record, provinces=known)


MAX_BATCH_BYTES = 512 * 1024
"""Bytes of one record batch (about 1,700 facility rows): big batches are what makes the send path cheap."""
LINGER_S = 1.0
"""A batch is handed over once it is full or this old, so a slow file (an .xlsx) still goes out steadily. Not
shorter: each hand-over costs a round trip to the producer's thread and a produce request, and on a busy
machine 50 ms made batches of ten rows (260 µs of CPU a row instead of a few)."""


class _Stopped(Exception):
    """The broker did not take the record of `row` (nor, so, anything after it)."""

    def __init__(self, row: int, cause: str) -> None:
        super().__init__(cause)
        self.row = row
        self.cause = cause


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _AiokafkaLink:
    """One idempotent aiokafka producer (acks=all) running on its own event loop in a background thread."""

    def __init__(self, bootstrap: Target, client_id: str, delivery_timeout_ms: int) -> None:
        self.request_timeout_ms = min(30_000, max(1_000, delivery_timeout_ms // 2))
        self.producer: Any = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"{client_id}-io", daemon=True)
        self.thread.start()
        try:
            self.producer = self.call(self._start(bootstrap, client_id), delivery_timeout_ms / 1000 + 5)
        except BaseException:
            self.shutdown(1.0)
            raise

    async def _start(self, bootstrap: Target, client_id: str) -> Any:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(**aiokafka_config(
            bootstrap, client_id=client_id, acks="all", enable_idempotence=True, linger_ms=20,
            max_batch_size=MAX_BATCH_BYTES, max_request_size=2 * MAX_BATCH_BYTES,
            request_timeout_ms=self.request_timeout_ms, retry_backoff_ms=200))
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    def call(self, coro: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
        """Run `coro` on the link's loop and wait for its result (TimeoutError after `timeout_s`)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def shutdown(self, timeout_s: float) -> None:
        """Flush for up to `timeout_s`, then stop the producer and the loop whatever is still in flight."""
        if self.loop.is_closed():
            return

        async def stop() -> None:
            if self.producer is not None:
                with contextlib.suppress(TimeoutError, OSError, AiokafkaError):
                    await asyncio.wait_for(self.producer.stop(), timeout_s)
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        with contextlib.suppress(TimeoutError, OSError, AiokafkaError):
            self.call(stop(), timeout_s + 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class _Batches:
    """One file's rows on their way through an `_AiokafkaLink`: one open batch per partition, and which rows
    each batch carries, so the broker's answer to a batch acknowledges (or fails) exactly those rows."""

    def __init__(self, link: _AiokafkaLink, result: PublishResult) -> None:
        from aiokafka.partitioner import DefaultPartitioner

        self.link = link
        self.result = result
        self.lock = threading.Lock()  # answers arrive on the link's thread
        self.open: dict[tuple[str, int], tuple[Any, list[int], float]] = {}
        self.deliveries: list[asyncio.Future[Any]] = []  # touched on the link's thread only
        self.failure: str | None = None
        self.partitions: dict[str, list[int]] = {}
        self.partitioner = DefaultPartitioner()  # murmur2 of the key, as the Java and kafka-python clients

    def send(self, topic: str, key: bytes, value: bytes, row: int, timestamp_ms: int | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        if self.failure is not None:
            raise _Stopped(row, self.failure)
        parts = self.partitions.get(topic) or self._partitions_of(topic, row)
        partition = parts[0] if len(parts) == 1 else self.partitioner(key, parts, parts)
        tp = (topic, partition)
        entry = self.open.get(tp)
        if entry is None:
            entry = self.open[tp] = (self.link.producer.create_batch(), [], time.monotonic())
        extra = headers or []
        if entry[0].append(key=key, value=value, timestamp=timestamp_ms, headers=extra) is None:  # full: start anew
            self._hand_over(tp)
            entry = self.open[tp] = (self.link.producer.create_batch(), [], time.monotonic())
            if entry[0].append(key=key, value=value, timestamp=timestamp_ms, headers=extra) is None:
                raise _Stopped(row, f"the record is larger than a whole batch ({MAX_BATCH_BYTES} bytes)")
        entry[1].append(row)
        if time.monotonic() - entry[2] >= LINGER_S:
            self._hand_over(tp)

    def _partitions_of(self, topic: str, row: int) -> list[int]:
        try:
            found = self.link.call(self.link.producer.partitions_for(topic), self.link.request_timeout_ms / 1000 + 5)
        except (TimeoutError, AiokafkaError) as exc:
            raise _Stopped(row, f"no metadata for {topic}: {_why(exc)}") from exc
        self.partitions[topic] = sorted(found)
        return self.partitions[topic]

    def _hand_over(self, tp: tuple[str, int]) -> None:
        """Give the open batch of `tp` to the producer (waits while that partition's previous batch is queued)."""
        batch, rows, _ = self.open.pop(tp)
        if not rows:
            return
        try:
            self.link.call(self._queue(batch, tp, rows), self.link.request_timeout_ms / 1000 + 5)
        except (TimeoutError, AiokafkaError) as exc:
            raise _Stopped(rows[0], _why(exc)) from exc
        self.result.sent += len(rows)

    async def _queue(self, batch: Any, tp: tuple[str, int], rows: list[int]) -> None:
        delivery = await self.link.producer.send_batch(batch, tp[0], partition=tp[1])
        delivery.add_done_callback(lambda answer: self._answered(rows, answer))
        self.deliveries.append(delivery)

    def _answered(self, rows: list[int], answer: asyncio.Future[Any]) -> None:
        error = "cancelled" if answer.cancelled() else answer.exception()
        with self.lock:
            if error is None:
                self.result.acknowledged_rows.update(rows)
                meta = answer.result()  # the batch's base offset: its rows follow in order
                for i, row in enumerate(rows):
                    self.result.coordinates[row] = (meta.topic, meta.partition, meta.offset + i)
                return
            why = error if isinstance(error, str) else _why(error)
            for row in rows:
                self.result.failed[row] = why
            self.failure = self.failure or why

    def finish(self, timeout_s: float) -> str | None:
        """Hand over what is still open and wait up to `timeout_s` for every answer; an error text, or None."""
        error = None
        if self.failure is None:
            for tp in list(self.open):
                try:
                    self._hand_over(tp)
                except _Stopped as exc:
                    error = stopped(exc)
                    break
        self.open.clear()

        async def answers() -> bool:
            if self.deliveries:
                _done, pending = await asyncio.wait(list(self.deliveries), timeout=timeout_s)
                return not pending
            return True

        try:
            answered = self.link.call(answers(), timeout_s + 5)
        except TimeoutError:
            answered = False
        if not answered:
            error = error or f"the broker did not acknowledge every record in time (waited {timeout_s:.0f} s)"
        return error


class _Records:
    """One file's rows through an injected kafka-python producer (one future per record), e.g. the demo's."""

    def __init__(self, producer: KafkaProducer, result: PublishResult) -> None:
        self.producer = producer
        self.result = result
        self.lock = threading.Lock()  # callbacks run on the producer's I/O thread

    def send(self, topic: str, key: bytes, value: bytes, row: int, timestamp_ms: int | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        try:
            future = self.producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms, headers=headers)
        except KafkaError as exc:
            raise _Stopped(row, str(exc)) from exc
        self.result.sent += 1
        future.add_callback(self._ok(row))
        future.add_errback(self._failed(row))

    def _ok(self, row: int) -> Callable[[Any], None]:
        def done(metadata: Any) -> None:
            with self.lock:
                self.result.acknowledged_rows.add(row)
                self.result.coordinates[row] = (metadata.topic, metadata.partition, metadata.offset)
        return done

    def _failed(self, row: int) -> Callable[[Exception], None]:
        def done(exc: Exception) -> None:
            with self.lock:
                self.result.failed[row] = _why(exc)
        return done

    def finish(self, timeout_s: float) -> str | None:
        try:
            # Bounded: with the broker gone, kafka-python may never expire in-flight batches on its own.
            self.producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            return f"the broker did not acknowledge every record in time ({exc})"
        return None


def stopped(exc: _Stopped) -> str:
    return (f"stopped at row {exc.row}: the broker did not take the record ({exc.cause});"
            " rows from here on were not sent")


class Publisher:
    """Publishes one province's reports. Use as a context manager, or call `close()`.

    Args:
        bootstrap: the cluster (`schemas.kafka_config`: a KafkaConnection, or bootstrap servers).
        province: the publisher's own province code; rows about another province are refused locally.
        names: topic names (root `cshub` in production).
        delivery_timeout_ms: how long a record may wait for its acknowledgement before the send counts
            as failed (the broker is gone); a re-run is then needed.
        producer: an already configured kafka-python KafkaProducer shared with other code (the demo); rows
            then go record by record through it (slower), else the publisher opens its own aiokafka producer.
        signing_key: the province's Ed25519 key (`SigningKey.load(settings.signing_key_path(province))`): every
            record then carries its submission signature headers (docs/evidence.md); None sends unsigned records,
            which a hub that requires signatures rejects.
    """

    def __init__(self, bootstrap: Target, province: str, *, names: TopicNames | None = None,
                 delivery_timeout_ms: int = 60_000, producer: KafkaProducer | None = None,
                 signing_key: SigningKey | None = None) -> None:
        self.province = province
        self.signing_key = signing_key
        self.names = names or TopicNames()
        self._conn = connection(bootstrap)
        self._schemas_sent: set[str] = set()
        self._flush_timeout_s = delivery_timeout_ms / 1000 + 5.0
        self._producer = producer
        self._link: _AiokafkaLink | None = None
        if producer is not None:
            return
        check_login(self._conn.bootstrap, self._conn.credentials())  # a wrong password: one line at once, exit 77
        try:
            self._link = _AiokafkaLink(bootstrap, f"cshub-publisher-{province}", delivery_timeout_ms)
        except (AiokafkaError, OSError, TimeoutError) as exc:
            # a refused login, or a principal that may write no topic (its idempotent producer's InitProducerId
            # is refused): one line, exit 77, not "unreachable"
            self._refusal(exc, self.names.inbound(province, "facility").rsplit(".", 1)[0] + ".*")
            raise BrokerUnreachable(bootstrap, f"{_why(exc)}; nothing was sent") from exc

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Close the producer; records still unacknowledged after `timeout_s` are abandoned (see the result)."""
        if self._link is not None:
            self._link.shutdown(timeout_s)
            return
        assert self._producer is not None
        try:
            self._producer.close(timeout=timeout_s)
        except KafkaTimeoutError:
            # kafka-python 3.0.12: close() re-raises flush()'s timeout before it force-closes the sender
            # thread, and would raise again from __del__; finish the close the way close() would have.
            sender = getattr(self._producer, "_sender", None)
            if sender is not None:
                sender.force_close()
                sender.join(timeout_s)
            self._producer._closed = True

    def publish_schema(self, kind: Kind, timeout_s: float = 30.0) -> None:
        """Send the writer schema of `kind` to the compacted schemas topic (once per publisher)."""
        sv = registry.latest(SCHEMA_OF_KIND[kind])
        if sv.fingerprint_hex in self._schemas_sent:
            return
        # Its own short-lived, non-idempotent producer: a province may read the schema history but not write it
        # (the worker writes every schema it decodes), and a refused batch would leave the idempotent producer
        # of the reports in a fatal state.
        producer = self._producer if self._producer is not None else KafkaProducer(**kafka_python_config(
            self._conn, client_id=f"cshub-publisher-{self.province}-schemas", acks="all", enable_idempotence=False,
            request_timeout_ms=min(30_000, int(timeout_s * 1000)), max_block_ms=int(timeout_s * 1000)))
        try:
            future = producer.send(self.names.schemas, key=sv.fingerprint, value=sv.schema_json.encode("utf-8"))
            future.get(timeout=timeout_s)
        except TopicAuthorizationFailedError:
            pass
        finally:
            if producer is not self._producer:
                producer.close(timeout=5)
        self._schemas_sent.add(sv.fingerprint_hex)

    def _refusal(self, exc: BaseException, topic: str) -> None:
        """Raise AccessRefused (one line, exit 77) when the broker refused this principal, else return."""
        denial = refused(exc, self._conn.principal, self._conn.bootstrap, f"write to {topic}")
        if denial is not None:
            raise denial from None

    def publish(self, kind: Kind, rows: Iterable[RowRecord], *,
                on_row: Callable[[int], None] | None = None, flush_timeout_s: float | None = None,
                timestamp_ms: int | None = None) -> PublishResult:
        """Validate and send every row; wait for every acknowledgement; never raise on broker loss.

        `on_row(row_number)` is called after each row is handled (progress bars). `timestamp_ms` sets the
        records' Kafka timestamp (default: now); the demo uses it to replay months of reporting at the
        moments a province would have sent them.
        """
        topic = self.names.inbound(self.province, kind)
        result = PublishResult(self.province, kind, topic)
        try:
            self.publish_schema(kind)
        except (KafkaError, AiokafkaError, TimeoutError) as exc:
            self._refusal(exc, self.names.schemas)
            result.error = (f"could not publish the writer schema to {self.names.schemas}: {_why(exc)};"
                            " nothing was sent")
            return result
        sender: _Batches | _Records = (_Batches(self._link, result) if self._link is not None
                                       else _Records(self._producer, result))  # type: ignore[arg-type]
        known = reference.provinces()
        for row, record in rows:
            result.rows += 1
            prepared = prepare_row(kind, self.province, row, record, provinces=known)
            result.warnings.extend(prepared.warnings)
            if prepared.value is None or prepared.key is None:
                result.rejected.extend(prepared.problems)
            else:
                try:
                    signature = (self.signing_key.sign(topic, prepared.key, prepared.value)
                                 if self.signing_key is not None else None)
                    sender.send(topic, prepared.key, prepared.value, row, timestamp_ms, signature)
                except _Stopped as exc:
                    self._refusal(exc, topic)  # refused by the broker: one line, exit 77
                    result.error = stopped(exc)
                    break
            if on_row is not None:
                on_row(row)
        error = sender.finish(flush_timeout_s or self._flush_timeout_s)
        result.error = result.error or error
        denied = next((msg for msg in result.failed.values() if "AuthorizationFailed" in msg), None)
        if denied is not None:  # a refusal, not a lost broker: nothing of it was written
            self._refusal(RuntimeError(denied), topic)
        return result

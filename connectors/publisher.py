"""The provincial publisher: validate a province's report rows, then send them to its own inbound topic.

Why it works this way:
- Every row is validated with the pydantic models (and the publisher's own province check) before it is
  sent; a bad row is reported by row number, column and rule, and never leaves the machine.
- Records go to `TopicNames(root).inbound(province, kind)`, keyed by report id, with acks="all" and the
  idempotent producer, so a report the broker acknowledged is durably in the log exactly once per send.
- Each row's acknowledgement is tracked through its future. When the broker goes away mid-file the result
  lists exactly which rows were acknowledged (as ranges of row numbers); re-running the whole file is safe
  because the hub keeps the latest revision per report id, so re-sent reports are harmless duplicates.
- The writer schema of each kind is published to the compacted `cshub.schemas` topic (key: the 8-byte
  CRC-64-AVRO fingerprint, as the worker writes it; value: the schema JSON), so a replay years later can
  decode every record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAuthorizationFailedError

from connectors.errors import BrokerUnreachable
from connectors.readers import ROW_ERROR, RowRecord, column_of
from connectors.validation import RowProblem, validate_record
from schemas import codec, registry
from schemas.credentials import refused
from schemas.kafka_config import Target, connection, kafka_python_config
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
    failed: dict[int, str] = field(default_factory=dict)
    error: str | None = None

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


def validate_row(kind: Kind, province: str, row: int, record: dict[str, Any]) -> tuple[dict[str, Any] | None,
                                                                                 list[RowProblem]]:
    """(Avro-ready record, []) when the row may be sent by `province`'s publisher, else (None, problems)."""
    if ROW_ERROR in record:
        return None, [RowProblem(row, "(row)", "", "unreadable", str(record[ROW_ERROR]))]
    avro, problems = validate_record(kind, record, row, lambda loc: column_of(kind, loc, record))
    if avro is not None and avro.get("province") != province:
        problems.append(RowProblem(
            row, "province", avro.get("province"), "not_own_province",
            f"this publisher sends for province {province} only; a province reports about itself"))
        avro = None
    return avro, problems


def check_rows(kind: Kind, province: str, rows: Iterable[RowRecord]) -> Iterator[tuple[int, dict[str, Any] | None,
                                                                                      list[RowProblem]]]:
    """Validate rows without sending anything: yields (row, Avro-ready record or None, problems)."""
    for row, record in rows:
        yield row, *validate_row(kind, province, row, record)


class _AckTracker:
    """Collects future callbacks (they run on the producer's I/O thread)."""

    def __init__(self, result: PublishResult) -> None:
        self._result = result
        self._lock = threading.Lock()

    def ok(self, row: int) -> Callable[[Any], None]:
        def done(_metadata: Any) -> None:
            with self._lock:
                self._result.acknowledged_rows.add(row)
        return done

    def failed(self, row: int) -> Callable[[Exception], None]:
        def done(exc: Exception) -> None:
            with self._lock:
                self._result.failed[row] = f"{type(exc).__name__}: {exc}"
        return done


class Publisher:
    """Publishes one province's reports. Use as a context manager, or call `close()`.

    Args:
        bootstrap: the cluster (`schemas.kafka_config`: a KafkaConnection, or bootstrap servers).
        province: the publisher's own province code; rows about another province are refused locally.
        names: topic names (root `cshub` in production).
        delivery_timeout_ms: how long a record may wait for its acknowledgement before the send counts
            as failed (the broker is gone); a re-run is then needed.
        producer: an already configured KafkaProducer (tests and benchmarks), else one is built here.
    """

    def __init__(self, bootstrap: Target, province: str, *, names: TopicNames | None = None,
                 delivery_timeout_ms: int = 60_000, producer: KafkaProducer | None = None) -> None:
        self.province = province
        self.names = names or TopicNames()
        self._conn = connection(bootstrap)
        self._schemas_sent: set[str] = set()
        self._flush_timeout_s = delivery_timeout_ms / 1000 + 5.0
        self._injected = producer is not None
        if producer is not None:
            self._producer = producer
            return
        request_timeout_ms = min(30_000, max(1_000, delivery_timeout_ms // 2))
        try:
            self._producer = KafkaProducer(**kafka_python_config(
                bootstrap, client_id=f"cshub-publisher-{province}", acks="all",
                enable_idempotence=True, linger_ms=20, batch_size=256 * 1024, compression_type=None,
                request_timeout_ms=request_timeout_ms, delivery_timeout_ms=delivery_timeout_ms,
                max_block_ms=delivery_timeout_ms, retry_backoff_ms=200,
            ))
        except (KafkaError, OSError) as exc:
            raise BrokerUnreachable(bootstrap, f"{exc}; nothing was sent") from exc

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Close the producer; records still unacknowledged after `timeout_s` are abandoned (see the result)."""
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
        producer = self._producer if self._injected else KafkaProducer(**kafka_python_config(
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
        tracker = _AckTracker(result)
        try:
            self.publish_schema(kind)
        except KafkaError as exc:
            self._refusal(exc, self.names.schemas)
            result.error = f"could not publish the writer schema to {self.names.schemas}: {exc}; nothing was sent"
            return result
        name = SCHEMA_OF_KIND[kind]
        for row, record in rows:
            result.rows += 1
            avro, problems = validate_row(kind, self.province, row, record)
            if avro is None:
                result.rejected.extend(problems)
            else:
                try:
                    value = codec.encode(name, avro)
                except ValueError as exc:
                    result.rejected.append(RowProblem(row, "(row)", "", "encode_failed", str(exc)))
                else:
                    try:
                        future = self._producer.send(topic, key=str(avro["report_id"]).encode("utf-8"), value=value,
                                                     timestamp_ms=timestamp_ms)
                    except KafkaError as exc:
                        self._refusal(exc, topic)
                        result.error = (f"stopped at row {row}: the broker did not take the record ({exc});"
                                        " rows from here on were not sent")
                        break
                    result.sent += 1
                    future.add_callback(tracker.ok(row))
                    future.add_errback(tracker.failed(row))
            if on_row is not None:
                on_row(row)
        try:
            # Bounded: with the broker gone, kafka-python may never expire in-flight batches on its own.
            self._producer.flush(timeout=flush_timeout_s or self._flush_timeout_s)
        except KafkaError as exc:
            result.error = result.error or f"the broker did not acknowledge every record in time ({exc})"
        denied = next((msg for msg in result.failed.values() if "AuthorizationFailed" in msg), None)
        if denied is not None:  # a refusal, not a lost broker: nothing of it was written
            self._refusal(RuntimeError(denied), topic)
        return result

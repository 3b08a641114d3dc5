"""The ministry subscriber: the national tables and the notifications as typed Python objects.

A national table is a compacted topic keyed by province code: reading it from the beginning to its end
and keeping the latest row per key gives the current table, whatever compaction has or has not removed
yet. `follow_table` then yields every later change. Reading uses manual assignment and no consumer group,
so a ministry service never commits offsets, never writes, and never disturbs the hub.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer

from connectors.errors import ConnectorError
from connectors.kafka_io import load_schema_history, make_consumer, partitions_of, read_to_end
from schemas import codec
from schemas.errors import CodecError
from schemas.kafka_config import Target
from schemas.topics import NATIONAL_CODE, TABLES, TopicNames


def _province_name(code: str) -> str:
    if code == NATIONAL_CODE:
        return "全国"
    from schemas.reference import provinces

    found = provinces().get(code)
    return found.name_zh if found else ""


@dataclass(frozen=True, slots=True)
class TableRow:
    """One province's row of one national table (the national row has province 000000).

    `values` is the decoded Avro row (money as Decimal); `targets` maps each target-bearing field
    to True (met) or False (at risk); `offset`/`timestamp_ms` say where the row is in its topic.
    """

    table: str
    province: str
    values: dict[str, Any]
    offset: int
    timestamp_ms: int

    @property
    def is_national(self) -> bool:
        return self.province == NATIONAL_CODE

    @property
    def province_name(self) -> str:
        return _province_name(self.province)

    @property
    def targets(self) -> dict[str, bool]:
        return {name[: -len("_met")]: bool(value) for name, value in self.values.items()
                if name.endswith("_met") and isinstance(value, bool)}


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification to ministries: `values` is the decoded Avro notification."""

    province: str
    values: dict[str, Any]
    offset: int
    partition: int
    timestamp_ms: int

    @property
    def province_name(self) -> str:
        return _province_name(self.province)

    @property
    def kind(self) -> str:
        return str(self.values.get("kind") or self.values.get("type") or "")


def _decode(topic: str, rec: Any) -> dict[str, Any]:
    try:
        return codec.decode(rec.value).value
    except CodecError as exc:
        raise ConnectorError(f"{topic} partition {rec.partition} offset {rec.offset}: cannot decode the row:"
                             f" {exc}") from exc


def _key(rec: Any) -> str:
    return rec.key.decode("utf-8") if isinstance(rec.key, bytes) else str(rec.key)


def sort_rows(rows: list[TableRow]) -> list[TableRow]:
    """National row first, then by province code."""
    return sorted(rows, key=lambda r: (not r.is_national, r.province))


class Subscriber:
    """Reads national tables and notifications. Use as a context manager, or call `close()`."""

    def __init__(self, bootstrap: Target, *, names: TopicNames | None = None,
                 consumer_factory: Callable[[], KafkaConsumer] | None = None) -> None:
        self.bootstrap = bootstrap
        self.names = names or TopicNames()
        self._factory = consumer_factory or (lambda: make_consumer(bootstrap, client_id="cshub-subscriber"))
        self._schemas_loaded = False

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing long-lived is held; consumers are closed after each read."""

    def _ensure_schemas(self) -> None:
        if not self._schemas_loaded:
            load_schema_history(self.bootstrap, self.names.schemas)
            self._schemas_loaded = True

    def _row(self, table: str, rec: Any) -> TableRow | None:
        if rec.value is None:
            return None
        return TableRow(table, _key(rec), _decode(rec.topic, rec), rec.offset, rec.timestamp)

    def table(self, table: str) -> list[TableRow]:
        """The current table: latest row per province, national row first, then by code."""
        return sort_rows(list(self._snapshot(table)[0].values()))

    def _snapshot(self, table: str, consumer: KafkaConsumer | None = None) -> tuple[dict[str, TableRow], Any]:
        if table not in TABLES:
            raise ConnectorError(f"no national table {table!r}; the tables are {', '.join(TABLES)}")
        self._ensure_schemas()
        own = consumer is None
        consumer = consumer or self._factory()
        try:
            topic = self.names.national(table)
            rows: dict[str, TableRow] = {}
            for rec in read_to_end(consumer, partitions_of(consumer, topic)):
                row = self._row(table, rec)
                if row is None:
                    rows.pop(_key(rec), None)
                else:
                    rows[row.province] = row
            return rows, consumer
        finally:
            if own:
                consumer.close()

    def follow_table(self, table: str, *, stop: Callable[[], bool] = lambda: False, poll_ms: int = 500,
                     on_snapshot: Callable[[list[TableRow]], None] | None = None) -> Iterator[TableRow]:
        """The current rows, then each changed row as it is published, until `stop()` is true.

        With `on_snapshot`, the current rows are handed to it (sorted) once and only changes are yielded;
        without it they are yielded first.
        """
        consumer = self._factory()
        try:
            rows, _ = self._snapshot(table, consumer)
            if on_snapshot is not None:
                on_snapshot(sort_rows(list(rows.values())))
            else:
                yield from sort_rows(list(rows.values()))
            consumer.resume(*consumer.assignment())
            while not stop():
                for records in consumer.poll(timeout_ms=poll_ms).values():
                    for rec in records:
                        row = self._row(table, rec)
                        if row is not None:
                            yield row
        finally:
            consumer.close()

    def notifications(self, *, follow: bool = False, stop: Callable[[], bool] = lambda: False,
                      poll_ms: int = 500) -> Iterator[Notification]:
        """Every notification from the beginning, in offset order per partition; then new ones if `follow`."""
        self._ensure_schemas()
        consumer = self._factory()
        topic = self.names.notifications
        try:
            for rec in read_to_end(consumer, partitions_of(consumer, topic)):
                if rec.value is not None:
                    yield Notification(_key(rec), _decode(topic, rec), rec.offset, rec.partition, rec.timestamp)
            if not follow:
                return
            consumer.resume(*consumer.assignment())
            while not stop():
                for records in consumer.poll(timeout_ms=poll_ms).values():
                    for rec in records:
                        if rec.value is not None:
                            yield Notification(_key(rec), _decode(topic, rec), rec.offset, rec.partition,
                                               rec.timestamp)
        finally:
            consumer.close()


def wait_for_rows(sub: Subscriber, table: str, predicate: Callable[[list[TableRow]], bool],
                  timeout_s: float = 60.0) -> list[TableRow]:
    """Re-read `table` until `predicate(rows)` holds (tests, scripts); ConnectorError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = sub.table(table)
        if predicate(rows):
            return rows
        if time.monotonic() >= deadline:
            raise ConnectorError(f"table {table} did not reach the expected state within {timeout_s:.0f} s")
        time.sleep(0.5)

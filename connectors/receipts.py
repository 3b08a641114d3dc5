"""Read a province's hub-signed receipts: list them, verify them, follow them, wait for some.

The stable API other parts call (`cshub feedback`, `cshub publish --wait`, the gateway's upload page):

- `read_receipts(target, province, ...)` yields every `Receipt` on `<root>.receipts.<province>` (optionally
  since a moment, optionally following new ones), each verified against the hub's public keys when given;
- `wait_for_receipts(target, province, coordinates, timeout_s=..., ...)` returns, within a bounded time, the
  receipt of each given sent record (topic, partition, offset) and the coordinates still unanswered;
- `Receipt.outcome` says it in words, `Receipt.as_json()` as plain data for a page. For the rows of a file just
  sent, `connectors.outcomes.wait_for_rows(target, publish_result, ...)` pairs each row with its receipt
  (`PublishResult.coordinates`).

Reading needs only the province's own principal (READ on its receipts topic, nothing else) and, to verify, the
public-keys file with the hub's `hub-notary` key. Records are read `read_committed`: only whole transactions of
the log service. Synchronous (kafka-python); an asyncio caller runs it in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kafka import TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from connectors.errors import ConnectorError
from connectors.kafka_io import make_consumer
from core.log_entries import InboundEntry
from core.receipts import ReceiptError, open_receipts
from core.receipts import read_receipts as read_batch
from core.signing import HEADER_KID, PublicKeys
from schemas.beijing import show_ms
from schemas.credentials import refused
from schemas.kafka_config import KafkaConnection, Target, connection
from schemas.principals import province_principal
from schemas.topics import TopicNames

__all__ = ["Coordinate", "Receipt", "ReceiptWait", "read_receipts", "wait_for_receipts"]

Coordinate = tuple[str, int, int]
"""Where a sent record is: (topic, partition, offset)."""
SINCE_MARGIN_MS = 60_000
"""`since_ms` is moved back this much: the notary's clock and the sender's may differ a little."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The hub's answer to one record a province sent: the log entry, and whether its signature verified.

    `verified` is True (the batch's hub signature verified), False (it did not: `problem` says why; the content
    must not be trusted) or None (not checked: no public keys given).
    """

    entry: InboundEntry
    issued_ms: int
    """When the hub signed it (epoch ms)."""
    record_offset: int
    """Offset of the signed batch in the receipts topic."""
    kid: str
    verified: bool | None
    problem: str = ""

    @property
    def coordinate(self) -> Coordinate:
        return (self.entry.topic, self.entry.partition, self.entry.offset)

    def as_json(self) -> dict[str, object]:
        """The receipt for a web page or a program (JSON-safe; times in Beijing time and epoch ms)."""
        e = self.entry
        return {"topic": e.topic, "partition": e.partition, "offset": e.offset, "received_ms": e.timestamp_ms,
                "received": show_ms(e.timestamp_ms), "report_id": e.report_id, "revision": e.revision,
                "verdict": e.verdict, "late": e.late, "reason": e.reason, "message": e.message,
                "outcome": self.outcome, "log_index": e.index, "issued": show_ms(self.issued_ms),
                "verified": self.verified, "problem": self.problem}

    @property
    def outcome(self) -> str:
        """In words: `accepted`, `duplicate`, `superseded`, `rejected: <reason>`, with `, late` when late."""
        e = self.entry
        text = f"rejected: {e.reason}" if e.verdict == "rejected" else e.verdict
        return f"{text}, late" if e.late else text


@dataclass
class ReceiptWait:
    """What `wait_for_receipts` found: a receipt per answered coordinate, and the coordinates still unanswered."""

    found: dict[Coordinate, Receipt] = field(default_factory=dict)
    missing: list[Coordinate] = field(default_factory=list)
    waited_s: float = 0.0


def _receipts_of(record: object, topic: str, province: str, keys: PublicKeys | None) -> list[Receipt]:
    value = getattr(record, "value", None) or b""
    headers = list(getattr(record, "headers", None) or [])
    offset = int(getattr(record, "offset", -1))
    kid = next((v.decode("ascii", "replace") for n, v in headers if n == HEADER_KID and v), "")
    verified: bool | None = None
    problem = ""
    try:
        if keys is not None:
            batch = open_receipts(topic, value, headers, keys, province)
            verified = True
        else:
            batch = read_batch(topic, value, province, kid)
    except ReceiptError as exc:
        if keys is None or exc.reason in ("malformed_receipts", "wrong_province"):
            return [Receipt(_unreadable(topic, offset, province), 0, offset, kid, False, f"{exc.reason}: {exc}")]
        verified, problem = False, f"{exc.reason}: {exc}"
        try:
            batch = read_batch(topic, value, province, kid)
        except ReceiptError as inner:
            return [Receipt(_unreadable(topic, offset, province), 0, offset, kid, False, f"{inner.reason}: {inner}")]
    return [Receipt(e, batch.issued_ms, offset, kid, verified, problem) for e in batch.receipts]


def _unreadable(topic: str, offset: int, province: str) -> InboundEntry:
    """A stand-in entry for a record of the receipts topic that holds no readable batch (shown as a problem)."""
    return InboundEntry(index=-1, prev="", topic=topic, partition=0, offset=offset, timestamp_ms=0, value_sha256="",
                        key=None, kid=None, province=province, kind=None, report_id=None, revision=None,
                        verdict="rejected", late=False, reason="unreadable_receipt", message="")


def read_receipts(target: Target, province: str, *, names: TopicNames | None = None,
                  public_keys: PublicKeys | None = None, since_ms: int | None = None, follow: bool = False,
                  timeout_s: float | None = None, poll_ms: int = 500) -> Iterator[Receipt]:
    """Every receipt of `province`, oldest first: from `since_ms` (epoch ms; default the beginning) to the end
    as it is now, or, with `follow`, on until `timeout_s` passes (None: until the caller stops iterating).

    Verifies each batch when `public_keys` is given. Raises AccessRefused (exit 77) when the principal may not
    read this province's receipts: the broker refuses every province but the topic's own.
    """
    names = names or TopicNames()
    topic = names.receipts(province)
    conn = connection(target)
    consumer = make_consumer(conn, client_id=f"cshub-receipts-{province}", isolation_level="read_committed")
    tp = TopicPartition(topic, 0)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        if not consumer.partitions_for_topic(topic):
            _not_visible(conn, topic, province)
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        start = None
        if since_ms is not None:
            found = consumer.offsets_for_times({tp: max(0, since_ms - SINCE_MARGIN_MS)})[tp]
            start = found.offset if found is not None else end
        if start is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        while follow or consumer.position(tp) < end:
            if deadline is not None and time.monotonic() > deadline:
                return
            for records in consumer.poll(timeout_ms=poll_ms).values():
                for record in records:
                    if not follow and record.offset >= end:
                        return
                    yield from _receipts_of(record, topic, province, public_keys)
    except KafkaError as exc:
        denial = refused(exc, conn.principal, conn.bootstrap, f"read {topic}")
        if denial is not None:
            raise denial from None
        raise ConnectorError(f"reading {topic} on {conn} failed: {type(exc).__name__}: {exc}",
                             "is the broker running, and the notary (`cshub notary`)?") from exc
    finally:
        consumer.close()


def _not_visible(conn: KafkaConnection, topic: str, province: str) -> None:
    """The broker does not show `topic` to this principal: refused (another province, deny by default), or the
    topic is missing (the province's own principal, or an admin, would see it)."""
    if conn.principal not in (None, province_principal(province)) and not conn.principal.startswith("cshub-admin"):
        denial = refused(TopicAuthorizationFailedError(), conn.principal, conn.bootstrap, f"read {topic}")
        if denial is not None:
            raise denial
    raise ConnectorError(f"topic {topic} does not exist on {conn} (or {conn.principal} may not read it)",
                         "create the hub's topics (`cshub topics create`), or check --topic-root and --province")


def wait_for_receipts(target: Target, province: str, coordinates: Iterable[Coordinate], *, timeout_s: float,
                      since_ms: int | None = None, names: TopicNames | None = None,
                      public_keys: PublicKeys | None = None) -> ReceiptWait:
    """The receipts of the given sent records, waiting at most `timeout_s` seconds for them.

    `since_ms` (epoch ms): when the records were sent, at the earliest; receipts are looked for from then on
    (default: the whole topic). Returns as soon as every coordinate has its receipt; what did not answer in
    time is in `missing`, in the order given.
    """
    wanted = list(dict.fromkeys(coordinates))
    result = ReceiptWait()
    started = time.monotonic()
    open_ = set(wanted)
    if open_:
        for receipt in read_receipts(target, province, names=names, public_keys=public_keys, since_ms=since_ms,
                                     follow=True, timeout_s=timeout_s, poll_ms=200):
            if receipt.coordinate in open_:
                result.found[receipt.coordinate] = receipt
                open_.discard(receipt.coordinate)
                if not open_:
                    break
    result.missing = [c for c in wanted if c in open_]
    result.waited_s = time.monotonic() - started
    return result

"""What the hub answered to the reports a province sent: from their signed receipts, else from the feedback.

The publisher knows where each acknowledged row landed (`PublishResult.coordinates`: topic, partition,
offset); the log service answers each of those records with a signed receipt on the province's receipts topic
(`connectors.receipts`): accepted, duplicate, superseded, late, or rejected with the reason.

- `wait_for_rows` (`cshub publish --wait`) pairs the two, waiting a bounded time.
- `report_outcomes` (the gateway's upload page) says, each time it is asked, what is known so far of each sent
  report: its receipt when the notary has answered; before that (or on a hub that runs no notary) the worker's
  feedback on `cshub.feedback.<province>` (回流: a rejection by the hub's rules, keyed by report id, or a late
  flag, keyed by `kind:period`); else that Kafka stored it. Everything is read as the province's own principal:
  the broker shows it its own receipts and feedback only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from connectors.kafka_io import make_consumer, partitions_of, read_to_end
from connectors.publisher import PublishResult
from connectors.receipts import Coordinate, Receipt, read_receipts, wait_for_receipts
from core.signing import PublicKeys
from schemas import codec
from schemas.beijing import show_ms
from schemas.errors import CodecError, CshubError
from schemas.kafka_config import Target
from schemas.topics import TopicNames

__all__ = ["Outcome", "Positions", "RowOutcome", "SentReport", "feedback_positions", "report_outcomes",
           "wait_for_rows"]

Positions = dict[int, int]
"""Partition -> offset of the province's feedback topic: where to start reading the answers to a send."""


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One sent row and the hub's receipt for it (None: no answer within the wait)."""

    row: int
    coordinate: Coordinate
    receipt: Receipt | None

    def as_json(self) -> dict[str, object]:
        """The row's outcome for a web page (the upload page): the row, where it landed, and the receipt or null."""
        topic, partition, offset = self.coordinate
        return {"row": self.row, "topic": topic, "partition": partition, "offset": offset,
                "receipt": None if self.receipt is None else self.receipt.as_json()}

    def text(self, waited_s: float) -> str:
        """`row 3  F-001 rev 2: rejected: bad_area (建筑面积…) [log #41]`, or why there is no answer."""
        where = f"{self.coordinate[0]} partition {self.coordinate[1]} offset {self.coordinate[2]}"
        if self.receipt is None:
            return f"row {self.row}: no answer from the hub within {waited_s:.0f} s ({where}); run `cshub feedback`" \
                   " later to see it"
        e = self.receipt.entry
        what = f"rejected: {e.reason} ({e.message})" if e.verdict == "rejected" else e.verdict
        if e.late:
            what += ", late"
        signature = {True: "", False: f" SIGNATURE FAILED: {self.receipt.problem}", None: ""}[self.receipt.verified]
        revision = "" if e.revision is None else f" rev {e.revision}"  # none when rejected before it was read
        return f"row {self.row}  {e.report_id or e.key}{revision}: {what} [log #{e.index}]{signature}"


def wait_for_rows(target: Target, result: PublishResult, *, timeout_s: float, since_ms: int,
                  names: TopicNames | None = None, public_keys: PublicKeys | None = None
                  ) -> tuple[list[RowOutcome], float]:
    """The outcome of every acknowledged row of `result` (in row order) and how long it waited, at most
    `timeout_s` seconds for receipts issued from `since_ms` (epoch ms, when publishing started) on."""
    rows = sorted(result.coordinates)
    started = time.monotonic()
    wait = wait_for_receipts(target, result.province, [result.coordinates[r] for r in rows], timeout_s=timeout_s,
                             since_ms=since_ms, names=names, public_keys=public_keys)
    outcomes = [RowOutcome(r, result.coordinates[r], wait.found.get(result.coordinates[r])) for r in rows]
    return outcomes, time.monotonic() - started


@dataclass(frozen=True, slots=True)
class SentReport:
    """One report a file row became: its row, id, revision, kind and period, and where Kafka stored it (None:
    not acknowledged)."""

    row: int
    report_id: str
    revision: int
    kind: str
    period: str
    coordinate: Coordinate | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What is known of one sent report: `state` is accepted, duplicate, superseded, rejected (a receipt's
    verdict, `late` added when late), late or rejected (feedback only), acknowledged (Kafka stored it, the hub
    has said nothing yet) or not stored; `detail` in words; `at` when the hub said it (Beijing time)."""

    row: int
    report_id: str
    revision: int
    state: str
    detail: str
    at: str = ""
    receipt: bool = False


def feedback_positions(conn: Target, names: TopicNames, province: str) -> Positions:
    """The end of the province's feedback topic now: the answers to what is sent next come after it."""
    consumer = make_consumer(conn, client_id=f"cshub-outcomes-{province}")
    try:
        parts = partitions_of(consumer, names.feedback(province))
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def _receipts(conn: Target, names: TopicNames, province: str, since_ms: int) -> dict[Coordinate, Receipt]:
    """The receipts issued since `since_ms`, by the coordinate they answer; {} on a hub without a notary."""
    try:
        return {r.coordinate: r for r in read_receipts(conn, province, names=names, since_ms=since_ms)}
    except CshubError:
        return {}  # no receipts topic (no notary in this hub): the feedback is all there is to say


def _feedback(conn: Target, names: TopicNames, province: str, since: Positions
              ) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """(rejections by report id, late flags by kind:period) written to the province's feedback since `since`."""
    rejected: dict[str, tuple[str, str]] = {}
    late: dict[str, tuple[str, str]] = {}
    consumer = make_consumer(conn, client_id=f"cshub-outcomes-{province}")
    try:
        parts = partitions_of(consumer, names.feedback(province))
        start = {tp: since.get(tp.partition, 0) for tp in parts}
        for record in read_to_end(consumer, parts, start=start, idle_timeout_s=10):
            try:
                value = codec.decode(record.value).value
            except CodecError:
                continue  # not the hub's feedback: nothing to say about a report
            when = show_ms(int(value["event_time"].timestamp() * 1000))
            if value["type"] == "REJECTED" and value.get("report_id"):
                rejected[value["report_id"]] = (f"{value['reason']}: {value['message']}", when)
            elif value["type"] == "LATE" and record.key:
                late[record.key.decode("utf-8", "replace")] = (value["message"], when)
    finally:
        consumer.close()
    return rejected, late


def report_outcomes(conn: Target, names: TopicNames, province: str, sent: list[SentReport], since: Positions,
                    since_ms: int) -> list[Outcome]:
    """Each sent report's outcome so far, in the order sent: its receipt (issued since `since_ms`), else the
    feedback written since `since`, else Kafka's acknowledgement."""
    receipts = _receipts(conn, names, province, since_ms)
    rejected, late = _feedback(conn, names, province, since)
    out: list[Outcome] = []
    for report in sent:
        head = (report.row, report.report_id, report.revision)
        receipt = receipts.get(report.coordinate) if report.coordinate else None
        if report.coordinate is None:
            out.append(Outcome(*head, "not stored", "the broker did not acknowledge it: send the file again"))
        elif receipt is not None:
            e = receipt.entry
            state = e.verdict + (", late" if e.late else "")
            detail = f"{e.reason}: {e.message}" if e.verdict == "rejected" else f"signed receipt, log entry #{e.index}"
            out.append(Outcome(*head, state, detail, show_ms(receipt.issued_ms), receipt=True))
        elif report.report_id in rejected:
            out.append(Outcome(*head, "rejected", *rejected[report.report_id]))
        elif f"{report.kind}:{report.period}" in late:
            out.append(Outcome(*head, "late", *late[f"{report.kind}:{report.period}"]))
        else:
            out.append(Outcome(*head, "acknowledged", "stored by Kafka; the hub has not answered yet"))
    return out

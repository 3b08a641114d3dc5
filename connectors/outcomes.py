"""What became of each report a province sent: Kafka's acknowledgement first, then the hub's word on it.

`report_outcomes` is the one function the upload page asks. Until the notary's signed receipts
(`cshub.receipts.<province>`, issue 11) land, the hub's word is what the worker writes to the province's
feedback topic (`cshub.feedback.<province>`, 回流): a rejection by the hub's rules (keyed by report id) or a
late flag (keyed by `kind:period`). A report the broker acknowledged and the hub has not objected to is
"acknowledged"; so this cannot yet tell accepted from duplicate or superseded: receipts will (switch the
body of `report_outcomes`, not its callers). Read as the province's own principal: the broker lets it read
its own feedback only.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.kafka_io import make_consumer, partitions_of, read_to_end
from schemas import codec
from schemas.beijing import show_ms
from schemas.errors import CodecError
from schemas.kafka_config import Target
from schemas.topics import TopicNames

Positions = dict[int, int]
"""Partition -> offset of the province's feedback topic: where to start reading the answers to a send."""


@dataclass(frozen=True, slots=True)
class SentReport:
    """One report a file row became: its row, id, revision, kind and period, and whether Kafka stored it."""

    row: int
    report_id: str
    revision: int
    kind: str
    period: str
    acknowledged: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """The state of one sent report, in words: `state` is acknowledged, rejected, late or not stored."""

    row: int
    report_id: str
    revision: int
    state: str
    detail: str
    at: str = ""


def feedback_positions(conn: Target, names: TopicNames, province: str) -> Positions:
    """The end of the province's feedback topic now: the answers to what is sent next come after it."""
    consumer = make_consumer(conn, client_id=f"cshub-outcomes-{province}")
    try:
        parts = partitions_of(consumer, names.feedback(province))
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def report_outcomes(conn: Target, names: TopicNames, province: str, sent: list[SentReport],
                    since: Positions) -> list[Outcome]:
    """Each sent report's outcome so far (the feedback written since `since`), in the order sent."""
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
    out: list[Outcome] = []
    for report in sent:
        if not report.acknowledged:
            out.append(Outcome(report.row, report.report_id, report.revision, "not stored",
                               "the broker did not acknowledge it: send the file again"))
        elif report.report_id in rejected:
            detail, when = rejected[report.report_id]
            out.append(Outcome(report.row, report.report_id, report.revision, "rejected", detail, when))
        elif f"{report.kind}:{report.period}" in late:
            detail, when = late[f"{report.kind}:{report.period}"]
            out.append(Outcome(report.row, report.report_id, report.revision, "late", detail, when))
        else:
            out.append(Outcome(report.row, report.report_id, report.revision, "acknowledged",
                               "stored by Kafka; the hub has raised no objection"))
    return out


__all__ = ["Outcome", "Positions", "SentReport", "feedback_positions", "report_outcomes"]

"""What the hub answered to the rows a publisher just sent (`cshub publish --wait`), from their signed receipts.

The publisher knows where each acknowledged row landed (`PublishResult.coordinates`: topic, partition,
offset); the log service answers each of those records with a receipt on the province's receipts topic
(`connectors.receipts`). This module pairs the two, waiting a bounded time, so a clerk reads per report:
accepted, duplicate, superseded, late, or rejected with the reason; and which rows got no answer in time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from connectors.publisher import PublishResult
from connectors.receipts import Coordinate, Receipt, wait_for_receipts
from core.signing import PublicKeys
from schemas.kafka_config import Target
from schemas.topics import TopicNames

__all__ = ["RowOutcome", "wait_for_rows"]


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
        return f"row {self.row}  {e.report_id or e.key} rev {e.revision}: {what} [log #{e.index}]{signature}"


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

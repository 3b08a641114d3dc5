"""What to publish: rows that changed since last time, the notifications the change implies, and
the deadline ledger's rows at a given time.

`PublishedTables` remembers the last row of each (table, province) and compares values only
(not `offsets`), so a batch that changed nothing publishes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.hub import NATIONAL, Hub
from core.national import Part, national_row
from core.notify import Notification, notification, row_changes
from core.obligations import Status, ledger
from core.rows import Row, build_row, row_values
from schemas.beijing import show_minute

RowKey = tuple[str, str]  # (table, province)


class PublishedTables:
    """The last published rows; `changes` diffs new rows against them and remembers the new ones."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, Row] = {}

    def changes(self, rows: dict[RowKey, Row], event_ms: int) -> tuple[dict[RowKey, Row], list[Notification]]:
        """Rows whose values differ from the last published ones, and the notifications of the difference."""
        changed: dict[RowKey, Row] = {}
        notes: list[Notification] = []
        for key, row in rows.items():
            old = self.rows.get(key)
            if old is not None and row_values(old) == row_values(row):
                continue
            changed[key] = row
            notes.extend(row_changes(key[0], old, row, event_ms))
            self.rows[key] = row
        return changed, notes


def obligation_counts(hub: Hub, now_ms: int, provinces: Iterable[str] | None = None,
                      ) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str, str], Status]]:
    """Per province (default: every province of the hub) its obligation counts at `now_ms`, and every
    obligation's status: the totals an `obligations` row is built from."""
    provinces = tuple(hub.totals) if provinces is None else tuple(provinces)
    statuses = ledger(tuple(hub.rules.values()), provinces, hub.received, now_ms)
    per: dict[str, dict[str, int]] = {p: {"owed": 0, "on_time": 0, "late": 0, "missing": 0, "pending": 0}
                                      for p in provinces}
    for (province, _kind, _period), status in statuses.items():
        counts = per[province]
        counts["owed"] += 1
        counts[status] += 1
    return per, statuses


def obligation_rows(hub: Hub, now_ms: int) -> tuple[dict[RowKey, Row], dict[tuple[str, str, str], Status]]:
    """The `obligations` rows (each province and 000000) at `now_ms`, and every obligation's status."""
    per, statuses = obligation_counts(hub, now_ms)
    rows = {("obligations", p): build_row("obligations", p, t, hub.config, hub.positions, now_ms)
            for p, t in per.items()}
    rows[("obligations", NATIONAL)] = national_row(
        "obligations", [Part(t, hub.positions, now_ms) for t in per.values()], hub.config)
    return rows, statuses


def newly_missing(before: dict[tuple[str, str, str], Status] | None, after: dict[tuple[str, str, str], Status],
                  hub: Hub, now_ms: int, since_ms: int | None = None) -> list[Notification]:
    """OBLIGATION_MISSED for each obligation that is missing now and was not before, oldest due first.

    With no `before` (the first look after a start) every missing obligation is news: one already
    overdue when the worker first started must be announced too. The ids are deterministic
    (`OBLIGATION_MISSED:<province>:<kind>:<period>:missed`), so a restart repeats an id, not an event;
    consumers keep one per id. `since_ms` (optional) keeps only those due at or after it.
    """
    out = []
    for key, status in sorted(after.items(), key=lambda item: (hub.rules[item[0][1]].due_ms(item[0][2]), item[0])):
        if status != "missing":
            continue
        province, kind, period = key
        if before is not None and before.get(key) == "missing":
            continue
        if since_ms is not None and hub.rules[kind].due_ms(period) < since_ms:
            continue
        due = hub.rules[kind].due_ms(period)
        out.append(notification(
            "OBLIGATION_MISSED", province, f"{kind}:{period}",
            f"{province} has not reported {kind} for {period}; it was due by {show_minute(due)} Beijing time", due,
            table="obligations", target=str(due), id_suffix="missed"))
    return out

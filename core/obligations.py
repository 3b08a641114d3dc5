"""The deadline ledger: which report kind each province owes for which period, and by when.

The registry is a rule per kind (`ObligationRule`): every province owes one report of the kind for
each monthly period from `first_period` on, due by the end of day `due_day` (China Standard Time,
UTC+8) of the following month. `now_ms` is always an argument: the worker passes its wall clock,
the auditor the time it audits at, tests any time they like.

Whether a period is met depends only on the earliest timestamp (Kafka record timestamp of the
inbound record, ms) of a valid report of that kind and period: that is a min, so duplicates and
redeliveries cannot change it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from schemas.beijing import BEIJING

Status = Literal["on_time", "late", "missing", "pending"]
CST = BEIJING


@dataclass(frozen=True, slots=True)
class ObligationRule:
    """Each province owes one `kind` report per month from `first_period` (YYYY-MM), due on `due_day`."""

    kind: str
    due_day: int = 10
    first_period: str = "2026-01"

    def due_ms(self, period: str) -> int:
        """End of day `due_day` (CST) of the month after `period`, as epoch ms (the first late instant)."""
        year, month = _parse_period(period)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        due = datetime(year, month, 1, tzinfo=CST) + timedelta(days=self.due_day)
        return int(due.timestamp() * 1000)


def parse_rules(text: str) -> tuple[ObligationRule, ...]:
    """Rules from CSV text with columns kind,due_day,first_period (schemas/data/obligations.csv)."""
    rules = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            day = int(row["due_day"])
            _parse_period(row["first_period"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"obligations line {number}: need kind,due_day,first_period; got {row}: {exc}") from exc
        if not 1 <= day <= 28:
            raise ValueError(f"obligations line {number}: due_day must be 1..28, got {day}")
        rules.append(ObligationRule(row["kind"].strip(), day, row["first_period"].strip()))
    return tuple(rules)


def _parse_period(period: str) -> tuple[int, int]:
    if len(period) != 7 or period[4] != "-":
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    year, month = int(period[:4]), int(period[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return year, month


def period_of(ms: int) -> str:
    """The CST month (YYYY-MM) an instant falls in."""
    d = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(CST)
    return f"{d.year:04d}-{d.month:02d}"


def owed_periods(rule: ObligationRule, now_ms: int) -> list[str]:
    """Periods from the rule's first period up to the month before `now_ms` (a month is owed once over)."""
    current = period_of(now_ms)
    year, month = _parse_period(rule.first_period)
    out = []
    while f"{year:04d}-{month:02d}" < current:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def obligation_status(due_ms: int, received_ms: int | None, now_ms: int) -> Status:
    """on_time / late when a report arrived, else missing once the due time has passed, else pending."""
    if received_ms is not None:
        return "on_time" if received_ms < due_ms else "late"
    return "missing" if now_ms >= due_ms else "pending"


def ledger(rules: tuple[ObligationRule, ...], provinces: tuple[str, ...],
           received: dict[tuple[str, str, str], int], now_ms: int) -> dict[tuple[str, str, str], Status]:
    """Status of every obligation (province, kind, period) owed at `now_ms`.

    `received` maps (province, kind, period) to the earliest timestamp (ms) of a valid report.
    """
    out: dict[tuple[str, str, str], Status] = {}
    for rule in rules:
        for period in owed_periods(rule, now_ms):
            due = rule.due_ms(period)
            for province in provinces:
                key = (province, rule.kind, period)
                out[key] = obligation_status(due, received.get(key), now_ms)
    return out


@dataclass(slots=True)
class KindRecord:
    """One province's reporting record for one kind: counts by status and the periods late or missing."""

    province: str
    kind: str
    owed: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0
    late_periods: list[str] = field(default_factory=list)
    missing_periods: list[str] = field(default_factory=list)

    def worst_first(self) -> tuple[int, int, int, str, str]:
        return (-self.missing, -self.late, self.on_time, self.province, self.kind)


def summary(statuses: dict[tuple[str, str, str], Status]) -> list[KindRecord]:
    """Per (province, kind) reporting records, worst first (most missing, then most late, then fewest on
    time): the obligations panel."""
    per: dict[tuple[str, str], KindRecord] = {}
    for (province, kind, period), status in sorted(statuses.items()):
        entry = per.setdefault((province, kind), KindRecord(province, kind))
        entry.owed += 1
        setattr(entry, status, getattr(entry, status) + 1)
        if status == "late":
            entry.late_periods.append(period)
        elif status == "missing":
            entry.missing_periods.append(period)
    return sorted(per.values(), key=KindRecord.worst_first)

"""History and point-in-time tables, from the inputs, by the same fold as the live tables (`core.Hub`).

Two questions, two orders of the same validated records:

- "as of period P" (by reporting period): the tables made of every report whose period is P or
  earlier, each at its latest revision among those. Records are folded in (period, topic, partition,
  offset) order and the rows are read at the end of each period, so one pass gives the whole history
  2021-01 ... now.
- "as of moment T" (by Kafka time): the tables made of every record whose timestamp is at or before T,
  as the worker would have had them then (and the deadline ledger at T).

An input is (kind, decoded record, Kafka timestamp ms, topic, partition, offset): what `Hub.apply` takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.config import HubConfig
from core.hub import Hub
from core.obligations import ObligationRule
from core.rows import Row
from core.tables import obligation_rows
from schemas.tables import REPORT_TABLES

Input = tuple[str, dict[str, Any], int, str, int, int]  # kind, record, ts_ms, topic, partition, offset
RowKey = tuple[str, str]

FIRST_PERIOD = "2021-01"
"""The first month of the 14th Five-Year Plan: where history starts."""


def periods_between(first: str, last: str) -> list[str]:
    """Every YYYY-MM from `first` to `last`, both included ([] when last < first)."""
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def history(inputs: Iterable[Input], config: HubConfig, periods: Sequence[str],
            tables: tuple[str, ...] = REPORT_TABLES, provinces: Iterable[str] | None = None,
            ) -> dict[str, dict[RowKey, Row]]:
    """Period -> the rows (table, province) as of that period, for each of `periods` (sorted ascending).

    Reports of a period before the first one asked for count from the first one on. The national row
    (000000) is always included; `provinces` limits the province rows (default: all).
    """
    ordered = sorted(inputs, key=lambda i: (str(i[1]["period"]), i[3], i[4], i[5]))
    hub = Hub(config)
    wanted = list(config.provinces if provinces is None else provinces)
    out: dict[str, dict[RowKey, Row]] = {}
    i = 0
    for period in sorted(periods):
        while i < len(ordered) and str(ordered[i][1]["period"]) <= period:
            hub.apply(*ordered[i])
            i += 1
        out[period] = hub.rows(wanted, tables)
    return out


def as_of_moment(inputs: Iterable[Input], config: HubConfig, until_ms: int,
                 rules: tuple[ObligationRule, ...] = ()) -> tuple[Hub, dict[RowKey, Row]]:
    """The hub and its rows (report tables, and obligations at `until_ms` when `rules` are given) from the
    inputs whose Kafka timestamp is at or before `until_ms`."""
    hub = Hub(config, rules)
    for item in inputs:
        if item[2] <= until_ms:
            hub.apply(*item)
    rows = hub.rows()
    if rules:
        rows.update(obligation_rows(hub, until_ms)[0])
    return hub, rows

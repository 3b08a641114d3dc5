"""History by reporting period and tables as of a moment: the same fold as the live tables."""

from __future__ import annotations

import datetime as dt

from connectors.auditor import AuditSetup
from connectors.demo import DemoFeed
from core import KIND_OF_SCHEMA, problems, row_values
from core.history import FIRST_PERIOD, as_of_moment, history, periods_between
from core.obligations import summary
from core.tables import obligation_counts
from schemas import codec

SCHEMA = {"facility": "cshub.FacilityReport", "funding": "cshub.FundingReport", "policy": "cshub.PolicyReport"}
NOW_MS = int(dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC).timestamp() * 1000)


def _inputs():
    feed = DemoFeed(seed=3, months=24, province_codes=["320000", "440000", "650000", "110000"],
                    end_period="2026-11")
    setup = AuditSetup.default()
    provinces = frozenset(setup.provinces)
    out, offsets = [], {}
    for _period, sends in feed.months():
        for send in sends:
            if send.raw is not None or send.record is None or send.at_ms > NOW_MS:
                continue
            topic = f"cshub.validated.{send.kind}"
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            decoded = codec.decode(codec.encode(SCHEMA[send.kind], send.record))
            if not problems(send.province, send.kind, decoded.name, decoded.value, provinces):
                out.append((KIND_OF_SCHEMA[decoded.name], decoded.value, send.at_ms, topic, 0, offset))
    return feed, setup, out


FEED, SETUP, INPUTS = _inputs()


def test_periods_run_from_the_plan_start_to_now() -> None:
    months = periods_between(FIRST_PERIOD, "2026-11")
    assert months[0] == "2021-01" and months[-1] == "2026-11" and len(months) == 71
    assert periods_between("2026-12", "2026-11") == []


def test_history_by_period_ends_at_the_live_tables_and_moves_month_by_month() -> None:
    periods = periods_between(FIRST_PERIOD, "2026-11")
    config = SETUP.hub().config
    rows = history(INPUTS, config, periods)
    live = SETUP.hub()
    for item in INPUTS:
        live.apply(*item)
    assert {k: row_values(v) for k, v in rows["2026-11"].items()} == {
        k: row_values(v) for k, v in live.rows().items()}
    assert rows["2021-01"][("coverage", "000000")]["urban_covered"] == 0  # before the demo's first period
    covered = [rows[p][("coverage", "000000")]["urban_covered"] for p in periods_between("2024-12", "2026-11")]
    assert covered == sorted(covered) and covered[-1] > covered[0]  # facilities only ever come into service
    disbursed = [rows[p][("funding", "320000")]["disbursed_yuan"] for p in periods_between("2024-12", "2026-11")]
    assert len(set(disbursed)) >= 12


def test_as_of_a_moment_takes_the_inputs_up_to_it_and_the_ledger_then() -> None:
    rules = SETUP.hub().rules
    moment = int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp() * 1000)
    _hub, rows = as_of_moment(INPUTS, SETUP.hub().config, moment, tuple(rules.values()))
    expected = SETUP.hub()
    for item in INPUTS:
        if item[2] <= moment:
            expected.apply(*item)
    assert rows[("coverage", "320000")] == expected.rows(["320000"], ("coverage",))[("coverage", "320000")]
    assert rows[("obligations", "320000")]["owed"] == 3 * 5  # 2026-01 .. 2026-05 owed on 1 June
    assert max(h[2] for h in INPUTS if h[2] <= moment) <= moment < max(h[2] for h in INPUTS)


def test_obligations_summary_puts_the_worst_first() -> None:
    hub = SETUP.hub()
    for item in INPUTS:
        hub.apply(*item)
    _per, statuses = obligation_counts(hub, NOW_MS, ["320000", "440000", "650000", "110000"])
    records = summary(statuses)
    assert len(records) == 4 * 3
    first = records[0]
    assert first.missing or first.late
    assert first.province in set(FEED.skipped) | {FEED.late_province}
    late = [r for r in records if r.province == FEED.late_province]
    assert all(r.late == 10 and len(r.late_periods) == 10 for r in late)
    keys = [r.worst_first() for r in records]
    assert keys == sorted(keys)

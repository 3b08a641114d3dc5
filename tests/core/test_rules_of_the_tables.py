"""Deadlines, notifications, validation and row bytes: pure functions, no broker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core import (
    BurstDetector,
    Hub,
    HubConfig,
    ObligationRule,
    PublishedTables,
    build_row,
    encode_row,
    newly_missing,
    obligation_rows,
    obligation_rules,
    obligation_status,
    owed_periods,
    problems,
    rejection,
)
from schemas import codec, reference, samples

CONFIG = HubConfig.from_reference()
PROVINCES = tuple(reference.provinces())


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_due_date_is_end_of_due_day_china_time() -> None:
    rule = ObligationRule("facility", due_day=10, first_period="2026-01")
    assert rule.due_ms("2026-03") == ms(2026, 4, 10, 16)  # 2026-04-11 00:00 CST
    assert rule.due_ms("2026-12") == ms(2027, 1, 10, 16)


@pytest.mark.parametrize(("received", "now", "status"), [
    (ms(2026, 4, 1), ms(2026, 4, 2), "on_time"),
    (ms(2026, 4, 12), ms(2026, 4, 12), "late"),
    (None, ms(2026, 4, 5), "pending"),
    (None, ms(2026, 4, 11), "missing"),
])
def test_obligation_status(received: int | None, now: int, status: str) -> None:
    assert obligation_status(ObligationRule("facility").due_ms("2026-03"), received, now) == status


def test_owed_periods_stop_before_the_current_month() -> None:
    rule = ObligationRule("policy", first_period="2026-09")
    assert owed_periods(rule, ms(2026, 11, 29)) == ["2026-09", "2026-10"]


def test_rules_file_parses_and_rejects_bad_rows() -> None:
    assert obligation_rules("kind,due_day,first_period\nfacility,5,2026-02\n") == (
        ObligationRule("facility", 5, "2026-02"),)
    with pytest.raises(ValueError, match=r"due_day must be 1\.\.28"):
        obligation_rules("kind,due_day,first_period\nfacility,31,2026-02\n")


def test_ledger_rows_late_flag_and_missed_notifications() -> None:
    rules = (ObligationRule("funding", 10, "2026-09"),)
    hub = Hub(CONFIG, rules=rules)
    late = hub.apply("funding", samples.funding(period="2026-09"), ms(2026, 10, 20), "v", 0, 0)
    assert [n["type"] for n in late] == ["OBLIGATION_MET_LATE"]
    again = hub.apply("funding", samples.funding(period="2026-09", revision=5), ms(2026, 10, 21), "v", 0, 1)
    assert again == []  # the period was already received
    now = ms(2026, 11, 29)
    rows, statuses = obligation_rows(hub, now)
    sichuan = rows[("obligations", "510000")]
    assert (sichuan["owed"], sichuan["late"], sichuan["missing"], sichuan["met"]) == (2, 1, 1, False)
    national = rows[("obligations", "000000")]
    assert national["owed"] == 2 * len(PROVINCES)
    assert national["missing"] == 2 * len(PROVINCES) - 1
    missed = newly_missing(None, statuses, hub, now, since_ms=ms(2026, 11, 1))
    assert {n["subject"] for n in missed} == {"funding:2026-10"}  # due 2026-11-10, after since
    assert newly_missing(statuses, statuses, hub, now, 0) == []


def test_missed_obligations_are_announced_on_a_first_start_oldest_first_in_beijing_time() -> None:
    rules = (ObligationRule("funding", 10, "2026-08"),)
    hub = Hub(CONFIG, rules=rules)
    hub.apply("funding", samples.funding(province="510000", period="2026-09"), ms(2026, 10, 5), "v", 0, 0)
    now = ms(2026, 11, 29)
    _rows, statuses = obligation_rows(hub, now)
    first = newly_missing(None, statuses, hub, now)  # the worker's first look: everything overdue is news
    subjects = [(n["province"], n["subject"]) for n in first]
    assert ("510000", "funding:2026-08") in subjects and ("510000", "funding:2026-09") not in subjects
    assert len(first) == 3 * len(PROVINCES) - 1  # 2026-08, -09, -10 overdue; Sichuan sent -09
    assert [n["event_time"] for n in first] == sorted(n["event_time"] for n in first)  # in time order
    assert first[0]["subject"] == "funding:2026-08"
    assert "2026-09-11 00:00 Beijing time" in first[0]["message"]  # due by the end of 10 September, CST
    again = newly_missing(None, statuses, hub, now)  # a restart repeats the same ids, not new events
    assert [n["notification_id"] for n in again] == [n["notification_id"] for n in first]


def test_an_anomaly_repeated_by_later_revisions_keeps_one_id() -> None:
    hub = Hub(CONFIG)
    over = samples.funding(allocated_yuan=Decimal("1.00"), disbursed_yuan=Decimal("1.01"))
    first = hub.apply("funding", over, 1, "v", 0, 0)
    second = hub.apply("funding", dict(over, revision=3, disbursed_yuan=Decimal("1.02")), 2, "v", 0, 1)
    assert [n["type"] for n in first] == [n["type"] for n in second] == ["ANOMALY_DISBURSED_EXCEEDS_ALLOCATED"]
    assert first[0]["notification_id"] == second[0]["notification_id"]


def test_no_data_is_not_news_but_the_first_data_is_either_way() -> None:
    hub = Hub(CONFIG)
    published = PublishedTables()
    _, notes = published.changes(hub.rows(["440000"], ("coverage",)), 0)
    assert notes == []  # empty tables after a start: nobody is "at risk" for not having reported
    policy = samples.policy(province="440000")
    hub.apply("policy", policy, 1, "v", 0, 0)  # denominators, but no facility yet: 0 % covered
    _, notes = published.changes(hub.rows(["440000"], ("coverage",)), 1)
    assert ("TARGET_AT_RISK", "coverage.urban_met", "440000") in {(n["type"], n["subject"], n["province"])
                                                                for n in notes}


def test_target_notifications_fire_on_the_change_only() -> None:
    hub = Hub(CONFIG)
    published = PublishedTables()
    good = samples.policy(province="440000")
    good["indicators"] = dict(good["indicators"], special_difficulty_elderly_visited=51234)
    hub.apply("policy", good, 1, "v", 0, 0)
    _, notes = published.changes(hub.rows(["440000"], ("services",)), 1)
    # First sight: met or at risk, either way (the sample's big-city care is below 80 %).
    assert [(n["type"], n["subject"], n["province"]) for n in notes] == [
        ("TARGET_AT_RISK", "services.big_city_care_met", "440000"), ("TARGET_MET", "services.visit_met", "440000"),
        ("TARGET_AT_RISK", "services.big_city_care_met", "000000"), ("TARGET_MET", "services.visit_met", "000000")]
    hub.apply("policy", dict(good, revision=2, produced_at=good["produced_at"]), 2, "v", 0, 1)
    _, notes = published.changes(hub.rows(["440000"], ("services",)), 2)
    assert notes == []
    worse = dict(good, revision=3, indicators=dict(good["indicators"], special_difficulty_elderly_visited=1))
    hub.apply("policy", worse, 3, "v", 0, 2)
    _, notes = published.changes(hub.rows(["440000"], ("services",)), 3)
    assert [(n["type"], n["province"]) for n in notes] == [("TARGET_AT_RISK", "440000"), ("TARGET_AT_RISK", "000000")]


def test_policy_item_completed_and_anomalies() -> None:
    hub = Hub(CONFIG)
    published = PublishedTables()
    published.changes(hub.rows(["440000"], ("policy",)), 0)
    hub.apply("policy", samples.policy(), 1, "v", 0, 0)
    _, notes = published.changes(hub.rows(["440000"], ("policy",)), 1)
    assert ("POLICY_ITEM_COMPLETED", "PROVINCIAL_PLAN_ISSUED") in {(n["type"], n["subject"]) for n in notes}
    small = samples.facility(status="COMPLETED", households=1000, floor_area_m2=Decimal("299.99"))
    assert [n["type"] for n in hub.apply("facility", small, 2, "v", 0, 1)] == ["ANOMALY_AREA_BELOW_STANDARD"]
    over = samples.funding(allocated_yuan=Decimal("1.00"), disbursed_yuan=Decimal("1.01"))
    assert [n["type"] for n in hub.apply("funding", over, 3, "v", 0, 2)] == ["ANOMALY_DISBURSED_EXCEEDS_ALLOCATED"]
    assert hub.apply("funding", over, 4, "v", 0, 3) == []  # redelivery: no second notification


def test_burst_of_rejections_notifies_once_per_window() -> None:
    burst = BurstDetector(threshold=3, window_ms=1000)
    fired = [burst.observe("110000", t) for t in (0, 10, 20, 30, 1500)]
    assert [f is not None for f in fired] == [False, False, True, False, False]


def test_validation_checks_province_against_topic_then_business_rules() -> None:
    ok = samples.facility()
    assert problems("320000", "facility", "cshub.FacilityReport", ok, PROVINCES) == []
    assert problems("110000", "facility", "cshub.FacilityReport", ok, PROVINCES)[0].reason == "wrong_province"
    assert problems("320000", "funding", "cshub.FacilityReport", ok, PROVINCES)[0].reason == "wrong_kind"
    bad = samples.facility(households=-1)
    assert [p.reason for p in problems("320000", "facility", "cshub.FacilityReport", bad, PROVINCES)] == [
        "negative_households"]
    rec = rejection(b"\x00junk", "cshub.in.320000.facility", 2, 17, b"k", "bad_magic", "not avro", "320000", 5)
    assert codec.decode(codec.encode("cshub.Rejection", rec)).value["original"] == b"\x00junk"


def test_rows_encode_deterministically_and_round_trip() -> None:
    hub = Hub(CONFIG)
    hub.apply("funding", samples.funding(), 1, "v.funding", 0, 3)
    hub.apply("facility", samples.facility(), 1, "v.facility", 1, 4)
    hub.apply("policy", samples.policy(), 1, "v.policy", 2, 5)
    for (table, _province), row in hub.rows().items():
        data = encode_row(table, row)
        assert data == encode_row(table, build_row(table, row["province"], hub.province_totals(table, row["province"])
                                                   if row["province"] != "000000" else _national(hub, table),
                                                   CONFIG, hub.positions))
        assert codec.decode(data).value == row
    rows, _ = obligation_rows(hub, ms(2026, 11, 29))
    for (table, _p), row in rows.items():
        back = codec.decode(encode_row(table, row)).value
        assert back["owed"] == row["owed"]


def _national(hub: Hub, table: str) -> dict[str, int]:
    from core.totals import sum_totals
    return sum_totals([hub.province_totals(table, p) for p in hub.totals])

"""Reconciliation rules, one test each: the row flag, the notification on the change, and the cap at 100 %."""

from __future__ import annotations

from decimal import Decimal

from core import Hub, HubConfig, PublishedTables
from core.reconcile import RULES, national_sum_breaches
from schemas import codec, samples

CONFIG = HubConfig.from_reference()


def _policy(province: str, urban: int, rural: int, revision: int = 1) -> dict:
    p = samples.policy(province=province, report_id=f"P-{province}", revision=revision)
    p["indicators"] = dict(p["indicators"], urban_communities=urban, rural_communities=rural)
    return p


def _facilities(hub: Hub, province: str, n: int, area_type: str = "URBAN", start: int = 0) -> None:
    for i in range(start, start + n):
        county = province[:2] + "0102"
        hub.apply("facility", samples.facility(
            report_id=f"F-{province}-{i}", province=province, county_code=county,
            community_code=f"{county}{i:06d}", area_type=area_type, status="OPERATING",
            households=1000, floor_area_m2=Decimal("400.00")), 1, "v", 0, i)


def test_every_rule_has_a_code_a_table_and_a_statement() -> None:
    assert len({r.code for r in RULES}) == len(RULES) == 4
    assert all(r.table and r.statement for r in RULES)


def test_coverage_over_100_percent_is_capped_flagged_notified_and_does_not_inflate_the_national_row() -> None:
    hub = Hub(CONFIG)
    published = PublishedTables()
    hub.apply("policy", _policy("320000", urban=78, rural=500), 1, "v", 0, 0)
    hub.apply("policy", _policy("440000", urban=100, rural=500), 1, "v", 0, 1)
    _facilities(hub, "320000", 82)  # the README samples: 82 covered of 78
    _facilities(hub, "440000", 50)
    rows = hub.rows(["320000", "440000"], ("coverage",))
    jiangsu = rows[("coverage", "320000")]
    assert (jiangsu["urban_covered"], jiangsu["urban_communities"], jiangsu["urban_excess"]) == (82, 78, 4)
    assert jiangsu["urban_coverage"] == Decimal("1.0000")  # capped, never 105.1 %
    assert jiangsu["urban_met"] is True
    assert "URBAN_COVERED_WITHIN_COMMUNITIES" in jiangsu["breaches"]  # the breach shown, not hidden
    national = rows[("coverage", "000000")]
    assert national["urban_coverage"] == Decimal("0.7191")  # (78 + 50) / (78 + 100), not (82 + 50) / 178
    assert national["urban_excess"] == 4 and national["urban_covered"] == 132
    _, notes = published.changes(rows, 5)
    breaches = [(n["province"], n["subject"]) for n in notes if n["type"] == "RECONCILIATION_BREACH"]
    assert ("320000", "coverage.URBAN_COVERED_WITHIN_COMMUNITIES") in breaches
    assert ("440000", "coverage.URBAN_COVERED_WITHIN_COMMUNITIES") not in breaches
    jiangsu_note = next(n for n in notes if n["subject"] == "coverage.URBAN_COVERED_WITHIN_COMMUNITIES"
                        and n["province"] == "320000")
    assert "urban_covered=82" in jiangsu_note["message"] and "urban_excess=4" in jiangsu_note["message"]
    codec.decode(codec.encode("cshub.Notification", jiangsu_note))  # the new type is in the contract
    # On the change only: the same breach again is not news; fixed denominators clear the flag.
    _, again = published.changes(hub.rows(["320000", "440000"], ("coverage",)), 6)
    assert again == []
    hub.apply("policy", _policy("320000", urban=90, rural=500, revision=2), 7, "v", 0, 200)
    fixed = hub.rows(["320000"], ("coverage",))[("coverage", "320000")]
    assert fixed["breaches"] == [] and fixed["urban_excess"] == 0 and fixed["urban_coverage"] == Decimal("0.9111")


def test_disbursed_over_allocated_is_a_row_flag_and_a_notification() -> None:
    hub = Hub(CONFIG)
    published = PublishedTables()
    published.changes(hub.rows(["510000"], ("funding",)), 0)
    ok = samples.funding(province="510000", report_id="M-1", allocated_yuan=Decimal("100.00"),
                         disbursed_yuan=Decimal("50.00"))
    hub.apply("funding", ok, 1, "v", 0, 0)
    row = hub.rows(["510000"], ("funding",))[("funding", "510000")]
    assert row["breaches"] == []
    over = dict(ok, report_id="M-2", disbursed_yuan=Decimal("100.01"))
    hub.apply("funding", over, 2, "v", 0, 1)
    rows = hub.rows(["510000"], ("funding",))
    assert rows[("funding", "510000")]["breaches"] == ["DISBURSED_WITHIN_ALLOCATED"]
    assert rows[("funding", "000000")]["breaches"] == ["DISBURSED_WITHIN_ALLOCATED"]
    _, notes = published.changes(rows, 2)
    assert [(n["type"], n["province"]) for n in notes if n["type"] == "RECONCILIATION_BREACH"] == [
        ("RECONCILIATION_BREACH", "510000"), ("RECONCILIATION_BREACH", "000000")]


def test_facilities_beyond_the_denominators_of_the_policy_report_are_a_breach() -> None:
    hub = Hub(CONFIG)
    hub.apply("policy", _policy("110000", urban=10, rural=2), 1, "v", 0, 0)
    _facilities(hub, "110000", 10)
    assert "FACILITIES_WITHIN_DENOMINATORS" not in hub.rows(["110000"], ("coverage",))[("coverage", "110000")][
        "breaches"]
    _facilities(hub, "110000", 3, area_type="RURAL", start=10)  # 13 facilities, 12 communities
    row = hub.rows(["110000"], ("coverage",))[("coverage", "110000")]
    assert "FACILITIES_WITHIN_DENOMINATORS" in row["breaches"]
    assert "RURAL_COVERED_WITHIN_COMMUNITIES" in row["breaches"]


def test_the_national_row_must_equal_the_sum_of_the_published_provinces() -> None:
    hub = Hub(CONFIG)
    hub.apply("funding", samples.funding(province="510000", report_id="M-1"), 1, "v", 0, 0)
    hub.apply("funding", samples.funding(province="320000", report_id="M-2"), 1, "v", 0, 1)
    rows = {p: r for (_t, p), r in hub.rows(tables=("funding",)).items()}
    assert national_sum_breaches("funding", rows) == []
    stale = dict(rows)
    stale["320000"] = dict(rows["320000"], allocated_yuan=rows["320000"]["allocated_yuan"] - Decimal("0.01"))
    found = national_sum_breaches("funding", stale, 9)
    assert [n["subject"] for n in found] == ["funding.allocated_yuan"]
    assert found[0]["type"] == "RECONCILIATION_BREACH" and found[0]["province"] == "000000"
